"Tests of privbook.metrics' statistics layer: binomial intervals, effect-size and equivalence verdicts, hypotheses, gates, untestable claims."
import math
import numpy as np, pandas as pd, pytest, torch
from privbook import metrics
from privbook.core import Recorder, read_results
from privbook.metrics import Interval

METHODS = metrics.PROPORTION_METHODS


# ---------------------------------------------------------------- proportions

@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('k,n', [(0, 100), (100, 100), (0, 1), (1, 1), (0, 5), (5, 5), (37, 100)])
def test_proportion_ci_nonzero_width_inside_unit_interval(method, k, n):
    ci = metrics.proportion_ci(k, n, method=method)
    assert 0 <= ci.lo < ci.hi <= 1, ci
    assert ci.lo <= ci.est == k / n <= ci.hi and ci.n == n and ci.level == 0.95


def test_proportion_ci_fixes_the_bootstrap_at_the_edges():
    "The percentile bootstrap of 0/1 values has zero width at 0/n and n/n; the binomial interval does not, and stays in [0, 1] (in percent, [0, 100])."
    for v in (np.zeros(100), np.ones(100)):
        b = metrics.bootstrap_ci(v)
        assert b.hi - b.lo == 0
        p = metrics.proportion_ci(v)
        assert p.hi - p.lo > 0.02 and 0 <= p.lo and p.hi <= 1
        assert 0 <= p.scaled(100).lo and p.scaled(100).hi <= 100


def test_proportion_ci_known_values():
    "Wilson's and Clopper-Pearson's closed forms at 0/n: (0, z^2/(n+z^2)) and (0, 1 - (alpha/2)^(1/n))."
    from scipy.stats import norm
    z, n = norm.ppf(0.975), 100
    assert math.isclose(metrics.proportion_ci(0, n).hi, z**2 / (n + z**2), rel_tol=1e-9)
    assert math.isclose(metrics.proportion_ci(0, n, 'clopper-pearson').hi, 1 - 0.025**(1 / n), rel_tol=1e-9)
    assert math.isclose(metrics.proportion_ci(n, n, 'clopper-pearson').lo, 0.025**(1 / n), rel_tol=1e-9)


def test_proportion_ci_values_equal_counts():
    v = np.r_[np.ones(23), np.zeros(77)]
    assert metrics.proportion_ci(v) == metrics.proportion_ci(23, 100)
    assert metrics.proportion_ci(torch.tensor(v) > 0.5, method='clopper-pearson') == metrics.proportion_ci(23, 100, 'clopper-pearson')
    assert metrics.proportion_ci(np.int64(23), np.int64(100)) == metrics.proportion_ci(23, 100)


def test_proportion_ci_level_and_method_order():
    w90, w95, w99 = (metrics.proportion_ci(30, 100, level=l) for l in (0.90, 0.95, 0.99))
    assert w99.lo < w95.lo < w90.lo < 0.3 < w90.hi < w95.hi < w99.hi
    cp, w = metrics.proportion_ci(3, 100, 'clopper-pearson'), metrics.proportion_ci(3, 100)
    assert cp.hi - cp.lo > w.hi - w.lo   # exact = conservative


PROPORTION_BAD = [
    (dict(k_or_values=5), TypeError, 'n:'),
    (dict(k_or_values=11, n=10), ValueError, 'k_or_values:'),
    (dict(k_or_values=-1, n=10), ValueError, 'k_or_values:'),
    (dict(k_or_values=2.5, n=10), TypeError, 'k_or_values:'),
    (dict(k_or_values=True, n=10), TypeError, 'k_or_values:'),
    (dict(k_or_values=1, n=0), ValueError, 'n:'),
    (dict(k_or_values=1, n=10.0), TypeError, 'n:'),
    (dict(k_or_values=[0, 1, 2]), ValueError, 'k_or_values:'),
    (dict(k_or_values=[0.5, 1]), ValueError, 'k_or_values:'),
    (dict(k_or_values=[]), ValueError, 'k_or_values:'),
    (dict(k_or_values='0101'), TypeError, 'k_or_values:'),
    (dict(k_or_values=[0, 1, float('nan')]), ValueError, 'k_or_values:'),
    (dict(k_or_values=1, n=10, method='exact'), ValueError, 'method:'),
    (dict(k_or_values=1, n=10, level=95), ValueError, 'level:'),
    (dict(k_or_values=1, n=10, level='0.95'), TypeError, 'level:'),
]

@pytest.mark.parametrize('kw,exc,msg', PROPORTION_BAD)
def test_proportion_ci_bad_input(kw, exc, msg):
    with pytest.raises(exc) as e: metrics.proportion_ci(**kw)
    assert str(e.value).startswith(msg), str(e.value)


# ---------------------------------------------------------------- effect sizes

@pytest.mark.parametrize('ci,paper,tol,expected', [
    (Interval(-0.30, -0.35, -0.25, 100), -0.30, 0., 'reproduced'),
    (Interval(-0.05, -0.08, -0.02, 100), -0.30, 0., 'not reproduced'),   # same sign, excludes the paper's effect
    (Interval(-0.05, -0.08, -0.02, 100), -0.30, 0.25, 'reproduced'),     # within the stated tolerance
    (Interval(-0.05, -0.08, -0.02, 100), -0.30, 0.20, 'not reproduced'),
    (Interval(-0.10, -0.35, 0.15, 100), -0.30, 0., 'inconclusive'),      # holds the paper's effect and no effect
    (Interval(0.10, 0.05, 0.15, 100), -0.30, 0., 'not reproduced'),      # opposite sign
])
def test_effect_verdict(ci, paper, tol, expected):
    assert metrics.effect_verdict(ci, paper, tol) == expected
    assert metrics.verdict(ci, '=', paper, tol) == expected


def test_effect_verdict_null():
    ci = Interval(0.1, -0.2, 0.4, 10)
    assert metrics.effect_verdict(ci, 0.3) == 'inconclusive'
    assert metrics.effect_verdict(ci, 0.3, null=None) == 'reproduced'
    assert metrics.effect_verdict(ci, 0.3, null=-0.5) == 'reproduced'


@pytest.mark.parametrize('kw,exc,msg', [
    (dict(ci=(0, 1)), TypeError, 'ci:'),
    (dict(paper=None), TypeError, 'paper:'),
    (dict(paper=float('inf')), ValueError, 'paper:'),
    (dict(tol=-0.1), ValueError, 'tol:'),
    (dict(tol='0'), TypeError, 'tol:'),
    (dict(null='0'), TypeError, 'null:'),
])
def test_effect_verdict_bad_input(kw, exc, msg):
    args = dict(ci=Interval(0.1, 0.0, 0.2, 10), paper=0.1, tol=0., null=0.)
    args.update(kw)
    with pytest.raises(exc) as e: metrics.effect_verdict(**args)
    assert str(e.value).startswith(msg), str(e.value)


def test_verdict_unchanged_for_the_old_operators():
    ci = Interval(0.5, 0.2, 0.8, 10)
    assert [metrics.verdict(ci, '>', t) for t in (0.1, 0.5, 0.8, 0.9)] == ['reproduced', 'inconclusive', 'not reproduced', 'not reproduced']
    assert [metrics.verdict(ci, '<', t) for t in (0.9, 0.5, 0.2, 0.1)] == ['reproduced', 'inconclusive', 'not reproduced', 'not reproduced']
    assert [metrics.verdict(ci, '~', t, 0.4) for t in (0.5, 0.0, 2.0)] == ['reproduced', 'inconclusive', 'not reproduced']
    assert metrics.VERDICTS[:3] == ('reproduced', 'not reproduced', 'inconclusive') and 'untestable' in metrics.VERDICTS


@pytest.mark.parametrize('kw,exc,msg', [(dict(claim='>='), ValueError, 'claim:'), (dict(than=None), TypeError, 'than:'),
                                        (dict(than=float('nan')), ValueError, 'than:'), (dict(tol=-1.), ValueError, 'tol:'),
                                        (dict(ci=0.5), TypeError, 'ci:')])
def test_verdict_bad_input(kw, exc, msg):
    args = dict(ci=Interval(0.5, 0.2, 0.8, 10), claim='~', than=0., tol=0.)
    args.update(kw)
    with pytest.raises(exc) as e: metrics.verdict(**args)
    assert str(e.value).startswith(msg), str(e.value)


# ---------------------------------------------------------------- equivalence (two one-sided tests)

def test_equivalence_from_differences():
    rng = np.random.default_rng(0)
    tiny = rng.normal(0, 0.05, 400)
    assert metrics.equivalence(tiny, margin=0.05) == 'reproduced'
    assert metrics.equivalence(tiny + 1, margin=0.05) == 'not reproduced'
    assert metrics.equivalence(tiny - 1, margin=0.05) == 'not reproduced'
    assert metrics.equivalence(np.tile([-1., 1.], 10), margin=0.05) == 'inconclusive'   # no difference on average, but too noisy to tell
    assert metrics.equivalence(tiny + 0.05, margin=0.05) == 'inconclusive'              # straddles the margin


def test_equivalence_uses_the_1_minus_2alpha_interval():
    diffs = np.random.default_rng(1).normal(0.02, 0.1, 200)
    ci90 = metrics.bootstrap_ci(diffs, level=0.90)
    for m in (0.02, 0.04, 0.05, 0.1):
        assert metrics.equivalence(diffs, m) == metrics.equivalence(ci90, m) == metrics.verdict(ci90, '~', 0., m)
    ci80 = metrics.bootstrap_ci(diffs, level=0.80)
    assert metrics.equivalence(ci80, 0.05, alpha=0.1) == metrics.equivalence(diffs, 0.05, alpha=0.1)
    groups = np.repeat([0, 1, 2, 3], 50)
    assert metrics.equivalence(diffs, 0.2, groups=groups) == 'reproduced'


@pytest.mark.parametrize('kw,exc,msg', [
    (dict(ci_or_diffs=Interval(0., -0.01, 0.01, 10)), ValueError, 'ci_or_diffs:'),   # a 95% interval, not 90%
    (dict(ci_or_diffs=[]), ValueError, 'ci_or_diffs:'),
    (dict(ci_or_diffs='abc'), TypeError, 'ci_or_diffs:'),
    (dict(ci_or_diffs=[0., float('nan')]), ValueError, 'ci_or_diffs:'),
    (dict(margin=0), ValueError, 'margin:'),
    (dict(margin=-0.1), ValueError, 'margin:'),
    (dict(margin=None), TypeError, 'margin:'),
    (dict(alpha=0.5), ValueError, 'alpha:'),
    (dict(alpha=0), ValueError, 'alpha:'),
    (dict(groups=[0, 1]), ValueError, 'groups:'),
])
def test_equivalence_bad_input(kw, exc, msg):
    args = dict(ci_or_diffs=[0.01, -0.01, 0.0, 0.02], margin=0.1)
    args.update(kw)
    with pytest.raises(exc) as e: metrics.equivalence(**args)
    assert str(e.value).startswith(msg), str(e.value)


# ---------------------------------------------------------------- records: claims, hypotheses, gates, untestable

@pytest.fixture
def rec(tmp_path):
    return Recorder(tmp_path, 'stats')


def test_records_round_trip(rec, tmp_path):
    good, bad = Interval(-0.5, -0.6, -0.4, 100), Interval(0.1, -0.2, 0.4, 100)
    assert metrics.claim(rec, 'the defence lowers accuracy', good, '<', paper=-0.5, table='T1') == 'reproduced'
    assert metrics.claim(rec, 'the defence lowers accuracy by 0.5', good, '=', -0.5) == 'reproduced'
    assert metrics.untestable(rec, 'int8 and float models differ', 'both settings train to bit-identical models') == 'untestable'
    assert metrics.hypothesis(rec, 'a stronger attacker breaks it', good, '<') == 'supported'
    assert metrics.hypothesis(rec, 'it raises accuracy', good, '>') == 'refuted'
    assert metrics.hypothesis(rec, 'a small effect', bad, '>') == 'inconclusive'
    assert metrics.untestable(rec, 'seeds differ', 'one seed only', kind='hypothesis') == 'untestable'
    df = read_results(tmp_path)
    rc, rh = metrics.recorded_claims(df, show=True), metrics.recorded_hypotheses(df, show=True)
    assert rc.verdict_recomputed.tolist() == rc.verdict.tolist() == ['reproduced', 'reproduced', 'untestable']
    assert rh.verdict_recomputed.tolist() == rh.verdict.tolist() == ['supported', 'refuted', 'inconclusive', 'untestable']
    assert rc.reason.iloc[2] == 'both settings train to bit-identical models'
    assert set(rh.verdict) <= set(metrics.HYPOTHESIS_VERDICTS) and set(rc.verdict) <= set(metrics.VERDICTS)


def test_recorded_verdicts_are_recomputed(rec, tmp_path):
    "A verdict edited in the file is not trusted: the recomputed column says what the interval gives."
    metrics.hypothesis(rec, 'h', Interval(-0.5, -0.6, -0.4, 100), '<')
    f = tmp_path/'stats.jsonl'
    f.write_text(f.read_text().replace('"supported"', '"refuted"'))
    rh = metrics.recorded_hypotheses(read_results(tmp_path))
    assert rh.verdict.tolist() == ['refuted'] and rh.verdict_recomputed.tolist() == ['supported']


def test_gate_records_every_outcome(rec, tmp_path):
    assert metrics.gate(rec, 'DeepFool fools the unprotected model', metrics.proportion_ci(97, 100), '>', 0.9, arch='cnn') is True
    with pytest.raises(metrics.CompetenceGateError, match='competence gate failed'):
        metrics.gate(rec, 'DeepFool fools the unprotected model', metrics.proportion_ci(40, 100), '>', 0.9, arch='cnn')
    g = read_results(tmp_path).query("metric == 'gate'")
    assert g.passed.tolist() == [True, False] and g.arch.tolist() == ['cnn', 'cnn']
    assert g.ci_low.notna().all() and (g.than == 0.9).all()
    with pytest.raises(metrics.CompetenceGateError): metrics.competence_gate(False, 'still works')


def test_gate_not_enforced_records_and_returns(rec, tmp_path):
    "A gate on a protected deployment: recorded and returned, the run goes on (the caller sets the numbers aside)."
    assert metrics.gate(rec, 'PGD moves the deployed argmax', metrics.proportion_ci(13, 100), '>', 0.9, enforce=False, arch='cnn') is False
    g = read_results(tmp_path).query("metric == 'gate'")
    assert g.passed.tolist() == [False] and g.enforced.tolist() == [False]
    with pytest.raises(TypeError, match='^enforce'): metrics.gate(rec, 'x', metrics.proportion_ci(1, 2), '>', enforce='no')


def test_nothing_recorded_on_bad_input(rec, tmp_path):
    ci = Interval(0.1, 0.0, 0.2, 10)
    for f, exc, msg in [(lambda: metrics.claim(rec, 'x', ci, '>='), ValueError, 'claim:'),
                        (lambda: metrics.hypothesis(rec, 'x', ci, '>', than='0'), TypeError, 'than:'),
                        (lambda: metrics.hypothesis(rec, '', ci, '>'), ValueError, 'what:'),
                        (lambda: metrics.gate(rec, 'x', (0, 1), '>'), TypeError, 'ci:'),
                        (lambda: metrics.untestable(rec, 'x', ''), ValueError, 'reason:'),
                        (lambda: metrics.untestable(rec, 'x', None), ValueError, 'reason:'),
                        (lambda: metrics.untestable(rec, 'x', 'why', kind='paper'), ValueError, 'kind:')]:
        with pytest.raises(exc) as e: f()
        assert str(e.value).startswith(msg), str(e.value)
    assert not (tmp_path/'stats.jsonl').exists()


def test_recorded_empty():
    assert metrics.recorded_claims(pd.DataFrame()).empty and metrics.recorded_hypotheses(pd.DataFrame({'metric': ['accuracy']})).empty


def test_recorded_claims_other_schema(rec, tmp_path):
    "Rows that hold the claim's words in 'claim' and the comparison in 'op' (the DisguisedNets notebooks') are recomputed too; rows without a comparison give None (NaN)."
    ci = Interval(60.9, 60.2, 61.6, 500)
    rec.log('claim', ci.est, claim='16-px hit rate is below 10%', op='<', than=10.0, tol=0.0, verdict='not reproduced', **ci.params())
    rec.log('claim', ci.est, claim='2-px success rate is about 60%', op='~', than=60.0, tol=2.0, verdict='reproduced', paper=60, **ci.params())
    rec.log('claim', None, claim='the attack is at chance', verdict='no verdict (at chance)')
    rc = metrics.recorded_claims(read_results(tmp_path), show=True)
    assert rc.verdict_recomputed.tolist()[:2] == ['not reproduced', 'reproduced'] and pd.isna(rc.verdict_recomputed.iloc[2])
