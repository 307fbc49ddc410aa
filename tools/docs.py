"""Build privbook's docs site from the recorded run: `make docs` calls this.

Every experiment notebook's page shows the executed copy of its recorded cpu-scale run
(`data/results/cpu/notebooks/<name>.ipynb`), with the revision and scale stated at the top; the library
notebooks, the index and the results page are executed here at smoke scale (they show API examples and read
the recorded results). Then either Quarto renders the site through nbdev (`--quarto`, where Quarto is
installed) or, without Quarto, nbdev's own notebook processing (API reference included) is followed by an
nbconvert HTML page per notebook with a sidebar. Nothing is installed and any cell error fails the build.
"""
from __future__ import annotations
import argparse, html, json, os, re, shutil, subprocess, sys
from contextlib import contextmanager
from pathlib import Path
from privbook.cli import has_parameters, pending_runs, run_rows, setup_run_names
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docsite import render_site, use_api_renderer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NBS, STAGE, PROC = ROOT/'nbs', ROOT/'_docsrc', ROOT/'_proc'
RECORDED = ROOT/'data'/'results'/'cpu'
SKIP_FLAGS = {'notest', 'slow', 'gpu'}


class DocsError(RuntimeError): pass


def pending()->dict:
    "Experiment notebooks without a recorded run yet and why (`privbook.cli.pending_runs` of the recorded cpu run)."
    try: return pending_runs(RECORDED)
    except ValueError as e: raise DocsError(str(e)) from e


def recorded_run_facts(name:str, nb_path:Path)->dict:
    "Scale, revision(s), end time and matching result rows of a recorded executed notebook (`privbook.cli.run_rows`)."
    try: rows = run_rows(nb_path, RECORDED)
    except ValueError as e: raise DocsError(f"{name}: {e}") from e
    nb = json.loads(Path(nb_path).read_text())
    scale = rows.attrs['scale']
    if rows.empty: raise DocsError(f"{name}: no row of data/results/cpu/{{{','.join(setup_run_names(nb))}}}.jsonl was written during the recorded notebook's run: the notebook and the results come from different runs")
    if scale not in ('cpu', 'paper'): raise DocsError(f"{name}: the recorded copy ran at scale {scale!r}; the docs show cpu or paper runs only")
    return dict(scale=scale, revisions=sorted(rows.revision.unique()), end=rows.attrs['end'][:19].replace('T', ' '), rows=len(rows))


def code_cells(nb:dict)->list:
    "The code cells' sources, whitespace normalised; papermill's injected parameters left out."
    return [' '.join(''.join(c['source']).split()) for c in nb['cells']
            if c['cell_type'] == 'code' and 'injected-parameters' not in c.get('metadata', {}).get('tags', [])]


def code_differs(recorded:dict, source:dict)->tuple[int, int]:
    "(cells that differ, cells compared): code cells of the recorded copy against the notebook in nbs/, in order."
    from difflib import SequenceMatcher
    a, b = code_cells(recorded), code_cells(source)
    same = sum(m.size for m in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return max(len(a), len(b)) - same, max(len(a), len(b))


def banner(name:str, facts:dict, differs:tuple[int, int]=(0, 0))->dict:
    revs = ', '.join(f'`{r}`' for r in facts['revisions']) or 'unknown (no recorded results found)'
    n, m = differs
    code = (f"**code as in `nbs/`**" if n == 0 else
            f"**code differs from `nbs/`: {n} of {m} cells** (the notebook changed since this run; rerun it to see today's code's outputs)")
    text = (f"> **Recorded run.** The outputs below come from the `{facts['scale']}`-scale run of this notebook recorded at "
            f"revision {revs}" + (f", finished {facts['end']} UTC" if facts['end'] else '') + ", executed with papermill; "
            f"its results are in `data/results/{facts['scale']}/`. Rerun it with `privbook run {name} --scale {facts['scale']}`.\n>\n> {code}.")
    return dict(cell_type='markdown', metadata={}, source=text, id='recorded-run')


def pending_banner(name:str, why:str)->dict:
    text = (f"> **No recorded run yet.** This page was executed at smoke scale when the docs were built: tiny data and "
            f"barely trained models, so its numbers are not results and say nothing about the paper's claims. "
            f"Why there is no recorded run: {why} Record one with `privbook run {name} --scale cpu --record`.")
    return dict(cell_type='markdown', metadata={}, source=text, id='no-recorded-run')


def stage_pending(p:Path, dest:Path, why:str)->str:
    "Execute experiment notebook `p` at smoke scale and say at the top that no recorded run backs it."
    execute_smoke(p, dest)
    nb = json.loads(dest.read_text())
    first_md = next((i for i, c in enumerate(nb['cells']) if c['cell_type'] == 'markdown'), -1)
    nb['cells'].insert(first_md + 1, pending_banner(p.stem, why))
    dest.write_text(json.dumps(nb, indent=1))
    return 'executed at smoke scale (no recorded run yet)'


def one_paragraph_description(nb:dict):
    "Join the `> ` description lines of the first markdown cell: nbdev shows only a one-paragraph description whole."
    c = next((c for c in nb['cells'] if c['cell_type'] == 'markdown'), None)
    if c is None: return
    out, quote = [], []
    for line in ''.join(c['source']).split('\n'):
        if line.startswith('>'):
            quote.append(line[1:].strip())
            continue
        if quote: out.append('> ' + ' '.join(q for q in quote if q))
        quote = []
        out.append(line)
    if quote: out.append('> ' + ' '.join(q for q in quote if q))
    c['source'] = '\n'.join(out)


def stage_recorded(p:Path, dest:Path, allow_missing:bool)->str:
    "Copy the recorded executed copy of experiment notebook `p` (papermill noise dropped, banner added)."
    rec = RECORDED/'notebooks'/p.name
    if not rec.exists():
        if p.stem in pending(): return stage_pending(p, dest, pending()[p.stem])
        if not allow_missing: raise DocsError(f"{p.name}: no recorded run at {rec.relative_to(ROOT)} (record one with `privbook run {p.stem} --scale cpu --record`, or list it with the reason in {(RECORDED/'notebooks'/'PENDING.txt').relative_to(ROOT)})")
        shutil.copyfile(p, dest)
        return 'source only (no recorded run)'
    if p.stem in pending(): raise DocsError(f"{p.name}: recorded, yet listed in PENDING.txt: remove it from the list")
    facts = recorded_run_facts(p.stem, rec)
    nb = json.loads(rec.read_text())
    one_paragraph_description(nb)  # runs recorded before the descriptions were made one paragraph
    for c in nb['cells']:
        c.get('metadata', {}).pop('papermill', None)
        c.get('metadata', {}).pop('execution', None)
    first_md = next((i for i, c in enumerate(nb['cells']) if c['cell_type'] == 'markdown'), -1)
    nb['cells'].insert(first_md + 1, banner(p.stem, facts, code_differs(nb, json.loads(p.read_text()))))
    state = static_widget_state(nb['metadata'].get('widgets', {}).get(WIDGET_STATE), view_ids(nb))  # papermill stores widget state
    nb['metadata'] = {k: v for k, v in nb['metadata'].items() if k in ('kernelspec', 'language_info')}
    if state: nb['metadata']['widgets'] = {WIDGET_STATE: state}
    dest.write_text(json.dumps(nb, indent=1))
    return f"recorded {facts['scale']} run, revision {', '.join(facts['revisions']) or '?'}"


def execute_smoke(p:Path, dest:Path):
    "Execute notebook `p` as nbdev_test does (same skipped cells, cwd nbs/) and keep its outputs."
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    os.environ['IN_TEST'] = '1'
    run = NBProcessor(p, procs=FrontmatterProc, process=True).nb

    def no_eval(cell):
        if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: return True
        d = getattr(cell, 'directives_', {}) or {}
        return d.get('eval:', [''])[0].lower() == 'false' or bool(SKIP_FLAGS & d.keys())

    k = CaptureShell(p)
    cwd = os.getcwd()
    try:
        os.chdir(p.parent)
        k.run_all(run, exc_stop=True, preproc=no_eval)
    except Exception as e:
        raise DocsError(f"{p.name}: a cell failed while executing it for the docs:\n{k.prettytb(fname=p)}") from e
    finally: os.chdir(cwd)
    out = read_nb(p)
    for c, r in zip(out.cells, run.cells):
        if c.cell_type == 'code': c['outputs'], c['execution_count'] = r.get('outputs', []), r.get('execution_count')
    write_nb(out, dest)
    nb = json.loads(dest.read_text())
    state = process_widget_state(view_ids(nb))
    if state: nb['metadata']['widgets'] = {WIDGET_STATE: state}  # after write_nb: execnb takes any 'source' key for a cell's
    dest.write_text(readable_paths(json.dumps(nb, indent=1)))


WIDGET_VIEW, WIDGET_STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'
KERNEL_ONLY = {'OutputModel', 'ButtonModel'}  # widgets that do something only with a kernel (e.g. `interactive`'s)


def view_ids(nb:dict)->list:
    "Model ids of the widget views the code cells of notebook `nb` (a dict) display, in order."
    return [o['data'][WIDGET_VIEW]['model_id'] for c in nb['cells'] if c['cell_type'] == 'code'
            for o in c.get('outputs', []) if WIDGET_VIEW in o.get('data', {})]


def static_widget_state(full:dict|None, model_ids:list)->dict|None:
    """Of a saved widget state `full` (nbclient's `store_widget_state` form), the part the displayed widgets
    `model_ids` need on a static page: every widget they refer to and the links (`jslink`) between them; a widget
    that needs a kernel to do anything (`interactive`'s button and output) is left out with all it refers to, so
    it shows its plain text. None when nothing is left."""
    if not full or not full.get('state'): return None
    st = full['state']
    refs = {k: set(re.findall(r'IPY_MODEL_(\w+)', json.dumps(v.get('state', {})))) for k, v in st.items()}

    def closure(start:set)->set:
        seen, todo = set(), list(start)
        while todo:
            k = todo.pop()
            if k in seen or k not in st: continue
            seen.add(k)
            todo += refs[k]
        return seen

    keep = set()
    for m in dict.fromkeys(model_ids):
        c = closure({m})
        if c and not any(st[k].get('model_name') in KERNEL_ONLY for k in c): keep |= c
    keep |= {k for k, v in st.items() if v.get('model_name') in ('LinkModel', 'DirectionalLinkModel') and refs[k] and refs[k] <= keep}
    return {**full, 'state': {k: st[k] for k in st if k in keep}} if keep else None


def process_widget_state(model_ids:list)->dict|None:
    "`static_widget_state` of the widgets this process made (the notebooks `execute_smoke` ran in it)."
    try: import ipywidgets as W
    except ImportError: return None
    return static_widget_state(W.Widget.get_manager_state(drop_defaults=True), model_ids)


def readable_paths(text:str)->str:
    "This machine's folders in `text` as names a reader can place: the checkout `.`, `$PRIVBOOK_DATA`, `$TMPDIR`, `~`."
    import tempfile
    subs = [(ROOT, '.'), (tempfile.gettempdir(), '$TMPDIR'), (Path.home(), '~'),
            *([(os.environ['PRIVBOOK_DATA'], '$PRIVBOOK_DATA')] if os.environ.get('PRIVBOOK_DATA') else [])]
    for p, name in sorted(((str(Path(p).resolve()), n) for p, n in subs), key=lambda s: -len(s[0])):  # longest first
        if p not in ('/', '.'): text = re.sub(rf'(?<![\w.$-]){re.escape(p)}(?![\w.-])', lambda m: name, text)
    return text


def stage(allow_missing:bool=False, only:str|None=None)->dict:
    "Fill `_docsrc/` with what each page shows; returns {notebook: what was staged}."
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir()
    for f in NBS.iterdir():
        if f.suffix in ('.yml', '.css') or f.name == '_quarto.yml': shutil.copyfile(f.resolve(), STAGE/f.name)
    done = {}
    for p in sorted(NBS.glob('*.ipynb')):
        if only and only not in p.stem: continue
        if has_parameters(p) and p.stem != '90_results': done[p.name] = stage_recorded(p, STAGE/p.name, allow_missing)  # 90 reads the record
        else:
            print(f'executing {p.name} at smoke scale', flush=True)
            execute_smoke(p, STAGE/p.name)
            done[p.name] = 'executed at smoke scale'
    return done


def check_staged(allow_missing:bool=False):
    "No error output anywhere; a figure on every experiment page."
    problems = []
    for p in sorted(STAGE.glob('*.ipynb')):
        nb = json.loads(p.read_text())
        outs = [o for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]
        if any(o.get('output_type') == 'error' for o in outs): problems.append(f'{p.name}: an error output')
        recorded = any(c.get('id') == 'recorded-run' for c in nb['cells'])
        if recorded and not any('image/png' in o.get('data', {}) or 'image/svg+xml' in o.get('data', {}) for o in outs):
            problems.append(f'{p.name}: the recorded run shows no figure')
    if problems: raise DocsError('the docs would show broken pages:\n  ' + '\n  '.join(problems))


# ---- rendering without Quarto: tools/docsite.py ----

def doc_host()->str:
    "The published site's address, which nbdev's links start with (rewritten to local pages)."
    from nbdev.config import get_config
    cfg = get_config()
    return f"{cfg.get('doc_host', '').rstrip('/')}{cfg.get('doc_baseurl', '')}".rstrip('/')


@contextmanager
def own_widget_state(stage:Path, proc:Path):
    """Around nbdev's processing of `stage` into `proc`: each notebook keeps the widget state saved when it ran.
    nbdev's `exec_show_docs` would store every widget of this process (all notebooks built so far) into each page,
    and execnb, which writes the notebooks, takes every `source` key for a cell's (a `jslink`'s state has one)."""
    from unittest.mock import patch
    from nbdev.processors import exec_show_docs
    held = {}
    for p in sorted(stage.glob('*.ipynb')):
        nb = json.loads(p.read_text())
        if 'widgets' in nb.get('metadata', {}):
            held[p.name] = nb['metadata'].pop('widgets')
            p.write_text(json.dumps(nb, indent=1))
    try:
        with patch.object(exec_show_docs, 'end', lambda self: None): yield
    finally:
        for folder in (stage, proc):
            for p in sorted(folder.glob('*.ipynb')):
                nb = json.loads(p.read_text())
                if p.name not in held and 'widgets' not in nb.get('metadata', {}): continue
                nb['metadata'].pop('widgets', None)
                if p.name in held: nb['metadata']['widgets'] = held[p.name]
                p.write_text(json.dumps(nb, indent=1))


def process():
    "nbdev's processing of the staged notebooks into `_proc/` (in this process, API entries by `docsite.APIRenderer`)."
    import warnings
    from nbdev.serve import proc_nbs
    use_api_renderer()
    shutil.rmtree(PROC, ignore_errors=True)
    with warnings.catch_warnings(), own_widget_state(STAGE, PROC):  # nbdev prints each cell with imports whole; running them for the API reference is harmless here
        warnings.filterwarnings('ignore', message='Found cells containing imports')
        proc_nbs(str(STAGE), n_workers=0)


def page_problems(text:str)->list:
    "What a rendered page must not show: Quarto-only markup, prompts, raw TeX, remote scripts, progress bars, machine paths."
    out = []
    if 'source{' in text or '{target="_blank"' in text: out.append('raw Quarto link attributes')
    if re.search(r'class="jp-(In|Out)putPrompt[^"]*">\s*(In|Out)\s*\[', text): out.append('In / Out prompts')
    if re.search(r'<(script|link|img)\b[^>]*\b(src|href)="(https?:)?//', text, re.I): out.append('loads something from the network')
    if re.search(r'(?<![\w$\\])\$\\[a-zA-Z]+', re.sub(r'<(pre|code)\b.*?</\1>', '', text, flags=re.S)): out.append('raw TeX')
    if re.search(r'\d+%\|[^|<]*\|\s*\d+/\d+', text): out.append('a progress bar')
    if re.search(r'/(home|Users|root|work|tmp)/[\w.-]+/', re.sub(r'<(script|style)\b.*?</\1>', '', text, flags=re.S)): out.append("a machine's path")
    return out


def check_html(out:Path, staged:dict):
    "Every page exists and has no traceback; every recorded experiment page names its revision and shows a figure; `page_problems`."
    problems = []
    for name, what in staged.items():
        page = out/f'{Path(name).stem}.html'
        if not page.exists():
            problems.append(f'{page.name}: missing')
            continue
        text = page.read_text()
        if 'Traceback (most recent call last)' in text or 'output_error' in text: problems.append(f'{page.name}: shows a traceback')
        if what.startswith('recorded'):
            if '<img' not in text: problems.append(f'{page.name}: no figure')
            if 'Recorded run.' not in text: problems.append(f'{page.name}: does not state the recorded run')
        if 'no recorded run yet' in what and 'No recorded run yet.' not in text: problems.append(f'{page.name}: does not say that its numbers are not results')
        problems += [f'{page.name}: {p}' for p in page_problems(text)]
    if not (out/'search.json').exists(): problems.append('search.json: missing')
    if problems: raise DocsError('rendered pages failed the checks:\n  ' + '\n  '.join(problems))


def readme():
    "README.md from nbs/index.ipynb, executed (so it shows real outputs), with Python code fences."
    import tempfile, nbformat
    from nbconvert import MarkdownExporter
    with tempfile.TemporaryDirectory() as d:
        execute_smoke(NBS/'index.ipynb', Path(d)/'index.ipynb')
        nb = nbformat.read(str(Path(d)/'index.ipynb'), as_version=4)
    nb.metadata['language_info'] = {'name': 'python'}
    for c in nb.cells:
        if c.cell_type == 'code': c.source = '\n'.join(l for l in c.source.splitlines() if not l.startswith('#|'))
    body, _ = MarkdownExporter().from_notebook_node(nb)
    (ROOT/'README.md').write_text(body)


def main(argv=None)->int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quarto', action='store_true', help='render with Quarto through nbdev_docs (Quarto must be installed)')
    ap.add_argument('--allow-missing', action='store_true', help='stage the source of experiment notebooks that have no recorded run (drafts only)')
    ap.add_argument('--only', default=None, help='stage only notebooks whose name contains this (drafts only)')
    ap.add_argument('--out', default=str(ROOT/'_docs'))
    ap.add_argument('--readme', action='store_true', help='only write README.md from nbs/index.ipynb (executed)')
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    try:
        if args.readme:
            readme()
            return 0
        staged = stage(args.allow_missing, args.only)
        for k, v in staged.items(): print(f'{k}: {v}')
        check_staged(args.allow_missing)
        if args.quarto:
            if shutil.which('quarto') is None: raise DocsError('--quarto: quarto is not on PATH')
            subprocess.run([str(Path(sys.executable).parent/'nbdev_docs'), '--path', str(STAGE)], check=True, cwd=ROOT)
            return 0
        process()
        render_site(PROC, Path(args.out), NBS/'sidebar.yml', doc_host())
        check_html(Path(args.out), staged)
        print(f'docs written to {args.out} ({len(staged)} pages)')
        return 0
    except (DocsError, subprocess.CalledProcessError) as e:
        print(f'docs: error: {e}', file=sys.stderr)
        return 1


def exit_now(rc:int):
    """Exit without the interpreter's atexit work: every in-process IPython shell the build made (one per notebook, by
    execnb and nbdev) resets its namespace and garbage-collects at exit, about a minute in all after "docs written"."""
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(rc)


if __name__ == '__main__': exit_now(main())
