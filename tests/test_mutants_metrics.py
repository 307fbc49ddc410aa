"Behavioural tests of privbook.metrics written against the mutants that `make mutants` found surviving (docs/mutants.md)."
import numpy as np, pandas as pd, pytest
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
