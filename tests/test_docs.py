"""The docs show recorded runs: every experiment notebook has an executed cpu copy beside the code, made in the
same run as its recorded results, with a figure and no error, or it is listed in PENDING.txt with the reason it
has none (its page then says so at the top). (`make docs` renders them; this is its cheap half.)"""
import json, re, shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import docs  # noqa: E402
from privbook.cli import experiment_notebooks  # noqa: E402

NBS = [p for p in experiment_notebooks(ROOT/'nbs') if p.stem != '90_results']


@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_recorded_run_backs_the_page(nb):
    rec = docs.RECORDED/'notebooks'/nb.name
    if nb.stem in docs.pending():
        assert not rec.exists(), f'{nb.name}: recorded, yet still listed in PENDING.txt'
        return
    assert rec.exists(), f'{nb.name}: no recorded run (privbook run {nb.stem} --scale cpu --record) and not listed in PENDING.txt'
    executed = json.loads(rec.read_text())
    facts = docs.recorded_run_facts(nb.stem, rec)  # raises when the notebook and its results come from different runs
    assert facts['rows'] > 0 and all(not r.endswith('+dirty') for r in facts['revisions'])
    outs = [o for c in executed['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]
    assert not any(o.get('output_type') == 'error' for o in outs), f'{nb.name}: the recorded run has an error output'
    assert any('image/png' in o.get('data', {}) for o in outs), f'{nb.name}: the recorded run shows no figure'


def test_pending_names_real_notebooks():
    names = {p.stem for p in NBS}
    assert set(docs.pending()) <= names, f'PENDING.txt names notebooks that do not exist: {set(docs.pending()) - names}'


def test_pending_page_says_so(tmp_path, monkeypatch):
    "A notebook without a recorded run is executed at smoke scale and its page begins by saying it is not a result."
    src = tmp_path/'nbs'
    src.mkdir()
    nb = dict(nbformat=4, nbformat_minor=5, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')), cells=[
        dict(cell_type='markdown', id='t', metadata={}, source='# Tiny'),
        dict(cell_type='code', id='c', metadata={}, execution_count=None, outputs=[], source='print(1 + 1)')])
    (src/'99_tiny.ipynb').write_text(json.dumps(nb))
    rec = tmp_path/'cpu'
    (rec/'notebooks').mkdir(parents=True)
    (rec/'notebooks'/'PENDING.txt').write_text('# notebook: why\n99_tiny: it needs a GPU.\n')
    monkeypatch.setattr(docs, 'RECORDED', rec)
    docs.stage_recorded(src/'99_tiny.ipynb', tmp_path/'out.ipynb', allow_missing=False)
    out = json.loads((tmp_path/'out.ipynb').read_text())
    text = ''.join(out['cells'][1]['source'])
    assert 'No recorded run yet' in text and 'it needs a GPU.' in text
    assert any('2' in ''.join(o.get('text', '')) for c in out['cells'] for o in c.get('outputs', []))
    (rec/'notebooks'/'PENDING.txt').write_text('99_tiny\n')
    with pytest.raises(docs.DocsError, match='PENDING.txt: line 1'): docs.pending()


# ---- the site without Quarto (tools/docsite.py): one tiny notebook through nbdev's processing and the renderer ----

import docsite  # noqa: E402


def _cell(kind, src, outputs=None, **kw):
    c = dict(cell_type=kind, id=f'c{abs(hash(src)) % 10**8}', metadata={}, source=src)
    if kind == 'code': c.update(execution_count=1, outputs=outputs or [])
    return c


TINY = [
    _cell('markdown', '# Tiny: a page with one function, some math and a progress bar in its output, and a title long enough to be cut in the sidebar\n\n'
                      '> A function, $\\alpha \\le \\epsilon$ inline and a display formula.'),
    _cell('code', '#| default_exp tiny'),
    _cell('code', '#| export\ndef budget(x:int, # images in [0,1]\n           eps:float=16/255, # the $L_\\infty$ budget\n           name:str|None=None, # a `name`\n          )->float: # the scaled budget\n'
                  '    "Scale the budget."\n    return x * eps'),
    _cell('markdown', '## Math\n\nThe objective\n\n$$\\mathcal{J} = \\text{MSE}(f(x), f(x^*)) - \\lambda\\, \\text{CE}$$\n\nand a shell `echo $HOME` stays as it is.'),
    _cell('code', 'from fastcore.test import test_eq, test_fail'),
    _cell('code', 'test_eq(budget(1, 0.5), 0.5)\nassert budget(0) == 0\ntest_fail(lambda: budget(None))'),
    _cell('code', 'for i in range(3): print(i)', outputs=[dict(output_type='stream', name='stderr',
          text='transfer:   0%|          | 0/24 [00:00<?, ?it/s]\rtransfer: 100%|##########| 24/24 [00:01<00:00, 20.1it/s]\n'),
          dict(output_type='stream', name='stdout', text='0\n1\n2\n'), dict(output_type='display_data', metadata={}, data={
              'application/vnd.jupyter.widget-view+json': dict(model_id='ab', version_major=2, version_minor=0), 'text/plain': 'fit alexnet:   0%|          | 0/384 [00:00<?, ?it/s]'})]),
    _cell('code', 'verdicts', outputs=[dict(output_type='execute_result', execution_count=1, metadata={},
          data={'text/plain': 'wide', 'text/html': '<table class="dataframe"><thead><tr><th></th><th>paper</th><th>verdict</th></tr></thead><tbody>' +
                ''.join(f'<tr><th>{i}</th><td>P{i % 2}</td><td>reproduced</td></tr>' for i in range(12)) + '</tbody></table>'})]),
    dict(_cell('markdown', '## Scorecard\n\nCounted below.'), metadata=dict(tags=['docs-top'])),
]


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The tiny notebook and the index processed by nbdev (as `proc_nbs` does) and rendered into a site."
    from nbdev.processors import FilterDefaults
    from nbdev.serve_drv import exec_nb
    tmp = tmp_path_factory.mktemp('site')
    src, proc = tmp/'nbs', tmp/'_proc'
    src.mkdir(), proc.mkdir()
    meta = dict(kernelspec=dict(name='python3', display_name='Python 3', language='python'), language_info=dict(name='python'))
    (src/'10_tiny.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata=meta, cells=TINY)))
    (src/'index.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata=meta, cells=[_cell('markdown', '# privbook\n\n> The index.\n\n## Start')])))
    docsite.use_api_renderer()
    for nb in ('10_tiny', 'index'): exec_nb(src/f'{nb}.ipynb', proc/f'{nb}.ipynb', FilterDefaults)
    (tmp/'sidebar.yml').write_text('website:\n  sidebar:\n    contents:\n      - index.ipynb\n      - section: Tiny\n        contents:\n          - auto: "1*.ipynb"\n')
    docsite.render_site(proc, tmp/'_docs', tmp/'sidebar.yml')
    return tmp/'_docs'


def test_api_entry_is_a_signature_and_a_parameter_table(site):
    page = (site/'10_tiny.html').read_text()
    assert 'budget(x:int, eps:float=0.0627, name:str | None=None) -&gt; float' in page
    assert 'class="pb-params"' in page and '<strong>eps</strong>' in page and '<code>name</code>' in page
    assert 'source{' not in page and 'target="_blank"' not in page and '0.06274509803921569' not in page
    assert not docs.page_problems(page), docs.page_problems(page)


def test_no_prompts_and_tests_hidden(site):
    page = re.sub(r'<style.*?</style>', '', (site/'10_tiny.html').read_text(), flags=re.S)
    assert 'Out[' not in page and 'In&nbsp;[' not in page
    assert 'test_eq(budget' not in page and 'test_fail' in page  # the import cell shows, the test cell does not


def test_math_is_mathml_and_nothing_is_remote(site):
    page = (site/'10_tiny.html').read_text()
    assert page.count('<math') >= 3 and '\\mathcal' not in page and '$\\alpha' not in page
    assert 'echo $HOME' in page  # not math
    for p in site.glob('*.html'):
        t = p.read_text()
        assert not re.search(r'<(script|link)\b[^>]*(src|href)="(https?:)?//', t), p.name
        assert 'mathjax' not in t.lower() and 'cdn' not in t.lower(), p.name


def test_search_toc_prev_next(site):
    index = json.loads((site/'search.json').read_text())
    assert any(e['page'] == '10_tiny.html' and e['section'] == 'Math' and 'objective' in e['text'] for e in index)
    assert (site/'search.js').read_text().startswith('const PB_INDEX = ')
    page = (site/'10_tiny.html').read_text()
    assert 'class="pb-tocbox"' in page and 'href="#Math"' in page
    assert 'class="pb-prev" href="index.html"' in page and 'class="pb-next" href="10_tiny.html"' in (site/'index.html').read_text()


def test_sidebar_title_cut_at_a_word(site):
    page = (site/'index.html').read_text()
    link = re.search(r'href="10_tiny.html" title="([^"]+)">([^<]+)</a>', page)
    full, shown = link.group(1), link.group(2)
    assert full.endswith('cut in the sidebar') and shown.endswith('…') and len(shown) <= docsite.TITLE_MAX
    assert full.startswith(shown[:-1]) and full[len(shown) - 1] == ' '


def test_progress_bars_dropped_tables_scroll(site):
    page = (site/'10_tiny.html').read_text()
    assert '0/24' not in page and '24/24' not in page and '0/384' not in page and '0\n1\n2' in page
    assert 'table{display:block;overflow-x:auto' in page and 'pre{overflow-x:auto' in page and '.highlight pre{white-space:pre-wrap' in page
    assert "th.indexOf('verdict')" in page  # the verdict filter script


def test_titles_read_as_yaml(tmp_path):
    fm = "---\ntitle: 'Results: the papers'' numbers beside ours'\ndescription: 'a folded\n  description'\n---\n"
    (tmp_path/'90_results.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata={}, cells=[_cell('raw', fm)])))
    assert docsite.titles(tmp_path)['90_results'][:2] == ("Results: the papers' numbers beside ours", 'a folded description')


def test_test_cells():
    assert docsite.is_test_cell('test_eq(f(1), 2)\nassert g()\nwith ExceptionExpected(ValueError): f(-1)')
    assert docsite.is_test_cell('for x in (1, 2): test_fail(lambda: f(x), contains="x")')
    assert docsite.is_test_cell('y = f(1)\ntest_eq(y, 2)', later='z = g(2)')  # y only serves the test
    assert not docsite.is_test_cell('y = f(1)\ntest_eq(y, 2)', later='print(y)') and not docsite.is_test_cell('import torch')
    assert not docsite.is_test_cell('y = f(1)\nprint(y)\ntest_eq(y, 2)')
    assert docsite.without_tests('vgg = build()\ntest_eq(n(vgg), 13)\nname, m = layer(vgg, 7)\ntest_fail(lambda: layer(vgg, 13),\n          contains="layer:")') == 'vgg = build()\nname, m = layer(vgg, 7)'
    assert docsite.without_tests('x = f(1)\nprint(x)') == 'x = f(1)\nprint(x)' and docsite.without_tests('def f(:') == 'def f(:'


def test_defaults_readable():
    assert docsite.fmt_default(16/255) == '0.0627' and docsite.fmt_default(0.5) == '0.5' and docsite.fmt_default(None) == 'None'
    assert docsite.fmt_default(100) == '100' and docsite.fmt_default(1e-4) == '0.0001'


def test_code_check():
    nb = lambda *srcs: dict(cells=[_cell('code', s) for s in srcs])
    assert docs.code_differs(nb('a = 1', 'b  =  2\n'), nb('a = 1', 'b = 2')) == (0, 2)
    assert docs.code_differs(nb('a = 1', 'b = 3', 'c'), nb('a = 1', 'b = 2', 'c')) == (1, 3)
    injected = dict(cell_type='code', metadata=dict(tags=['injected-parameters']), source='scale = "cpu"')
    assert docs.code_differs(dict(cells=[injected] + nb('a')['cells']), nb('a')) == (0, 1)
    b = docs.banner('41_x', dict(scale='cpu', revisions=['abc'], end=''), (2, 6))['source']
    assert 'code differs from `nbs/`: 2 of 6 cells' in b and 'code as in `nbs/`' in docs.banner('41_x', dict(scale='cpu', revisions=['abc'], end=''), (0, 6))['source']


def test_make_docs_leaves_readme_alone():
    "`make docs` does not depend on `readme`, and the build writes README.md only with --readme."
    mk = (ROOT/'Makefile').read_text()
    assert re.search(r'^docs:[^\n]*$', mk, re.M).group(0).split(':', 1)[1].split() == ['install']
    src = (ROOT/'tools'/'docs.py').read_text()
    assert src.count("ROOT/'README.md'") == 1 and 'def readme' in src


def test_docs_top_cells_come_first(site):
    page = (site/'10_tiny.html').read_text()
    assert page.index('id="Scorecard"') < page.index('class="pb-api"') < page.index('id="Math"')


def test_readable_paths(monkeypatch, tmp_path):
    import tempfile
    monkeypatch.setenv('PRIVBOOK_DATA', str(tmp_path/'data'))
    text = f"results from {docs.ROOT}/data/results/cpu; root {tmp_path}/data/MNIST; key {tempfile.gettempdir()}/tmpab12/k.key"
    out = docs.readable_paths(text)
    assert out == "results from ./data/results/cpu; root $PRIVBOOK_DATA/MNIST; key $TMPDIR/tmpab12/k.key", out
    assert not docs.page_problems(out)
    assert docs.page_problems(text) == ["a machine's path"]


# ---- widgets: saved state, rendered by the pinned widget manager from the site itself ----

EXPLORER = ("viz.static_explorer({'a': '<b>panel A</b>', 'b': '<b>panel B</b>'}, 'setting', captions={'a': 'first: 1%', 'b': 'second: 2%'})")


@pytest.fixture(scope='module')
def widget_site(tmp_path_factory):
    "A notebook with a static explorer and a kernel-only `interactive`, executed for the docs and rendered."
    from nbdev.processors import FilterDefaults
    from nbdev.serve_drv import exec_nb
    tmp = tmp_path_factory.mktemp('wsite')
    for d in ('nbs', '_docsrc', '_proc'): (tmp/d).mkdir()
    meta = dict(kernelspec=dict(name='python3', display_name='Python 3', language='python'), language_info=dict(name='python'))
    cells = [_cell('markdown', '# Widgets\n\n> A slider.'), _cell('code', 'from privbook import viz\nimport ipywidgets as W'), _cell('code', EXPLORER), _cell('code', 'W.interactive(lambda k=1: k, k=(0, 3))')]
    (tmp/'nbs'/'10_w.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata=meta, cells=cells)))
    docs.execute_smoke(tmp/'nbs'/'10_w.ipynb', tmp/'_docsrc'/'10_w.ipynb')
    with docs.own_widget_state(tmp/'_docsrc', tmp/'_proc'): exec_nb(tmp/'_docsrc'/'10_w.ipynb', tmp/'_proc'/'10_w.ipynb', FilterDefaults)
    (tmp/'sidebar.yml').write_text('website:\n  sidebar:\n    contents:\n      - 10_w.ipynb\n')
    docsite.render_site(tmp/'_proc', tmp/'_docs', tmp/'sidebar.yml')
    return tmp


def test_widget_state_saved(widget_site):
    nb = json.loads((widget_site/'_docsrc'/'10_w.ipynb').read_text())
    state = nb['metadata']['widgets'][docs.WIDGET_STATE]['state']
    names = sorted(v['model_name'] for v in state.values())
    for m in ('SelectionSliderModel', 'StackModel', 'LinkModel', 'HTMLModel'): assert m in names, names
    assert 'OutputModel' not in names and 'ButtonModel' not in names  # the interactive needs a kernel: left as text
    views = [o['data'][docs.WIDGET_VIEW]['model_id'] for c in nb['cells'] if c['cell_type'] == 'code' for o in c['outputs'] if docs.WIDGET_VIEW in o.get('data', {})]
    assert len(views) == 2 and views[0] in state and views[1] not in state
    assert json.loads((widget_site/'_proc'/'10_w.ipynb').read_text())['metadata']['widgets'] == nb['metadata']['widgets']  # kept through nbdev


def test_widget_page_loads_the_manager_from_the_site(widget_site):
    site = widget_site/'_docs'
    page = (site/'10_w.html').read_text()
    assert page.count('<script type="application/vnd.jupyter.widget-state+json">') == 1
    assert page.count('<script type="application/vnd.jupyter.widget-view+json">') == 1  # the explorer; the interactive is text
    assert '<script src="widgets/embed.js"></script>' in page and '<noscript><pre>first: 1%</pre></noscript>' in page
    srcs = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]+)"', page)
    assert srcs and all(not re.match(r'(https?:)?//', s) for s in srcs), srcs
    assert not docs.page_problems(page), docs.page_problems(page)
    js = (site/'widgets'/'embed.js').read_text()
    assert (site/'widgets'/'LICENSE').exists() and 'unpkg' not in js and 'require.js' not in page  # no AMD loader to fetch with
    assert 'Could not load module' in js  # widget code other than the built-in controls is refused, not fetched


def test_widget_manager_pinned(tmp_path, monkeypatch):
    bad = tmp_path/'hm'
    shutil.copytree(docsite.HTML_MANAGER, bad)
    (bad/'embed.js').write_text('/* changed */')
    monkeypatch.setattr(docsite, 'HTML_MANAGER', bad)
    with pytest.raises(RuntimeError, match='sha256'): docsite.copy_widget_manager(tmp_path)


def test_static_widget_state_keeps_what_the_views_need():
    m = lambda name, **state: dict(model_name=name, model_module='@jupyter-widgets/controls', model_module_version='2.0.0', state=state)
    full = dict(version_major=2, version_minor=0, state=dict(
        box=m('VBoxModel', children=['IPY_MODEL_sl', 'IPY_MODEL_st']), sl=m('SelectionSliderModel', layout='IPY_MODEL_lay'),
        st=m('StackModel', children=['IPY_MODEL_h']), h=m('HTMLModel'), lay=m('LayoutModel'),
        ln=m('LinkModel', source=['IPY_MODEL_sl', 'index'], target=['IPY_MODEL_st', 'selected_index']),
        live=m('VBoxModel', children=['IPY_MODEL_k', 'IPY_MODEL_out']), k=m('IntSliderModel'), out=m('OutputModel'),
        stale=m('HTMLModel'), ln2=m('LinkModel', source=['IPY_MODEL_k', 'value'], target=['IPY_MODEL_stale', 'value'])))
    got = docs.static_widget_state(full, ['box', 'live', 'box'])
    assert sorted(got['state']) == ['box', 'h', 'lay', 'ln', 'sl', 'st'] and got['version_major'] == 2
    assert docs.static_widget_state(full, ['live']) is None and docs.static_widget_state(None, ['box']) is None
