"Behavioural tests of privbook.metrics written against the mutants that `make mutants` found surviving (docs/mutants.md)."
import numpy as np, pandas as pd, pytest, torch
from privbook import metrics
from privbook.core import DRY_ENV, Recorder, read_results
from privbook.metrics import CompetenceGateError, Interval

CI = Interval(0.5, 0.2, 0.8, 10)  # lies above 0 and below 1


@pytest.fixture
def rec(tmp_path): return Recorder(tmp_path, 'mut')

@pytest.fixture
def not_dry(monkeypatch): monkeypatch.delenv(DRY_ENV, raising=False)

def rows(tmp_path, metric): return read_results(tmp_path).query(f"metric == '{metric}'").reset_index(drop=True)


def test_beside_pairs_each_column_and_keeps_every_row():
    ours = pd.DataFrame({'acc': [0.9, 0.8], 'psnr': [30., 31.]}, index=['mnist', 'fmnist'])
    paper = pd.DataFrame({'acc': [0.95, 0.7], 'ssim': [0.5, 0.4]}, index=['mnist', 'cifar'])
    t = metrics.beside(ours, paper)
    assert list(t.columns) == [('acc', 'ours'), ('acc', 'paper'), ('psnr', 'ours'), ('psnr', 'paper'), ('ssim', 'ours'), ('ssim', 'paper')]
    assert t[('psnr', 'paper')].isna().all() and t.loc['fmnist', ('psnr', 'ours')] == 31.
    assert list(t.index) == ['mnist', 'fmnist', 'cifar']
    assert t.loc['mnist', ('acc', 'ours')] == 0.9 and t.loc['mnist', ('acc', 'paper')] == 0.95
    assert t.loc['cifar', ('ssim', 'paper')] == 0.4 and t.loc['fmnist', ('acc', 'ours')] == 0.8
    assert t[[('acc', 'paper'), ('ssim', 'ours')]].isna().sum().tolist() == [1, 3]
    assert list(metrics.beside(ours, paper, names=('we', 'they')).columns)[:2] == [('acc', 'we'), ('acc', 'they')]


def test_scaled_changes_units_only():
    ci = Interval(0.5, 0.25, 0.75, 40, 0.9).scaled(100)
    assert (ci.est, ci.lo, ci.hi, ci.n, ci.level) == (50., 25., 75., 40, 0.9)


def test_competence_gate_says_what_passed_and_what_failed(capsys, not_dry):
    metrics.competence_gate(True, 'the attack beats chance')
    assert capsys.readouterr().out == 'competence gate passed: the attack beats chance\n'
    with pytest.raises(CompetenceGateError, match='^competence gate failed: a weak attack'): metrics.competence_gate(False, 'a weak attack')


def test_competence_gate_in_a_paper_dry_run(capsys, monkeypatch):
    "A dry run reports a failed gate without enforcing it; a passed gate is reported as passed."
    monkeypatch.setenv(DRY_ENV, '1')
    metrics.competence_gate(False, 'a weak attack')
    out = capsys.readouterr().out
    assert 'competence gate failed in a paper dry run' in out and out.rstrip().endswith('a weak attack')
    metrics.competence_gate(True, 'a strong attack')
    assert capsys.readouterr().out == 'competence gate passed: a strong attack\n'


def test_claim_defaults_compare_with_zero_and_no_band(rec, tmp_path):
    assert metrics.claim(rec, 'above zero', CI, '>') == 'reproduced'  # than=0; against 1 it would not be
    assert metrics.claim(rec, 'about zero', Interval(0.05, 0.01, 0.09, 10), '~') == 'not reproduced'  # tol=0
    r = rows(tmp_path, 'claim')
    assert r.than.tolist() == [0., 0.] and r.tol.tolist() == [0., 0.]


def test_claim_uses_its_band_and_prints_its_line(rec, capsys):
    ci = Interval(0.05, 0.01, 0.09, 10)
    assert metrics.claim(rec, 'about 5%', ci, '~', 0.05, 0.1, paper=0.06) == 'reproduced'  # without tol: inconclusive
    out = capsys.readouterr().out
    assert out == metrics.claim_line('about 5%', ci, '~', 0.05, 0.1, 0.06) + '\n'
    assert out.startswith('about 5%: ours') and 'paper 0.06' in out and out.rstrip().endswith('REPRODUCED')


def test_gate_defaults_compare_with_zero_and_no_band(rec, tmp_path, not_dry):
    assert metrics.gate(rec, 'fooled rate above zero', CI, '>') is True  # than=0; against 1 it would fail
    with pytest.raises(CompetenceGateError):
        metrics.gate(rec, 'fooled rate about zero', Interval(0.05, 0.01, 0.09, 10), '~')  # tol=0
    r = rows(tmp_path, 'gate')
    assert r.than.tolist() == [0., 0.] and r.tol.tolist() == [0., 0.]


def test_gate_uses_its_band_records_its_row_and_says_why(rec, tmp_path, capsys, not_dry):
    assert metrics.gate(rec, 'near half', CI, '~', 0.5, 0.4, arch='cnn') is True  # without tol: it would fail
    r = rows(tmp_path, 'gate').iloc[0]
    assert (r.value, r.what, r.op, r.than, r.tol, r.passed, r.arch) == (0.5, 'near half', '~', 0.5, 0.4, True, 'cnn')
    assert (r.ci_low, r.ci_high, r.n, r.ci_level) == (0.2, 0.8, 10, 0.95)
    assert capsys.readouterr().out == f'competence gate passed: near half: ours {CI} (n=10), gate ~ 0.5\n'


def pairs(both, only_a, only_b, neither):
    "Paired 0/1 outcomes with these counts of (1, 1), (1, 0), (0, 1) and (0, 0) pairs."
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither)
    return a, b

def unpaired_newcombe(a, b):
    "Newcombe's hybrid score interval for independent samples (Wilson intervals combined, no correlation term)."
    (p1, l1, u1), (p2, l2, u2) = [(c.est, c.lo, c.hi) for c in (metrics.proportion_ci(a), metrics.proportion_ci(b))]
    return p1 - p2 - np.hypot(p1 - l1, u2 - p2), p1 - p2 + np.hypot(p2 - l2, u1 - p1)


@pytest.mark.parametrize('counts', [(10, 3, 1, 10), (5, 4, 2, 5), (2, 6, 1, 3), (0, 3, 3, 0)])
def test_proportion_diff_is_antisymmetric(counts):
    "Swapping the conditions negates the difference and mirrors its interval."
    a, b = pairs(*counts)
    ab, ba = metrics.proportion_diff(a, b), metrics.proportion_diff(b, a)
    assert ab.level == 0.95 and ab.n == len(a) and ab.est == pytest.approx((a.mean() - b.mean()))
    assert (ba.est, ba.lo, ba.hi) == pytest.approx((-ab.est, -ab.hi, -ab.lo), abs=1e-12)


def test_proportion_diff_uses_the_pairing_only_above_newcombes_correction():
    # ad - bc = 17 > n/2 = 8: positively correlated pairs give a narrower interval than independent samples would
    a, b = pairs(5, 4, 2, 5)
    ci, (lo, hi) = metrics.proportion_diff(a, b), unpaired_newcombe(a, b)
    assert ci.lo > lo + 1e-3 and ci.hi < hi - 1e-3
    # ad - bc = 25 - 24 = 1 <= n/2: Newcombe's correction sets the correlation to 0, the independent-samples interval
    a, b = pairs(5, 6, 4, 5)
    ci = metrics.proportion_diff(a, b)
    assert (ci.lo, ci.hi) == pytest.approx(unpaired_newcombe(a, b), abs=1e-12)


def test_proportion_diff_refuses_outcomes_that_are_not_0_1_by_name():
    with pytest.raises(ValueError, match='^a: expected 0/1'): metrics.proportion_diff([0, 2, 1], [0, 1, 1])
    with pytest.raises(ValueError, match='^b: expected 0/1'): metrics.proportion_diff([0, 1, 1], [0.5, 1, 1])


def test_bootstrap_diff_gives_paired_0_1_outcomes_the_score_interval():
    a, b = pairs(5, 4, 2, 5)
    ci, score = metrics.bootstrap_diff(a, b), metrics.proportion_diff(a, b)
    assert (ci.est, ci.lo, ci.hi, ci.n) == (score.est, score.lo, score.hi, score.n)
    a, b = pairs(0, 0, 0, 12)                                      # no discordant pair: still an interval of non-zero width
    assert metrics.bootstrap_diff(a, b).hi > 0.05


def test_equivalence_says_which_level_it_needs():
    with pytest.raises(ValueError, match=r'^ci_or_diffs: expected an interval at level 1 - 2\*alpha = 0\.9, got level 0\.95'):
        metrics.equivalence(Interval(0., -0.1, 0.1, 10, 0.95), 0.2)
    with pytest.raises(ValueError, match=r'1 - 2\*alpha = 0\.8, got level 0\.9'): metrics.equivalence(Interval(0., -0.1, 0.1, 10, 0.9), 0.2, alpha=0.1)


@pytest.mark.parametrize('side, window', [(8, 7), (10, 9)])
def test_ssim_default_window_fits_small_images(side, window):
    import warnings
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, side, side, generator=g)
    b = (a + 0.1 * torch.rand(a.shape, generator=g)).clamp(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter('error')                             # pytorch-msssim warns when a window does not fit and skips smoothing
        s = metrics.ssim(a, b)
    assert torch.equal(s, metrics.ssim(a, b, win_size=window)) and torch.equal(metrics.dssim(a, b), (1 - s) / 2)


def test_recorded_rows_print_their_words_and_reasons(rec, tmp_path, capsys):
    metrics.hypothesis(rec, 'a stronger attacker breaks it', CI, '>')
    metrics.untestable(rec, 'seeds differ', 'one seed only', kind='hypothesis')
    rec.log('claim', CI.est, claim='2-px success rate is about 50%', op='~', than=0.5, tol=0.4, verdict='reproduced', **CI.params())
    capsys.readouterr()
    df = read_results(tmp_path)
    metrics.recorded_hypotheses(df, show=True)
    assert capsys.readouterr().out == f'hypothesis: a stronger attacker breaks it: ours {CI} (n=10) -> SUPPORTED\nseeds differ: UNTESTABLE (one seed only)\n'
    metrics.recorded_claims(df, show=True)
    assert capsys.readouterr().out.startswith('2-px success rate is about 50%: ours')


def test_proportion_ci_with_groups_is_the_hull_of_wilson_and_the_two_level_bootstrap():
    g = np.repeat(np.arange(10), 3)
    v = ((np.arange(30) % 3 == 0) | (g < 3)).astype(float)
    ci, w, b = metrics.proportion_ci(v, groups=g), metrics.proportion_ci(v), metrics.bootstrap_ci(v, g)
    assert (ci.lo, ci.hi) == (min(w.lo, b.lo), max(w.hi, b.hi)) and ci.lo == b.lo < w.lo
    assert metrics.proportion_ci(np.ones(30), groups=g).lo == metrics.proportion_ci(30, 30).lo
    with pytest.raises(TypeError, match='^groups: '): metrics.proportion_ci(3, 10, groups=[0, 1])


@pytest.mark.parametrize('bad', [1, 1.5, 0, -0.5])
def test_confidence_levels_outside_0_1_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=r'^level: expected a confidence level in \(0, 1\)'): metrics.proportion_ci(3, 10, level=bad)
    with pytest.raises(ValueError, match=r'^level: expected a confidence level in \(0, 1\)'): metrics.bootstrap_ci(np.arange(10.), level=bad)


def test_claim_records_what_identifies_its_row(rec, tmp_path):
    metrics.claim(rec, 'above zero', CI, '>', dataset='mnist', table='II')
    r = rows(tmp_path, 'claim').iloc[0]
    assert (r.dataset, r.table, r.verdict) == ('mnist', 'II', 'reproduced')


def test_psnr_is_per_image_in_decibels():
    "PSNR = 10 log10(1 / MSE) for data range 1, one value per image."
    a = torch.full((3, 1, 4, 4), 0.5)
    b = a + torch.tensor([0.1, 0.25, 0.5]).view(3, 1, 1, 1)                # MSE 0.01, 1/16, 1/4
    assert np.allclose(metrics.psnr(a, b).numpy(), [20., 10 * np.log10(16), 10 * np.log10(4)], atol=1e-4)
    with pytest.raises(ValueError, match='^b: expected the shape of a'): metrics.psnr(a, b[:2])


def test_verdict_about_an_interval_that_touches_the_band_is_inconclusive():
    "'~': reproduced inside the band, not reproduced only when the interval lies wholly outside it; touching it from either side is inconclusive."
    assert metrics.verdict(Interval(0.125, 0., 0.25, 10), '~', 0.5, 0.25) == 'inconclusive'      # hi = than - tol
    assert metrics.verdict(Interval(0.875, 0.75, 1., 10), '~', 0.5, 0.25) == 'inconclusive'      # lo = than + tol
    assert metrics.verdict(Interval(0.125, 0., 0.24, 10), '~', 0.5, 0.25) == 'not reproduced'
    assert metrics.verdict(Interval(0.875, 0.76, 1., 10), '~', 0.5, 0.25) == 'not reproduced'


# ---------------------------------------------------------------------------------------------- sample SEED=2's survivors
def test_claim_line_compares_with_than_and_its_band():
    "The verdict in the line is `verdict(ci, claim, than, tol)`: here above 0 but not clearly above 0.6, and within 0.5 +- 0.3."
    assert metrics.claim_line('above 0.6', CI, '>', 0.6) == f'above 0.6: ours {CI} (n=10) -> INCONCLUSIVE'
    assert metrics.claim_line('about half', CI, '~', 0.5, 0.3, paper=0.55) == f'about half: ours {CI} (n=10; paper 0.55) -> REPRODUCED'


def test_untestable_prints_the_claim_and_its_reason(rec, capsys):
    assert metrics.untestable(rec, 'seeds differ', 'one seed only') == 'untestable'
    assert capsys.readouterr().out == 'seeds differ: UNTESTABLE (one seed only)\n'


def test_recorded_claims_print_the_papers_number_again(rec, tmp_path, capsys):
    "`recorded_claims(show=True)` prints each claim's `claim_line` as `claim` printed it, the paper's number included."
    metrics.claim(rec, 'about 5%', Interval(0.05, 0.01, 0.09, 10), '~', 0.05, 0.1, paper=0.06)
    printed = capsys.readouterr().out
    assert '; paper 0.06' in printed
    c = metrics.recorded_claims(read_results(tmp_path), show=True)
    assert capsys.readouterr().out == printed and c.verdict_recomputed.tolist() == ['reproduced']


def test_check_level_bounds_of_n_boot_are_inclusive():
    for ok in (100, 10**6): metrics._check_level(0.95, ok)
    for bad in (99, 10**6 + 1):
        with pytest.raises(ValueError, match='^n_boot'): metrics._check_level(0.95, bad)


def test_bootstrap_diff_checks_n_boot():
    for paired in (True, False):
        with pytest.raises(ValueError, match='^n_boot'): metrics.bootstrap_diff([.3, .1, .7], [.2, .5, .4], paired=paired, n_boot=5)


def test_capped_ratio_ci_names_k_b():
    with pytest.raises(ValueError, match='^k_b: expected at least one success'): metrics.capped_ratio_ci(3, 0, 10)


def test_claim_line_default_tolerance_is_zero():
    "0.5 [0.2, 0.8] ~ 0.5 is inconclusive with no band around 0.5 (a band of 1 would hold the whole interval)."
    assert metrics.claim_line('x', CI, '~', 0.5).endswith('-> INCONCLUSIVE')
    assert metrics.claim_line('x', CI, '~', 0.5, 1.).endswith('-> REPRODUCED')


def test_linf_is_per_image():
    a = torch.full((3, 1, 2, 2), 0.5)
    b = a.clone(); b[0, 0, 0, 0] = 1.; b[2, 0, 1, 1] = 0.25
    assert torch.equal(metrics.linf(a, b), torch.tensor([0.5, 0., 0.25]))


def test_proportion_ci_bootstrap_uses_its_seed():
    v = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0] * 3, bool)
    groups = np.repeat(np.arange(6), 6)
    a, b = (metrics.proportion_ci(v, groups=groups, seed=s, n_boot=200) for s in (0, 1))
    assert metrics.proportion_ci(v, groups=groups, n_boot=200) == a and (a.lo, a.hi) != (b.lo, b.hi)


# ---------------------------------------------------------------------------------------------- sample of surv-metrics.txt
def test_bootstrap_diff_unpaired_interval_surrounds_the_difference_of_means():
    "Unpaired: the interval of mean(a) - mean(b) holds the estimate, and every resampled difference lies in [min a - max b, max a - min b]."
    a, b = 1 + np.arange(10.) / 10, np.arange(12.) / 10                # means 1.45 and 0.55: difference 0.9
    ci = metrics.bootstrap_diff(a, b, paired=False)
    assert ci.est == pytest.approx(0.9) and ci.n == 22 and ci.level == 0.95
    assert a.min() - b.max() <= ci.lo < 0.9 < ci.hi <= a.max() - b.min()


def test_bootstrap_ci_is_reproducible_from_its_seed():
    "The same data and `seed` give the same interval; another seed resamples differently."
    v = np.arange(20.) ** 2
    ci = metrics.bootstrap_ci(v)
    assert metrics.bootstrap_ci(v, seed=0) == ci and metrics.bootstrap_ci(v, seed=1) != ci
    assert ci.lo < v.mean() < ci.hi


def test_proportion_ci_with_groups_defaults_to_2000_resamples():
    "`n_boot` defaults to 2000 (the signature), as in `bootstrap_ci`: the hull uses the same two-level bootstrap."
    g = np.repeat(np.arange(10), 20)
    v = (np.tile(np.arange(20), 10) < g**2 / 5).astype(float)          # group i: ceil(i^2 / 5) of its 20 outcomes are 1
    ci, w, b = metrics.proportion_ci(v, groups=g), metrics.proportion_ci(v), metrics.bootstrap_ci(v, g)
    assert ci == metrics.proportion_ci(v, groups=g, n_boot=2000)
    # the groups differ far more than independent outcomes would: both ends of the hull are the bootstrap's
    assert (ci.lo, ci.hi) == (b.lo, b.hi) and b.lo < w.lo and b.hi > w.hi


def test_capped_ratio_ci_combines_bonferroni_wilson_intervals():
    "Docstring: Wilson intervals at level 1 - (1 - level)/2 each (0.975 for 95%), then lower / upper and upper / lower."
    ci = metrics.capped_ratio_ci(30, 40, 50)
    a, b = metrics.proportion_ci(30, 50, level=0.975), metrics.proportion_ci(40, 50, level=0.975)
    assert ci.est == pytest.approx(0.75) and (ci.n, ci.level) == (50, 0.95)
    assert ci.lo == pytest.approx(a.lo / b.hi, abs=1e-12) and ci.hi == pytest.approx(min(a.hi / b.lo, 1.), abs=1e-12)
    ci = metrics.capped_ratio_ci(20, 40, 50, level=0.9)                 # 0.95 each
    a, b = metrics.proportion_ci(20, 50, level=0.95), metrics.proportion_ci(40, 50, level=0.95)
    assert ci.lo == pytest.approx(a.lo / b.hi, abs=1e-12) and a.hi / b.lo < 1 and ci.hi == pytest.approx(a.hi / b.lo, abs=1e-12)


def test_capped_ratio_ci_caps_estimate_and_interval_at_1():
    "min(k_a / k_b, 1): A above B gives estimate 1 and an interval inside [0, 1]."
    ci = metrics.capped_ratio_ci(500, 490, 500)
    assert ci.est == 1. and ci.hi == 1. and 0.95 < ci.lo <= 1.


def test_effect_verdict_widened_interval_includes_its_ends():
    "The paper's value exactly at an end of `ci` widened by `tol` lies in it (a closed interval): reproduced, since `ci` excludes 0."
    ci = Interval(0.5, 0.25, 0.75, 10)
    assert metrics.effect_verdict(ci, paper=0.125, tol=0.125) == 'reproduced'    # lo - tol
    assert metrics.effect_verdict(ci, paper=0.875, tol=0.125) == 'reproduced'    # hi + tol
    assert metrics.effect_verdict(ci, paper=0.25) == 'reproduced'                # lo, tol = 0
    assert metrics.effect_verdict(ci, paper=0.1, tol=0.125) == 'not reproduced'


def test_level_of_a_wrong_type_is_refused_with_the_type_it_got():
    with pytest.raises(TypeError, match=r'^level: expected a number in \(0, 1\), got str'): metrics.proportion_ci(3, 10, level='0.9')
    with pytest.raises(TypeError, match=r'^level: expected a number in \(0, 1\), got list'): metrics.bootstrap_ci([1., 2.], level=[0.9])


def test_confidence_distortion_refuses_non_tensors_with_the_type_it_got():
    p = torch.full((2, 2), 0.5)
    with pytest.raises(TypeError, match=r'^q: expected a tensor of probability vectors N x K, got list'): metrics.confidence_distortion(p, [[.5, .5]] * 2)
    with pytest.raises(TypeError, match=r'^p: expected a tensor of probability vectors N x K, got ndarray'): metrics.confidence_distortion(p.numpy(), p)


def test_proportion_diff_says_pairs_need_as_many_outcomes():
    with pytest.raises(ValueError, match=r'^b: paired outcomes need as many values as a \(2\), got 3'): metrics.proportion_diff([0, 1], [0, 1, 1])


# ---------------------------------------------------------------------------------------------- sample of surv78-metrics.txt
def test_proportion_diff_reproduces_the_published_newcombe_interval():
    """Fagerland, Lydersen and Laake, *Statistical Analysis of Contingency Tables* (2017), Sec. 8 (Cavo et al. 2012), as in
    the notebook: 59 (1, 1), 6 (1, 0), 16 (0, 1), 80 (0, 0) pairs give -0.0621 [-0.1186, -0.0046] (Newcombe's square-and-add).
    ad - bc = 4624 > n/2 = 80.5: the correlation term is Newcombe's corrected (ad - bc - n/2) / sqrt(...)."""
    a, b = pairs(59, 6, 16, 80)
    ci = metrics.proportion_diff(a, b)
    assert (ci.est, ci.lo, ci.hi) == pytest.approx((-0.0621, -0.1186, -0.0046), abs=5e-5) and ci.n == 161


def test_accuracy_of_predicted_labels():
    "`pred` may be predicted labels N (docment) as well as logits N x K: the fraction equal to `y`."
    y = torch.tensor([0, 1, 1, 2])
    assert metrics.accuracy(torch.tensor([0, 1, 2, 2]), y) == 0.75
    assert metrics.accuracy(torch.tensor([[2., 1, 0], [0, 3, 1], [0, 0, 1], [0, 1, 2]]), y) == 0.75   # argmax 0, 1, 2, 2


def test_bootstrap_diff_refuses_groups_when_unpaired_by_name():
    with pytest.raises(ValueError, match=r'^groups: only supported with paired=True'):
        metrics.bootstrap_diff([0.1, 0.2], [0.3, 0.4, 0.5], paired=False, groups=[0, 1])


def test_bootstrap_diff_unpaired_interval_is_the_central_level_of_the_resampled_differences():
    """Percentile bootstrap: the ends are the (1 - level)/2 and (1 + level)/2 quantiles of the resampled differences.
    a = [0, 1] against b = [0]: the resampled mean of a is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so the central
    40% (quantiles 0.3 and 0.7) is the single point 0.5, while the central 95% reaches both 0 and 1."""
    ci = metrics.bootstrap_diff([0., 1.], [0.], paired=False, level=0.4)
    assert (ci.est, ci.lo, ci.hi, ci.n, ci.level) == (0.5, 0.5, 0.5, 3, 0.4)
    ci = metrics.bootstrap_diff([0., 1.], [0.], paired=False)
    assert (ci.lo, ci.hi) == (0., 1.)


def test_equivalence_hands_n_boot_to_the_bootstrap():
    "`n_boot` of `equivalence` is the bootstrap's: a count outside [100, 10**6] is refused by name, not replaced by the default."
    with pytest.raises(ValueError, match=r'^n_boot: expected an int in \[100, 10\*\*6\], got 50'):
        metrics.equivalence([0.01, -0.02, 0.03, 0.0], 0.1, n_boot=50)


def test_proportion_diff_with_groups_is_the_hull_of_newcombe_and_the_two_level_bootstrap():
    """With `groups`, the interval is the hull of the score interval and the two-level bootstrap of the differences
    (seeds, then pairs within them; notebook), with `n_boot` defaulting to 2000 (the signature)."""
    sizes = np.arange(5, 15)                                           # group j: 5 + j pairs, so the resampled means
    g, i = np.repeat(np.arange(10), sizes), np.concatenate([np.arange(s) for s in sizes])   # do not all share one grid
    a, b = (i < g**2 / 8).astype(float), (i < 3).astype(float)         # group j: ceil(j^2 / 8) successes under A, 3 under B
    ci, score, boot = metrics.proportion_diff(a, b, groups=g), metrics.proportion_diff(a, b), metrics.bootstrap_ci(a - b, g)
    assert ci == metrics.proportion_diff(a, b, groups=g, n_boot=2000) and ci.est == score.est
    # the groups differ far more than independent pairs would: both ends of the hull are the two-level bootstrap's
    assert (ci.lo, ci.hi) == (boot.lo, boot.hi) and boot.lo < score.lo and boot.hi > score.hi


def test_verdict_defaults_compare_with_zero():
    "`than` defaults to 0 (the signature): an interval above 0 but below 1 is 'reproduced' for '>' and 'not reproduced' for '<'."
    assert metrics.verdict(CI, '>') == 'reproduced' and metrics.verdict(CI, '<') == 'not reproduced'
    assert metrics.verdict(Interval(-0.5, -0.8, -0.2, 10), '<') == 'reproduced'


def test_recorded_claims_are_the_recorded_rows_plus_the_recomputed_verdict(rec, tmp_path):
    "The rows come back with the recorded columns, one added (`verdict_recomputed`), numbered from 0."
    metrics.hypothesis(rec, 'a stronger attacker breaks it', CI, '>')
    metrics.claim(rec, 'above zero', CI, '>')
    metrics.claim(rec, 'below zero', CI, '<')
    df = read_results(tmp_path)
    for out, metric in ((metrics.recorded_claims(df), 'claim'), (metrics.recorded_hypotheses(df), 'hypothesis')):
        assert list(out.columns) == list(df.columns) + ['verdict_recomputed'] and list(out.index) == list(range(len(out)))
        assert out.metric.eq(metric).all()
    assert metrics.recorded_claims(df).verdict_recomputed.tolist() == ['reproduced', 'not reproduced']


def test_bootstrap_ci_of_constant_values_is_exactly_the_value():
    """No spread, no interval: constant measurements give [c, c] at the estimate itself (no rounding of resampled means,
    notebook: a percentile bootstrap collapses to a point), so a constant 0.21 is 'not reproduced' below 0.21 and
    'reproduced' within a zero band around it."""
    for c in (0.21, 0.33, 0.42):
        ci = metrics.bootstrap_ci(np.full(200, c))
        assert ci.est == pytest.approx(c) and ci.lo == ci.est == ci.hi and ci.n == 200
        assert metrics.verdict(ci, '<', ci.est) == 'not reproduced' and metrics.verdict(ci, '~', ci.est) == 'reproduced'
