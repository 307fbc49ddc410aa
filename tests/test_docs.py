"""The docs show recorded runs: every experiment notebook has an executed cpu copy beside the code, made in the
same run as its recorded results, with a figure and no error. (`make docs` renders them; this is its cheap half.)"""
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
    assert rec.exists(), f'{nb.name}: no recorded run (privbook run {nb.stem} --scale cpu --record)'
    executed = json.loads(rec.read_text())
    facts = docs.recorded_run_facts(nb.stem, executed)  # raises when the notebook and its results come from different runs
    assert facts['rows'] > 0 and all(not r.endswith('+dirty') for r in facts['revisions'])
    outs = [o for c in executed['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]
    assert not any(o.get('output_type') == 'error' for o in outs), f'{nb.name}: the recorded run has an error output'
    assert any('image/png' in o.get('data', {}) for o in outs), f'{nb.name}: the recorded run shows no figure'
