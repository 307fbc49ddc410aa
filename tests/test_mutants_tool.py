"tools/mutants.py: the sample `make mutants SAMPLE=N` runs, and the kill rate it reports (on made-up mutmut results)."
import importlib.util, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('mutants_tool', ROOT/'tools'/'mutants.py')
mt = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(mt)

MUTATED = '''
def x_f__mutmut_orig(a):
    "Add one."
    return a + 1
def x_f__mutmut_1(a):
    "XXAdd one.XX"
    return a + 1
def x_f__mutmut_2(a):
    "Add one."
    return a - 1
def x_f__mutmut_3(a):
    "Add one."
    return a + 2
def x_f__mutmut_4(a):
    "Add one."
    return a * 1
'''

@pytest.fixture
def root(tmp_path):
    (tmp_path/'mutants'/'privbook').mkdir(parents=True)
    (tmp_path/'mutants'/'privbook'/'m.py').write_text(MUTATED)
    codes = {'privbook.m.x_f__mutmut_1': 0, 'privbook.m.x_f__mutmut_2': 1, 'privbook.m.x_f__mutmut_3': 0, 'privbook.m.x_f__mutmut_4': 1}
    (tmp_path/'mutants'/'privbook'/'m.py.meta').write_text(json.dumps({'exit_code_by_key': codes}))
    (tmp_path/'docs').mkdir()
    (tmp_path/'docs'/'mutants.md').write_text('| module | mutant | why |\n|---|---|---|\n| m.py | `x_f__mutmut_3` (`+ 2`) | made up |\n')
    return tmp_path


def test_results_docstrings_and_equivalents(root):
    res = mt.module_results(root)
    assert res == {'privbook/m.py': {'privbook.m.x_f__mutmut_1': 'survived', 'privbook.m.x_f__mutmut_2': 'killed',
                                     'privbook.m.x_f__mutmut_3': 'survived', 'privbook.m.x_f__mutmut_4': 'killed'}}
    assert mt.docstring_only(res, root) == {'privbook.m.x_f__mutmut_1'}
    assert mt.equivalent(root/'docs'/'mutants.md') == {'privbook.m.x_f__mutmut_3'}


def test_sample_is_seeded_never_draws_docstring_mutants_and_caps_at_the_module(root):
    res = mt.module_results(root)
    s = mt.sample(res, 2, seed=1, root=root)['privbook/m.py']
    assert len(s) == 2 and 'privbook.m.x_f__mutmut_1' not in s
    assert s == mt.sample(res, 2, seed=1, root=root)['privbook/m.py']
    assert {frozenset(mt.sample(res, 2, seed=k, root=root)['privbook/m.py']) for k in range(20)} != {frozenset(s)}
    assert set(mt.sample(res, 10, root=root)['privbook/m.py']) == set(res['privbook/m.py']) - {'privbook.m.x_f__mutmut_1'}
    with pytest.raises(ValueError, match='^n: '): mt.sample(res, 0, root=root)


def test_kill_rate_leaves_equivalent_mutants_out_and_has_a_wilson_interval(root):
    st = mt.module_results(root)['privbook/m.py']
    del st['privbook.m.x_f__mutmut_1']
    ci = mt.kill_rate(st, {'privbook.m.x_f__mutmut_3'})
    assert (ci.est, ci.n) == (1., 2) and 0.3 < ci.lo < 0.4 and ci.hi == 1.
    assert mt.kill_rate(st).est == pytest.approx(2/3)
    assert mt.kill_rate({'a': 'not checked'}) is None
    row = mt.table({'privbook/m.py': mt.module_results(root)['privbook/m.py']}, {'privbook.m.x_f__mutmut_3'}, root)
    assert row.splitlines()[-1].endswith('| 100.0% [34.2, 100.0] of 2 |')
