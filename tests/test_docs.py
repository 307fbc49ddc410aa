"""The docs show recorded runs: every experiment notebook has an executed cpu copy beside the code, made in the
same run as its recorded results, with a figure and no error, or it is listed in PENDING.txt with the reason it
has none (its page then says so at the top). (`make docs` renders them; this is its cheap half.)"""
import json, sys
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
