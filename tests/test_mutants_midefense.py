"Behavioural tests of privbook.midefense (Wen, Yiu and Hui's defence, its MID / PPF baselines and the experiment set-up) written against the mutants that `make mutants` found untested (docs/mutants.md)."
import math
import numpy as np, pytest, torch, torch.nn as nn, torch.nn.functional as F
from types import SimpleNamespace
from torch.utils.data import TensorDataset
from privbook import midefense as M
from privbook.core import DRY_ENV

torch.set_num_threads(1)
K = 4
REAL_LOAD = M.pdata.load


def _images(n, seed, size=32):
    "n distinct images in [0,1] whose class (i % 10) is a bright block; every image differs from every other."
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = 0.2 * torch.rand(n, 1, size, size, generator=g)
    for i, c in enumerate(y.tolist()): x[i, 0, (c // 5) * (size // 2):(c // 5 + 1) * (size // 2), (c % 5) * (size // 5):(c % 5 + 1) * (size // 5)] += 0.8
    return x, y


def fake_load(name, split='train', root=None, size=None, channels=None, image_size=None, **kw):
    "Stand-in for `privbook.data.load`: tiny synthetic MNIST / mnist5k / Olivetti; image folders are read for real."
    if name.startswith('imagefolder:'): return REAL_LOAD(name, split, root=root, channels=channels, image_size=image_size, **kw)
    if split not in ('train', 'test', 'all'): raise ValueError(f"split: expected 'train', 'test' or 'all', got {split!r}")
    if name == 'mnist': return TensorDataset(*_images(80 if split == 'train' else 30, 0 if split == 'train' else 1, image_size or 28))
    if name == 'mnist5k': return TensorDataset(*_images(100, 2, image_size or 28))
    if name == 'olivetti':
        x = torch.rand(400, 1, 64, 64, generator=torch.Generator().manual_seed(3))
        return TensorDataset(x, torch.arange(40).repeat_interleave(10))
    raise ValueError(f"name: unknown dataset {name!r}")


TINY = dict(n_private=40, n_aux=None, n_val=10, n_eval=20, ndf=2, ngf=2, clf_epochs=1, att_epochs=2, inv_epochs=2, bs=32, n_ft=24)


@pytest.fixture(scope='module')
def dom(tmp_path_factory):
    "A digits domain at smoke scale on the synthetic MNIST, models cached in a temporary folder."
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('PRIVBOOK_CACHE', str(tmp_path_factory.mktemp('cache')))
        mp.delenv(DRY_ENV, raising=False)
        mp.setattr(M.pdata, 'load', fake_load)
        torch.manual_seed(0)
        yield M.setup_domain('digits', 'smoke', data_root=str(tmp_path_factory.mktemp('data')), **TINY)


def _rows_in(a, b):
    "Which rows (images) of `a` also occur in `b`."
    return (a.flatten(1)[:, None] == b.flatten(1)[None]).all(2).any(1)


def test_setup_domain_splits_and_models(dom):
    d = dom
    assert d.num_classes == 10 and d.image_size == 32
    assert len(d.private[0]) == 40 and len(d.aux[0]) + len(d.aux_val[0]) == 40 and len(d.aux_val[0]) == 10 and len(d.eval[0]) == 20
    assert not _rows_in(d.private[0], torch.cat([d.aux[0], d.aux_val[0]])).any()   # every training image is private or auxiliary
    assert not _rows_in(d.aux_val[0], d.aux[0]).any()
    assert isinstance(d.classifier, M.Classifier) and d.classifier.input_shape == (1, 32, 32)
    assert d.attacker.hidden == M.attacker_hidden(32) and d.defender.hidden == M.defender_hidden(32)
    assert d.defender.decoder[0].out_channels == TINY['ngf']   # the defender's width defaults to the attacker's ngf
    assert d.aux_logits.shape == (30, 10) and d.oracle_means.shape == (10, 1, 32, 32)


def test_mnist5k_evaluation_split_is_seeded_and_stratified(monkeypatch):
    monkeypatch.setattr(M.pdata, 'load', fake_load)
    sz = {**M.SIZES['digits']['smoke'], **TINY}
    a, a2, b = (M._digits('smoke', None, s, sz, 'mnist5k') for s in (0, 0, 1))
    assert torch.equal(a[2][0], a2[2][0])                            # the same seed, the same held-out split
    assert not torch.equal(a[2][0], b[2][0])                         # another seed, another held-out split
    for priv, aux, (xe, ye), k, note in (a, b):
        assert k == 10 and note.startswith('mnist5k') and len(xe) == 20
        assert torch.equal(torch.bincount(ye, minlength=10), torch.full((10,), 2))   # 20% of every class (10 each)
        assert not _rows_in(xe, torch.cat([priv[0], aux[0]])).any()


def _folders(root, people, per, size, mode='RGB'):
    from PIL import Image
    rng = np.random.default_rng(len(str(root)))
    for p in range(people):
        (root / f'p{p}').mkdir(parents=True)
        for i in range(per): Image.fromarray(rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8), mode).save(root / f'p{p}' / f'{i}.png')
    return str(root)


def test_faces_at_paper_scale_read_facescrub_and_celeba_folders(tmp_path, monkeypatch):
    monkeypatch.setenv('PRIVBOOK_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv(DRY_ENV, raising=False)
    fs, cb = _folders(tmp_path / 'fs', 3, 5, (20, 24)), _folders(tmp_path / 'cb', 2, 4, (24, 20))
    with pytest.raises(FileNotFoundError, match='^root:.*facescrub_root and celeba_root'): M.setup_domain('faces', 'paper', facescrub_root=fs)
    d = M.setup_domain('faces', 'paper', facescrub_root=fs, celeba_root=cb, defender=False, n_val=2, ndf=2, ngf=2,
                       clf_epochs=1, att_epochs=1, inv_epochs=1, bs=8)
    assert d.num_classes == 3 and d.note.startswith('FaceScrub private, CelebA auxiliary')
    assert d.private[0].shape == (12, 1, 64, 64) and d.eval[0].shape == (3, 1, 64, 64)   # FaceScrub: 80/20 of each person, grey 64x64
    assert torch.equal(d.eval[1].sort().values, torch.arange(3))
    assert d.aux[0].shape == (6, 1, 64, 64) and d.aux_val[0].shape == (2, 1, 64, 64)  # CelebA: all 8 images, grey 64x64
    assert d.defender is None


def test_olivetti_split_people_and_note(monkeypatch):
    monkeypatch.setattr(M.pdata, 'load', fake_load)
    (xp, yp), (xa, ya), (xe, ye), k, note = M._faces('smoke', None, 0, M.SIZES['faces']['smoke'])
    assert k == 30 and len(xp) == 210 and len(xe) == 90 and len(xa) == 100
    assert set(yp.tolist()) == set(ye.tolist()) == set(range(30)) and set(ya.tolist()) == set(range(30, 40))
    assert not _rows_in(xe, xp).any()
    assert note.startswith('Olivetti: people 0-29 private (images 0-6 train, 7-9 evaluation); people 30-39 auxiliary')


def _m(recon, nll, n=30):
    return dict(recon=torch.as_tensor(recon, dtype=torch.float64), conf=torch.zeros(n, dtype=torch.float64),
                logit=torch.full((n,), float('nan'), dtype=torch.float64), correct=torch.ones(n, dtype=torch.float64),
                nll=torch.as_tensor(nll, dtype=torch.float64))


def test_summarize_ratio_ar_and_log_loss_change():
    g = torch.Generator().manual_seed(0)
    none, orc = 1 + torch.rand(30, generator=g), 3 + torch.rand(30, generator=g)
    dfd, nll0, nll1 = 2 + torch.rand(30, generator=g), torch.rand(30, generator=g), 1 + torch.rand(30, generator=g)
    rows = {'None': _m(none, nll0), 'oracle': _m(orc, nll0), 'ours': _m(dfd, nll1)}
    t = M.summarize(rows, np.repeat([0, 1, 2], 10), oracle='oracle', n_boot=100)
    r = t.loc['ours']
    assert math.isclose(r.ratio, dfd.mean() / none.mean(), rel_tol=1e-6)
    ci = M.ratio_ci(dfd, none, np.repeat([0, 1, 2], 10), n_boot=100)      # two-level: the seeds, then the images
    assert (r.ratio_lo, r.ratio_hi) == pytest.approx((ci.lo, ci.hi))
    assert math.isclose(r.ar, (dfd.mean() - none.mean()) / (orc.mean() - none.mean()), rel_tol=1e-6)
    assert math.isclose(r.d_nll, (nll1 - nll0).mean(), rel_tol=1e-6) and r.d_nll_lo <= r.d_nll <= r.d_nll_hi
    assert np.isnan(t.loc['None', 'd_nll']) and np.isnan(t.loc['None', 'ar']) and np.isnan(t.loc['oracle', 'ar'])
    assert np.isnan(r.logit_dist) and r.accuracy == 100 and r.n == 30


def test_ratio_ci_errors_name_the_argument():
    with pytest.raises(ValueError, match=r'^b: expected as many values as a \(3\), got 2'): M.ratio_ci([1., 2., 3.], [1., 2.])
    with pytest.raises(ValueError, match='^a: a and b must be finite'): M.ratio_ci([1., float('nan')], [1., 2.])


def test_two_classes_tied_logits_get_the_margin():
    c0 = torch.zeros(8, 2, dtype=torch.float64)                     # every row ties: the label is class 0
    q, c = M.defend_logits(c0, nn.Sequential(nn.Linear(2, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8))).double(),
                           x=torch.rand(8, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)),
                           steps=2, step_size=0.5, eps=1.0, return_logits=True)
    assert ((c[:, 0] - c[:, 1]) >= M.TIE_MARGIN * (1 - 1e-6)).all()  # strictly above by TIE_MARGIN in the logits
    assert (q.argmax(1) == 0).all() and (torch.linalg.vector_norm(c - c0, ord=1, dim=1) <= 1 + 1e-9).all()


def test_inversion_truncation_uses_only_the_top_entries():
    inv = M.Inversion(6, 1, 8, ngf=4, hidden=1, truncation=2).eval()
    p = torch.softmax(torch.tensor([[5., 4., 0., -1., -2., 1.]]), 1)
    p2 = p.clone(); p2[0, 2:] = p2[0, 2:].flip(0)                    # shuffle the entries outside the top 2
    with torch.no_grad(): a, b = inv(p), inv(p2)
    assert a.shape == (1, 1, 8, 8) and torch.allclose(a, b)


def test_mlp_inversion_shape_range_and_bad_input():
    torch.manual_seed(0)
    m = M.MLPInversion(K, 1, 8, width=16).eval()
    out = m(torch.softmax(torch.randn(5, K), 1))
    assert out.shape == (5, 1, 8, 8) and ((out > 0) & (out < 1)).all()
    with pytest.raises(ValueError, match='^p: expected confidence vectors N x 4'): m(torch.rand(5, K, 1))
    with pytest.raises(ValueError, match='^p:'): m(torch.rand(5, K + 1))


def test_purifier_releases_probabilities_and_keeps_the_label_when_asked():
    torch.manual_seed(0)
    P = M.Purifier(K, hidden=8).eval()
    p = torch.softmax(torch.randn(16, K) * 3, 1)
    assert P(p).shape == (16, K) and torch.isfinite(P(torch.eye(K))).all()   # zero confidences are fine (log clamped)
    q = P.purify(p, label_modifier=True)
    assert torch.allclose(q.sum(1), torch.ones(16)) and torch.equal(q.argmax(1), p.argmax(1))
    assert P.net[3].out_features == max(2, K // 2)                    # the bottleneck


class FixedAdversary(nn.Module):
    "An inversion model that cannot learn: a fixed map from confidence vectors to 8x8 images (its parameter has no effect)."
    def __init__(self):
        super().__init__()
        self.register_buffer('w', torch.randn(K, 64, generator=torch.Generator().manual_seed(1)) * 3)
        self.dummy = nn.Parameter(torch.zeros(()))
    def forward(self, q): return torch.sigmoid(q @ self.w + 0 * self.dummy).view(-1, 1, 8, 8)


def test_ppf_privacy_weight_raises_the_adversary_error():
    x = torch.rand(128, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    clf, A = nn.Sequential(nn.Flatten(), nn.Linear(64, K)), FixedAdversary()
    p0 = torch.softmax(M.logits_of(clf, x), 1)
    err = {lam: M.reconstruction_mse(A, M.train_ppf(clf, x, A, lam=lam, epochs=30, lr=1e-2, batch_size=128, hidden=16).purify(p0), x)
           for lam in (0.0, 10.0)}
    assert err[10.0] > err[0.0] + 0.01   # the purifier maximizes the adversary's reconstruction error


def test_vib_classifier_and_train_mid(capsys):
    x, y = _images(64, 5, 16)
    torch.manual_seed(0)
    m = M.VIBClassifier(10, 1, 16, ndf=4)
    out = m.eval()(x)
    assert out.shape == (64, 10) and m.kl.shape == (64,) and (m.kl >= 0).all()
    m = M.train_mid(m, TensorDataset(x, y), beta=0.01, epochs=15, lr=1e-2, batch_size=32)
    assert not m.training and (m(x).argmax(1) == y).float().mean() > 0.5   # learns the (easy) classes
    assert capsys.readouterr().err == ''                                  # progress=False: no progress bar


def test_train_inversion_learns_and_trains_on_the_defense():
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, K))
    p0 = torch.softmax(M.logits_of(clf, x), 1)
    inv = M.Inversion(K, 1, 8, ngf=4, hidden=0)
    before = M.reconstruction_mse(inv, p0, x)
    M.train_inversion(inv, clf, x, epochs=10, lr=1e-2, batch_size=32)
    assert M.reconstruction_mse(inv, p0, x) < before
    seen = []
    M.train_inversion(M.Inversion(K, 1, 8, ngf=4, hidden=0), clf, x, epochs=1, defense=lambda xs, c: seen.append(len(xs)) or torch.softmax(c, 1))
    assert seen == [64]


def test_knn_attacker_over_the_auxiliary_outputs(dom):
    knn = M.knn_attacker(dom, k=3)
    assert knn.k == 3 and torch.equal(knn.x, dom.aux[0])               # the database: the auxiliary images and their outputs
    assert torch.allclose(knn.z, torch.log_softmax(dom.aux_logits, 1), atol=1e-5)
    adaptive = M.knn_attacker(dom, defense=lambda x, c: torch.softmax(c, 1), k=1)
    assert len(adaptive.x) == TINY['n_ft']


def test_strong_attacker_epochs(dom):
    a, b = M.strong_attacker(dom), M.strong_attacker(dom, epochs=1)
    assert isinstance(a, M.MLPInversion) and a.output_shape == (1, 32, 32)
    assert not torch.equal(a.mlp[0].weight, b.mlp[0].weight)           # one epoch is not the default two


def test_ppf_for_trains_against_a_defender_architecture(dom, monkeypatch):
    seen = {}
    def spy(classifier, aux_x, adversary, **kw):
        seen.update(kw, n=len(aux_x), hidden=adversary.hidden)
        return real(classifier, aux_x, adversary, **kw)
    real = M.train_ppf
    monkeypatch.setattr(M, 'train_ppf', spy)
    P = M.ppf_for(dom, lam=2.0, retrain=True)
    assert isinstance(P, M.Purifier) and P.net[-1].out_features == 10
    assert seen['hidden'] == M.defender_hidden(32) and seen['n'] == TINY['n_ft']
    assert seen['epochs'] == TINY['inv_epochs'] // 2 and seen['lam'] == 2.0


def test_gate_and_convergence_checks(dom):
    g = M.gate_check(dom)
    assert set(g) == {'inversion', 'mlp', 'knn', 'oracle', 'mean_aux', 'grey'} and all(v.shape == (20,) for v in g.values())
    c = M.convergence_check(dom, 'inversion')
    half = M.paper_attacker(dom, 1)
    pv = torch.softmax(M.logits_of(dom.classifier, dom.aux_val[0]), 1)
    assert c['epochs'] == 2 and math.isclose(c['mse_half'], M.reconstruction_mse(half, pv, dom.aux_val[0]), rel_tol=1e-6)
    assert math.isclose(c['change'], abs(c['mse_full'] - c['mse_half']) / c['mse_half'])
    assert c['g2'] == (c['change'] < M.GATE_CONVERGENCE)                  # G2: the attacker has converged


def test_digits_note_says_how_many_auxiliary_images(monkeypatch):
    monkeypatch.setattr(M.pdata, 'load', fake_load)
    sz = {**M.SIZES['digits']['smoke'], **TINY}
    for n_aux, says in ((None, 'auxiliary = all 40 of the 40 other training images'), (10, 'auxiliary = 10 of the 40 other training images')):
        priv, aux, ev, k, note = M._digits('smoke', None, 0, {**sz, 'n_aux': n_aux}, 'mnist')
        assert len(aux[0]) == (40 if n_aux is None else n_aux) and says in note


def test_digits_at_paper_scale_take_qmnist_test50k_as_auxiliary(monkeypatch):
    n = M.pdata.QMNIST_MNIST_TEST
    qx = torch.zeros(n + 6, 1, 28, 28); qx[n:] = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    qy = torch.arange(n + 6) % 10
    monkeypatch.setattr(M.pdata, 'load', lambda name, split='train', **kw: TensorDataset(qx, qy) if name == 'qmnist' else fake_load(name, split, **kw))
    priv, (xa, ya), ev, k, note = M._digits('paper', None, 0, dict(M.SIZES['digits']['paper']), 'mnist')
    assert xa.shape == (6, 1, 32, 32) and torch.equal(ya, qy[n:])      # only the digits after MNIST's test set, at 32x32
    assert xa.min() >= 0 and xa.max() <= 1 and xa.flatten(1).std(1).min() > 0
    assert note == "MNIST train private, QMNIST test50k auxiliary, MNIST test evaluation" and priv[0].shape == (40, 1, 32, 32)


def test_adaptive_attacker_is_fine_tuned_on_the_defended_api(dom):
    seen = []
    att = M.adaptive_attacker(dom, {'test': 'adaptive'}, defense=lambda x, c: seen.append(len(x)) or torch.softmax(c, 1), retrain=True)
    assert isinstance(att, M.Inversion) and att is not dom.attacker and not att.training
    assert seen == [TINY['n_ft']]                                     # queried once on its n_ft auxiliary images
    assert not torch.equal(att.decoder[0].weight, dom.attacker.decoder[0].weight)   # fine-tuned (a copy of the attacker)


def test_knn_convergence_check_needs_no_training(dom):
    c = M.convergence_check(dom, 'knn')
    assert c['attacker'] == 'knn' and c['epochs'] == 0 and c['change'] == 0.0 and c['g2'] is True and c['mse_half'] == c['mse_full']


class ConstantInversion(nn.Module):
    "An inversion model whose output does not depend on the confidence vector (zero gradient everywhere)."
    def forward(self, q): return torch.full((len(q), 1, 4, 4), 0.5, dtype=q.dtype) + 0 * q.sum(1)[:, None, None, None]


def test_defend_logits_random_start_draws_fair_signs():
    c0 = torch.zeros(200, 10, dtype=torch.float64)                   # label 0 everywhere; entries 1..9 only get the start's signs
    q, c = M.defend_logits(c0, ConstantInversion(), steps=1, step_size=0.5, eps=100.0, return_logits=True,
                           generator=torch.Generator().manual_seed(0))
    n = (c - c0)[:, 1:]
    assert torch.allclose(n.abs(), torch.full_like(n, 0.5))            # one sign step of size eta per entry
    assert abs((n > 0).double().mean().item() - 0.5) < 0.05            # +eta and -eta equally likely (1800 draws)


def test_evaluate_is_the_mean_of_measure():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 3, 0, 1])
    c0 = torch.randn(6, K, generator=g); c = c0 + torch.randn(6, K, generator=g)
    p0, p = torch.softmax(c0, 1), torch.softmax(c, 1)
    A = FixedAdversary()
    e, m = M.evaluate(A, x, y, p, p0, c, c0), M.measure(A, x, y, p, p0, c, c0)
    assert math.isclose(e['accuracy'], 100 * (p.argmax(1) == y).double().mean().item())
    assert torch.allclose(m['nll'], F.cross_entropy(c.double(), y, reduction='none'), atol=1e-6)   # log loss of the released vectors
    assert torch.equal(m['correct'], (p.argmax(1) == y).double())
    for col, key in (('accuracy', 'correct'), ('conf_dist', 'conf'), ('logit_dist', 'logit'), ('recon_mse', 'recon')):
        assert math.isclose(e[col], (100 if col == 'accuracy' else 1) * m[key].mean().item(), rel_tol=1e-5), col


def test_gate_figure_labels_the_seeds():
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    part = lambda s: {k: torch.full((4,), s + v, dtype=torch.float64) for k, v in (('inversion', .01), ('knn', .02), ('oracle', .05), ('mean_aux', .06), ('grey', .08))}
    fig = M.gate_figure({'digits': [part(0), part(.01)]})
    try:
        ax = fig.axes[0]
        assert list(ax.get_xticks()) == [0, 1] and [t.get_text() for t in ax.get_xticklabels()] == ['seed 0', 'seed 1']
    finally: plt.close(fig)


def test_gated_setups_at_smoke_scale_keep_every_attacker(dom, capsys):
    full, tab, parts = M.gated_setups('digits', 'smoke', [0], names=('knn',), **TINY)
    assert len(full) == 1 and len(parts) == 1 and list(tab.index) == ['knn']
    d = full[0]
    assert d.defender is not None and list(d.attacks) == ['knn'] and isinstance(d.attacks['knn'], M.KNNInversion)
    assert set(parts[0]) == {'knn', 'oracle', 'mean_aux', 'grey'} and 'the gate is not enforced' in capsys.readouterr().out


def test_gaussian_noise_default_scale_is_0_1():
    p = torch.softmax(torch.randn(50, K, generator=torch.Generator().manual_seed(0)), 1)
    a = M.postprocess(p, 'gaussian', generator=torch.Generator().manual_seed(1))
    b = M.gaussian_noise(p, 0.1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, M.gaussian_noise(p, 0.2, generator=torch.Generator().manual_seed(1)))


def test_matched_noise_rejects_negative_targets():
    with pytest.raises(ValueError, match=r'^target: expected 3 finite distortions >= 0'):
        M.matched_noise(torch.zeros(3, K), torch.tensor([0.1, -0.1, 0.2]))


def test_mid_for_trains_with_the_domains_seed(dom):
    torch.manual_seed(0)
    mid, att = M.mid_for(dom, retrain=True)
    assert isinstance(mid, M.VIBClassifier) and not mid.training and isinstance(att, M.Inversion) and att is not dom.attacker
    assert not torch.equal(att.decoder[0].weight, dom.attacker.decoder[0].weight)   # the attacker fine-tuned on MID's outputs
    other = SimpleNamespace(**{**vars(dom), 'key': {**dom.key, 'seed': 1}})
    torch.manual_seed(0)
    mid1, _ = M.mid_for(other, retrain=True)
    assert not torch.equal(mid.head.weight, mid1.head.weight)         # another seed: another batch order, another model


def test_ratio_ci_is_reproducible_with_its_seed():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(20, generator=g), 1 + torch.rand(20, generator=g)
    r0, r0b, r1 = M.ratio_ci(a, b, n_boot=200), M.ratio_ci(a, b, n_boot=200), M.ratio_ci(a, b, n_boot=200, seed=1)
    assert (r0.lo, r0.hi) == (r0b.lo, r0b.hi) and (r0.lo, r0.hi) != (r1.lo, r1.hi)


class Rec:
    def __init__(self): self.rows = []
    def log(self, name, value, **kw): self.rows.append((name, value, kw))


def test_record_logs_every_estimate_with_its_interval_and_n():
    g = torch.Generator().manual_seed(0)
    rows = {'None': _m(1 + torch.rand(30, generator=g), torch.rand(30, generator=g)), 'ours': _m(2 + torch.rand(30, generator=g), torch.rand(30, generator=g))}
    t = M.summarize(rows, np.repeat([0, 1, 2], 10), n_boot=100)
    rec = Rec()
    M.record(rec, t, domain='digits')
    got = {(kw['defense'], name) for name, _, kw in rec.rows}
    assert ('ours', 'ratio') in got and ('ours', 'd_nll') in got and ('None', 'recon_mse') in got and ('None', 'ar') not in got
    for name, v, kw in rec.rows:
        assert kw['n'] == 30 and kw['ci_level'] == 0.95 and kw['domain'] == 'digits' and kw['ci_low'] <= v <= kw['ci_high']
        assert v == t.loc[kw['defense'], name]


def test_train_inversion_constant_schedule_takes_full_adam_steps():
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    clf, inv = nn.Sequential(nn.Flatten(), nn.Linear(64, K)), M.Inversion(K, 1, 8, hidden=0)
    w0 = inv.decoder[1].weight.detach().clone()
    M.train_inversion(inv, clf, x, epochs=1, lr=1e-2, batch_size=16, schedule='constant')   # one batch: one step
    step = (inv.decoder[1].weight.detach() - w0).abs()
    assert math.isclose(step.max().item(), 1e-2, rel_tol=1e-3)        # Adam's first step: lr (sign of the gradient) per weight
    assert (step > 0.99e-2).float().mean() > 0.3                        # (saturated pixels' weights get ~no gradient)


def test_train_mid_defaults_to_two_epochs():
    x, y = _images(16, 6, 16)
    fit = lambda **kw: (torch.manual_seed(0), M.train_mid(M.VIBClassifier(10, 1, 16, ndf=2), TensorDataset(x, y), batch_size=8, **kw))[1]
    a, b, c = fit(), fit(epochs=2), fit(epochs=3)
    assert torch.equal(a.head.weight, b.head.weight) and not torch.equal(a.head.weight, c.head.weight)


def test_inversion_default_width_is_16():
    assert M.Inversion(K, 1, 8, hidden=1).decoder[0].out_channels == 16   # ngf: the last hidden layer's width
    assert M.Inversion(K, 1, 16, hidden=2).decoder[0].out_channels == 32


def test_purifier_batch_normalizes_every_hidden_layer():
    torch.manual_seed(0)
    P = M.Purifier(K, hidden=8).train()
    p = torch.softmax(torch.randn(16, K) * 3, 1)
    with torch.no_grad():
        out = P(p)
        for lin in [m for m in P.net if isinstance(m, nn.Linear)][:-1]:   # FC-BN-ReLU: a hidden FC layer's scale is normalized away
            lin.weight *= 5; lin.bias *= 5
            assert torch.allclose(P(p), out, atol=1e-3)   # up to BatchNorm's eps
            lin.weight /= 5; lin.bias /= 5


def test_matched_noise_returns_probability_vectors_that_match_the_logit_distortion():
    "The default control (space='logit') matches the L1 logit distortion and releases probability vectors, not logits."
    g = torch.Generator().manual_seed(0)
    c0 = torch.randn(6, 5, generator=g) * 3
    target = torch.full((6,), 2.0)
    q, noisy = M.matched_noise(c0, target, generator=torch.Generator().manual_seed(1), return_logits=True)
    assert (q >= 0).all() and torch.allclose(q.sum(1), torch.ones(6), atol=1e-5)
    assert torch.allclose(q, torch.softmax(noisy, 1), atol=1e-6)
    assert torch.allclose(M.logit_distortions(noisy, c0).double(), target.double(), atol=1e-3)


def test_knn_inversion_names_the_shape_it_expects():
    with pytest.raises(ValueError, match=r'^aux_probs: expected released confidence vectors N x K'): M.KNNInversion(torch.rand(5), torch.rand(5, 1, 8, 8))


# ---------------------------------------------------------------------------------------------- sample SEED=2's survivors
def test_mnist5k_is_refused_at_paper_scale():
    with pytest.raises(ValueError, match=r"^digits_data: 'mnist5k' .*scale='paper' needs MNIST"):
        M.setup_domain('digits', 'paper', digits_data='mnist5k')


def test_gate_table_passes_an_attacker_with_g1_unless_its_convergence_failed():
    "passed = G1 and G2 not failed: a converged attacker and one without a convergence check pass, a non-converged one fails."
    g = torch.Generator().manual_seed(0)
    gates = [{'oracle': 1 + torch.rand(30, generator=g), **{n: 0.3 * torch.rand(30, generator=g) for n in ('inversion', 'mlp', 'knn')}} for _ in range(2)]
    conv = {'inversion': dict(g2=True, epochs=4, change=0.01), 'knn': dict(g2=False, epochs=4, change=0.5)}
    t = M.gate_table(gates, conv)
    assert t.g1.tolist() == [True, True, True]                                         # rho about 0.9 on every seed
    assert t.passed.to_dict() == {'inversion': True, 'mlp': True, 'knn': False}
    assert t.g2.to_dict() == {'inversion': True, 'mlp': None, 'knn': False}


def test_adaptive_knn_database_is_the_adaptive_attackers_queries(dom, monkeypatch):
    "The kNN attacker against a defense holds the same `n_ft` auxiliary queries that `adaptive_attacker` fine-tunes on, every time."
    defense = lambda x, c: torch.softmax(c, 1)
    a, b = M.knn_attacker(dom, defense=defense, k=1), M.knn_attacker(dom, defense=defense, k=1)
    assert torch.equal(a.x, b.x) and len(a.x) == TINY['n_ft'] < len(dom.aux[0])
    seen = {}
    real = M.train_inversion
    monkeypatch.setattr(M, 'train_inversion', lambda m, clf, x, *args, **kw: seen.setdefault('x', x) is None or real(m, clf, x, *args, **kw))
    M.adaptive_attacker(dom, {'test': 'knn-queries'}, defense=defense, retrain=True)
    assert torch.equal(seen['x'], a.x)


def test_measure_without_logits_gives_nan_logit_distortions():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 3, 0, 1])
    c0 = torch.randn(6, K, generator=g); c = c0 + torch.randn(6, K, generator=g)
    p0, p = torch.softmax(c0, 1), torch.softmax(c, 1)
    m, full = M.measure(FixedAdversary(), x, y, p, p0), M.measure(FixedAdversary(), x, y, p, p0, c, c0)
    assert m['logit'].shape == (6,) and m['logit'].isnan().all() and m['logit'].dtype == torch.float64
    assert all(torch.equal(m[k], full[k]) for k in m if k != 'logit')


def test_setup_domain_times_its_three_trainings(dom):
    assert set(dom.seconds) == {'classifier', 'attacker', 'defender'} and all(v >= 0 for v in dom.seconds.values())


def test_strong_attacker_trains_with_its_sizes_batch(dom, monkeypatch):
    "STRONG_SIZES gives the MLP attacker's width, epochs and batch size: all three reach its training."
    monkeypatch.setitem(M.STRONG_SIZES, 'digits', {**M.STRONG_SIZES['digits'], 'smoke': dict(width=8, epochs=1, bs=7)})
    seen = []
    real = M.train_inversion
    monkeypatch.setattr(M, 'train_inversion', lambda m, clf, x, e, **kw: seen.append((e, kw['batch_size'])) or real(m, clf, x, e, **kw))
    a = M.strong_attacker(dom, retrain=True)
    assert a.mlp[0].out_features == 8 and seen == [(1, 7)]


# ---------------------------------------------------------------------------------------------- public functions no test called (covA)
def test_concat_measures_joins_the_seeds_in_order():
    a = dict(recon=torch.tensor([1., 2.]), nll=torch.tensor([.1, .2]))
    b = dict(recon=torch.tensor([3.]), nll=torch.tensor([.3]))
    out = M.concat_measures([a, b])
    assert list(out) == ['recon', 'nll'] and torch.equal(out['recon'], torch.tensor([1., 2., 3.])) and torch.equal(out['nll'], torch.tensor([.1, .2, .3]))
    one = M.concat_measures([a])                                      # a single seed: unchanged
    assert list(one) == ['recon', 'nll'] and torch.equal(one['recon'], a['recon'])


def test_logit_distortion_is_the_mean_centered_l1_per_entry():
    c0 = torch.zeros(2, 3)
    c = torch.tensor([[1., 2., 3.], [0., 0., 3.]])                   # centered: [-1, 0, 1] and [-1, -1, 2]
    assert math.isclose(M.logit_distortion(c, c0), (2 / 3 + 4 / 3) / 2, rel_tol=1e-9)
    assert math.isclose(M.logit_distortion(c + 7, c0 - 2), M.logit_distortion(c, c0), rel_tol=1e-9)   # shifts are invisible to softmax
    assert M.logit_distortion(c, c) == 0.0 and isinstance(M.logit_distortion(c, c0), float)


def test_get_noise_is_a_sign_step_then_label_modifier_then_l1_projection():
    c0 = torch.tensor([[0., 0., 0.], [5., 1., 0.]], dtype=torch.float64)
    grad = torch.tensor([[0., 2., 3.], [-1., 0., 4.]], dtype=torch.float64)
    # row 0: c = [0, 1, 1] -> label 0 raised to 1 -> n = [1, 1, 1] (L1 3 > eps 2: scaled by 2/3)
    # row 1: c = [4, 1, 1] (label 0 stays the maximum) -> n = [-1, 0, 1] (L1 2 <= eps: unchanged)
    n = M.get_noise(c0, c0, grad, step_size=1.0, eps=2.0)
    assert torch.allclose(n, torch.tensor([[2 / 3, 2 / 3, 2 / 3], [-1., 0., 1.]], dtype=torch.float64), atol=1e-12)
    n2 = M.get_noise(c0, c0, grad, step_size=1.0, eps=1.5, p=2)     # the L2 ball: row 0 (norm sqrt(3)) is scaled, row 1 (sqrt(2)) is not
    assert torch.allclose(n2, torch.cat([torch.full((1, 3), 1.5 / math.sqrt(3)), torch.tensor([[-1., 0., 1.]])]).double(), atol=1e-12)


def test_get_noise_steps_from_the_current_logits_within_small_budgets():
    c0 = torch.tensor([[3., 0., 0.]], dtype=torch.float64)
    ct = c0 + torch.tensor([[0., .1, -.1]], dtype=torch.float64)
    n = M.get_noise(c0, ct, torch.tensor([[0., 1., -1.]], dtype=torch.float64), step_size=0.1, eps=0.1)
    assert torch.allclose(n, torch.tensor([[0., .05, -.05]], dtype=torch.float64), atol=1e-12)   # [0, .2, -.2]: L1 .4 > .1
    n = M.get_noise(c0, ct, torch.tensor([[0., -1., 1.]], dtype=torch.float64), step_size=0.1, eps=0.1)
    assert torch.allclose(n, torch.zeros(1, 3, dtype=torch.float64), atol=1e-12)                   # the step undoes ct - c0


def test_get_noise_uses_the_given_label():
    c0 = torch.tensor([[2., 1., 0.]], dtype=torch.float64)
    grad = torch.zeros(1, 3, dtype=torch.float64)
    n = M.get_noise(c0, c0, grad, step_size=1.0, eps=10.0, label=torch.tensor([2]))
    assert torch.allclose(n, torch.tensor([[0., 0., 2.]], dtype=torch.float64))   # entry 2 raised to the maximum, 2
    assert torch.equal(M.get_noise(c0, c0, grad, step_size=1.0, eps=10.0), torch.zeros(1, 3, dtype=torch.float64))


def _flat(n, k):
    return torch.full((n, k), 1 / k, dtype=torch.float64)


def test_laplace_noise_has_laplace_scale_and_shape():
    p = _flat(20, 1000)                                               # 1e-3 each: scale 1e-5 is never clipped
    q = M.laplace_noise(p, 1e-5, generator=torch.Generator().manual_seed(0))
    assert q.shape == p.shape and q.dtype == p.dtype and torch.allclose(q.sum(1), torch.ones(20, dtype=torch.float64))
    d = (q - p).flatten()
    m1, m2 = d.abs().mean().item(), d.pow(2).mean().item()
    assert abs(m1 / 1e-5 - 1) < 0.05                                  # E|n| = b for Laplace(0, b)
    assert abs(m2 / m1 ** 2 - 2) < 0.15                               # E n^2 / (E|n|)^2 = 2 (Gaussian: pi/2)


def test_laplace_noise_is_reproducible_clipped_and_renormalized():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(30, K, generator=g) * 3, 1)
    a, b = (M.laplace_noise(p, 0.5, generator=torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, M.laplace_noise(p, 0.5, generator=torch.Generator().manual_seed(6)))
    assert (a >= 0).all() and torch.allclose(a.sum(1), torch.ones(30)) and (a == 0).any()   # large noise: some entries clipped at 0
    assert torch.equal(M.postprocess(p, 'laplace', generator=torch.Generator().manual_seed(5)),
                       M.laplace_noise(p, 0.1, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(M.laplace_noise(p, generator=torch.Generator().manual_seed(5)),
                       M.laplace_noise(p, 0.1, generator=torch.Generator().manual_seed(5)))   # default scale 0.1


def test_laplace_noise_is_finite_when_a_draw_is_the_median():
    # this seed's torch.rand((4, 64)) holds exactly 0.5 (the Laplace median: zero noise)
    p = torch.softmax(torch.randn(4, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64), 1)
    q = M.laplace_noise(p, 1e-7, generator=torch.Generator().manual_seed(174657))
    assert torch.isfinite(q).all() and torch.allclose(q.sum(1), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(q, p, atol=1e-5)                            # tiny noise leaves every row (that one included) nearly unchanged


def test_laplace_noise_errors_name_the_argument():
    p = _flat(2, 3)
    with pytest.raises(ValueError, match=r'^scale: expected a finite number > 0'): M.laplace_noise(p, -1.0)
    with pytest.raises(TypeError, match=r'^scale: expected a number'): M.laplace_noise(p, '0.1')
    with pytest.raises(ValueError, match=r'^probs:'): M.laplace_noise(torch.zeros(3), 0.1)


def test_label_modifier_probs_makes_the_label_the_strict_maximum():
    q = torch.tensor([[.5, .3, .2], [.1, .2, .7], [.6, .3, .1]])
    out = M.label_modifier_probs(q, torch.tensor([2, 0, 0]))
    assert torch.equal(out.argmax(1), torch.tensor([2, 0, 0]))
    assert (out.gather(1, torch.tensor([[2], [0], [0]])) > out.scatter(1, torch.tensor([[2], [0], [0]]), -1.).amax(1, keepdim=True)).all()
    assert torch.allclose(out, torch.tensor([[5 / 13, 3 / 13, 5 / 13], [.7 / 1.6, .2 / 1.6, .7 / 1.6], [.6, .3, .1]]), atol=1e-6)
    assert torch.allclose(out.sum(1), torch.ones(3))


def _dom(seed=0):
    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(eval=(torch.rand(5, 2, 3, 3, generator=g), torch.tensor([0, 1, 2, 0, 1])),
                           aux=(torch.rand(7, 2, 3, 3, generator=g), torch.arange(7) % 3),
                           oracle_means=torch.rand(3, 2, 3, 3, generator=g), attacker=nn.Identity())


def test_reference_errors_are_the_three_reference_lines():
    d = _dom()
    x = d.eval[0]
    p = torch.softmax(torch.randn(5, 3, generator=torch.Generator().manual_seed(1)), 1)
    r = M.reference_errors(d, p)
    assert list(r) == ['oracle', 'mean_aux', 'grey'] and all(v.shape == (5,) and v.dtype == torch.float64 for v in r.values())
    mse = lambda a: ((a - x) ** 2).mean((1, 2, 3)).double()
    assert torch.allclose(r['oracle'], mse(d.oracle_means[p.argmax(1)]))
    assert torch.allclose(r['mean_aux'], mse(d.aux[0].mean(0, keepdim=True).expand_as(x)))
    assert torch.allclose(r['grey'], mse(torch.full_like(x, 0.5)))
    r1 = M.reference_errors(d, F.one_hot(p.argmax(1), 3).float())   # only the argmax of probs is used
    assert all(torch.equal(r[k], r1[k]) for k in r)


def test_reference_errors_take_other_images():
    d = _dom()
    x = torch.rand(2, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    p = torch.eye(3)[[1, 2]]
    r = M.reference_errors(d, p, x)
    assert all(v.shape == (2,) for v in r.values())
    assert torch.allclose(r['grey'], ((x - 0.5) ** 2).mean((1, 2, 3)).double())
    assert torch.allclose(r['oracle'], ((d.oracle_means[[1, 2]] - x) ** 2).mean((1, 2, 3)).double())


def test_knn_errors_reconstruct_with_the_mean_of_the_10_nearest():
    aux_logits = torch.stack([torch.arange(12.) * 0.5, torch.zeros(12)], 1)   # nearest to row 0: rows 0, 1, 2, ... in order
    aux_x = torch.arange(12.).view(12, 1, 1, 1).expand(12, 1, 2, 2).clone()
    probs = torch.softmax(aux_logits[:1], 1)
    x10 = torch.full((1, 1, 2, 2), 4.5)                               # mean of images 0..9
    assert torch.allclose(M.knn_errors(aux_logits, aux_x, probs, x10), torch.zeros(1), atol=1e-10)
    assert torch.allclose(M.knn_errors(aux_logits, aux_x, probs, x10, k=11), torch.full((1,), 0.25), atol=1e-6)   # mean 5
    q = torch.softmax(aux_logits[[3, 7]], 1)
    assert torch.allclose(M.knn_errors(aux_logits, aux_x, q, aux_x[[3, 7]], k=1), torch.zeros(2), atol=1e-10)


def test_attackers_builds_the_named_attackers(monkeypatch):
    d = _dom()
    monkeypatch.setattr(M, 'strong_attacker', lambda dd, *a, **kw: ('mlp', dd))
    monkeypatch.setattr(M, 'knn_attacker', lambda dd, *a, **kw: ('knn', dd))
    a = M.attackers(d)
    assert list(a) == ['inversion', 'mlp', 'knn'] and a['inversion'] is d.attacker
    assert a['mlp'][0] == 'mlp' and a['mlp'][1] is d and a['knn'][0] == 'knn' and a['knn'][1] is d
    assert list(M.attackers(d, ('knn', 'inversion'))) == ['knn', 'inversion']
    with pytest.raises(ValueError, match=r"^names: unknown attacker\(s\) \['cnn'\]; expected names from \['inversion', 'mlp', 'knn'\]"):
        M.attackers(d, ('knn', 'cnn'))


def _gate_rows(**over):
    import pandas as pd
    rows = {'inversion': dict(rho=.9, rho_lo=.85, rho_hi=.95, rho_min_seed=.88, g1=True, epochs=4, change=0.01, g2=True, passed=True, n=60),
            'mlp': dict(rho=.5, rho_lo=.3, rho_hi=.6, rho_min_seed=.4, g1=True, epochs=None, change=None, g2=None, passed=True, n=60),
            'knn': dict(rho=.7, rho_lo=.6, rho_hi=.8, rho_min_seed=.65, g1=True, epochs=6, change=0.5, g2=False, passed=False, n=60)}
    for n, kw in over.items(): rows[n].update(kw)
    return pd.DataFrame(rows).T                                       # as `gate_table` builds it


def test_record_gates_logs_g1_g2_and_the_verdict():
    rec = Rec()
    M.record_gates(rec, _gate_rows(), domain='digits')
    rho = lambda n, v, lo, hi, ms: ('gate_rho', v, dict(attacker=n, threshold=M.GATE_RHO, passed=True, ci_low=lo, ci_high=hi, n=60, ci_level=0.95,
                                                       rho_min_seed=ms, domain='digits'))
    assert rec.rows == [rho('inversion', .9, .85, .95, .88),
                        ('gate_convergence', .01, dict(attacker='inversion', threshold=M.GATE_CONVERGENCE, passed=True, epochs=4, domain='digits')),
                        ('gate_passed', 1.0, dict(attacker='inversion', domain='digits')),
                        rho('mlp', .5, .3, .6, .4), ('gate_passed', 1.0, dict(attacker='mlp', domain='digits')),   # no convergence check: no G2 row
                        rho('knn', .7, .6, .8, .65),
                        ('gate_convergence', .5, dict(attacker='knn', threshold=M.GATE_CONVERGENCE, passed=False, epochs=6, domain='digits')),
                        ('gate_passed', 0.0, dict(attacker='knn', domain='digits'))]
    assert all(type(v) is float for _, v, _ in rec.rows) and all(type(kw['passed']) is bool for _, _, kw in rec.rows if 'passed' in kw)
    assert all(type(kw[k]) is int for _, _, kw in rec.rows for k in ('n', 'epochs') if k in kw)


def test_record_gates_skips_a_convergence_that_was_not_measured():
    rec = Rec()
    M.record_gates(rec, _gate_rows(inversion=dict(change=float('nan'))))
    assert [kw['attacker'] for name, _, kw in rec.rows if name == 'gate_convergence'] == ['knn']   # a NaN change is no measurement


def test_adaptive_attacker_trains_against_the_madry_setting_and_reuses_the_cache(monkeypatch):
    "The Madry-style attacker is trained with its `adversarial` kwargs and `mix` (not as a plain fine-tuning); a cached one is reused unless asked."
    seen = {}
    def fake_cached(key, build, train, retrain=False):
        seen.update(key=key, retrain=retrain)
        m = build()
        train(m)
        return m
    monkeypatch.setattr(M, 'cached', fake_cached)
    monkeypatch.setattr(M, 'train_inversion', lambda m, clf, x, epochs, **kw: seen.update(kw, n=len(x)))
    d = SimpleNamespace(sizes=dict(n_ft=4, ft_epochs=1, inv_lr=1e-3, bs=2), attacker=nn.Identity(), key={'seed': 0}, classifier=nn.Identity(),
                        aux=(torch.rand(7, 1, 3, 3), torch.arange(7) % 3))
    adv = {'step_size': 0.1}
    M.adaptive_attacker(d, {'test': 'madry'}, adversarial=adv, mix=0.25)
    assert seen['adversarial'] is adv and seen['mix'] == 0.25 and seen['n'] == 4
    assert seen['retrain'] is False and seen['key']['madry'] is True


def test_train_mid_names_its_training_set_in_errors():
    bad = TensorDataset(torch.rand(4, 3, 3), torch.arange(4) % 2)      # not N x C x H x W
    with pytest.raises((ValueError, TypeError), match='train'): M.train_mid(M.VIBClassifier(2), bad, epochs=1)


def test_check_probs_accepts_a_single_class():
    "Confidence vectors N x K need only K >= 1: a one-class vector (all mass on its only class) is valid; K = 0 is not."
    one = torch.ones(3, 1)
    assert M._check_probs(one) is one
    assert torch.equal(M.rounding(one), one) and torch.equal(M.top_k(one, 1), one) and torch.equal(M.label_only(one), one)
    with pytest.raises(ValueError, match=r'^probs: expected shape N x K \(N, K >= 1\), got \(3, 0\)'): M._check_probs(torch.ones(3, 0))


def test_mnist5k_digits_are_32x32(monkeypatch):
    "The digits domain is 32x32 (setup_domain's docments): the embedded mnist5k stand-in is resized to 32x32 like MNIST (stored 28x28)."
    monkeypatch.setattr(M.pdata, 'load', fake_load)
    sz = {**M.SIZES['digits']['smoke'], **TINY}
    (xp, _), (xa, _), (xe, _), _, _ = M._digits('smoke', None, 0, sz, 'mnist5k')
    assert xp.shape[1:] == xa.shape[1:] == xe.shape[1:] == (1, 32, 32)


def test_holdout_error_states_the_largest_accepted_size():
    "n_val must leave at least one auxiliary training image: the error names n_val and its range 1..N-1, and N-1 is accepted."
    x, y = _images(10, 7, 8)
    for bad in (0, 10, 11):
        with pytest.raises(ValueError, match=r'^n_val: expected 1\.\.9 held-out auxiliary images, got ' + str(bad)): M._holdout(x, y, bad, 0)
    (xt, _), (xv, _) = M._holdout(x, y, 9, 0)
    assert len(xt) == 1 and len(xv) == 9


def test_defend_names_the_classifier_output_in_shape_errors():
    "A classifier whose output is not N x K logits is reported as the 'classifier output'."
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, K), nn.Unflatten(1, (K, 1)))   # N x K x 1
    with pytest.raises(ValueError, match=r'^classifier output: expected shape N x K'): M.defend(clf, x, M.Inversion(K, 1, 8, hidden=0))


def test_mid_for_fine_tunes_like_adaptive_attacker_and_reuses_the_cache(monkeypatch):
    "mid_for's attacker is fine-tuned 'as adaptive_attacker' (half the inversion learning rate, n_ft images); by default (retrain=False) cached models are reused."
    import inspect
    lr0 = inspect.signature(M.train_inversion).parameters['lr'].default   # the learning rate when none is passed
    seen = []
    def fake_cached(key, build, train, retrain=False):
        seen.append(dict(what=key['what'], retrain=retrain))
        m = build()
        train(m)
        return m
    monkeypatch.setattr(M, 'cached', fake_cached)
    monkeypatch.setattr(M, 'train_mid', lambda m, *a, **kw: m)
    monkeypatch.setattr(M, 'train_inversion', lambda m, clf, x, epochs, **kw: seen[-1].update(kw, n=len(x), epochs=epochs))
    d = SimpleNamespace(sizes=dict(n_ft=4, ft_epochs=1, inv_lr=2e-4, bs=2, ndf=2, clf_epochs=1), attacker=nn.Identity(), key={'seed': 0},
                        classifier=nn.Identity(), num_classes=3, image_size=8, private=(torch.rand(6, 1, 8, 8), torch.arange(6) % 3),
                        aux=(torch.rand(7, 1, 8, 8), torch.arange(7) % 3))
    M.mid_for(d)
    M.adaptive_attacker(d, {'test': 'plain'})
    mid, att, ada = seen
    assert mid['what'] == 'mid' and att['what'] == 'mid-attacker-ft' and all(s['retrain'] is False for s in seen)
    assert att.get('lr', lr0) == ada.get('lr', lr0) == 2e-4 / 2 and att['n'] == ada['n'] == 4 and att['epochs'] == ada['epochs'] == 1


def test_paper_attacker_trains_with_the_domains_seed(dom, monkeypatch):
    "The attacker's batch order follows the domain's seed: the same initial weights trained under another seed give another model."
    monkeypatch.setattr(M, 'cached', lambda key, build, train, retrain=False: train(build()).eval())   # always train, never save
    def att(seed):
        d = SimpleNamespace(**{**vars(dom), 'key': {**dom.key, 'seed': seed}, 'sizes': {**dom.sizes, 'bs': 8}})
        torch.manual_seed(0)
        return M.paper_attacker(d, epochs=1)
    a0, a0b, a1 = att(0), att(0), att(1)
    assert torch.equal(a0.decoder[0].weight, a0b.decoder[0].weight)      # reproducible
    assert not torch.equal(a0.decoder[0].weight, a1.decoder[0].weight)   # another seed, another batch order


def test_ratio_ci_resamples_groups_and_checks_their_count():
    "With groups, the bootstrap resamples whole groups first: groups with very different means widen the interval; one group per value is required."
    a = np.repeat([1., 2., 3.], 10)                  # every group constant: all the spread is between the groups
    b = np.ones(30)
    plain, grouped = M.ratio_ci(a, b, n_boot=400), M.ratio_ci(a, b, groups=np.repeat([0, 1, 2], 10), n_boot=400)
    assert plain.est == grouped.est == 2.0
    assert grouped.hi - grouped.lo > 2 * (plain.hi - plain.lo)   # 3 clusters (sd/sqrt(3)) vs 30 iid values (sd/sqrt(30))
    with pytest.raises(ValueError, match=r'^groups: expected one group per value \(30\), got 29'): M.ratio_ci(a, b, groups=np.zeros(29, int))


def test_setup_domain_retrains_when_a_size_changes(tmp_path, monkeypatch):
    "The cache is keyed by the sizes: the same domain with more classifier epochs trains a new classifier instead of reusing the cached one."
    monkeypatch.setenv('PRIVBOOK_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv(DRY_ENV, raising=False)
    monkeypatch.setattr(M.pdata, 'load', fake_load)
    kw = {**TINY, 'att_epochs': 1}
    a = M.setup_domain('digits', 'smoke', data_root=str(tmp_path), defender=False, **kw)
    b = M.setup_domain('digits', 'smoke', data_root=str(tmp_path), defender=False, **kw)
    c = M.setup_domain('digits', 'smoke', data_root=str(tmp_path), defender=False, **{**kw, 'clf_epochs': 2})
    assert torch.equal(a.classifier.fc[-1].weight, b.classifier.fc[-1].weight)       # same sizes: the cached classifier
    assert not torch.equal(a.classifier.fc[-1].weight, c.classifier.fc[-1].weight)   # two epochs, not the cached one


def test_summarize_log_loss_is_the_mean_nll():
    "The nll column is the mean per-image log loss (not rescaled), inside its interval."
    g = torch.Generator().manual_seed(3)
    nll = torch.rand(30, generator=g)
    r = M.summarize({'None': _m(1 + torch.rand(30, generator=g), nll)}, np.repeat([0, 1, 2], 10), n_boot=100).loc['None']
    assert math.isclose(r.nll, nll.double().mean().item(), rel_tol=1e-9) and r.nll_lo <= r.nll <= r.nll_hi and r.nll_hi < 1


def test_train_inversion_names_lr_in_errors():
    "A learning rate <= 0 is an error that names lr."
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match='^lr: expected a finite number > 0'):
        M.train_inversion(M.Inversion(K, 1, 8, hidden=0), nn.Sequential(nn.Flatten(), nn.Linear(64, K)), x, lr=0.)


def test_train_inversion_adversarial_defends_half_of_each_batch_by_default(monkeypatch):
    "mix defaults to 0.5: with adversarial training, the first half of each batch gets the defended outputs."
    seen = []
    monkeypatch.setattr(M, 'defend_logits', lambda c, inv, x=None, **kw: seen.append(len(c)) or torch.softmax(c, 1))
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    M.train_inversion(M.Inversion(K, 1, 8, hidden=0), nn.Sequential(nn.Flatten(), nn.Linear(64, K)), x, epochs=1, batch_size=8, adversarial={})
    assert seen == [4, 4]


def test_train_ppf_is_silent_by_default(capsys):
    "progress defaults to False: train_ppf draws no progress bar."
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    M.train_ppf(nn.Sequential(nn.Flatten(), nn.Linear(64, K)), x, FixedAdversary(), epochs=1, batch_size=8, hidden=4)
    assert capsys.readouterr().err == ''


def test_classifier_names_num_classes_in_errors():
    "A classifier needs at least two classes; the error names num_classes."
    with pytest.raises(ValueError, match=r'^num_classes: expected an int >= 2, got 1'): M.Classifier(1)


def test_mid_for_attacker_is_the_adaptive_attacker_of_mids_api(monkeypatch):
    "mid_for's attacker is fine-tuned 'as adaptive_attacker': the same start, images, learning rate and batch order, so it equals adaptive_attacker against MID's confidence vectors."
    monkeypatch.setattr(M, 'cached', lambda key, build, train, retrain=False: train(build()).eval())   # always train, never save
    torch.manual_seed(0)
    x, y = _images(12, 8, 16)
    d = SimpleNamespace(sizes=dict(n_ft=8, ft_epochs=2, inv_lr=2e-3, bs=3, ndf=2, clf_epochs=1), attacker=M.Inversion(3, 1, 16, hidden=1),
                        key={'seed': 0}, classifier=nn.Sequential(nn.Flatten(), nn.Linear(256, 3)), num_classes=3, image_size=16,
                        private=(x, y % 3), aux=(_images(10, 9, 16)[0], torch.arange(10) % 3))
    mid, att = M.mid_for(d)
    ada = M.adaptive_attacker(d, {'test': 'mid'}, defense=lambda xb, c: torch.softmax(M.logits_of(mid, xb), 1))
    assert not torch.equal(att.decoder[0].weight, d.attacker.decoder[0].weight)   # fine-tuned, not the standard attacker
    for a, b in zip(att.state_dict().values(), ada.state_dict().values()): assert torch.equal(a, b)


def test_setup_domain_seed_defaults_to_0(dom):
    "setup_domain's seed defaults to 0 (its signature): the default domain has seed 0's splits and models, not seed 1's."
    d0 = M.setup_domain('digits', 'smoke', seed=0, **TINY)          # cached with `dom` when the default is 0
    (p1, _), _, _, _, _ = M._digits('smoke', None, 1, {**M.SIZES['digits']['smoke'], **TINY})
    assert torch.equal(dom.private[0], d0.private[0]) and torch.equal(dom.eval[0], d0.eval[0]) and torch.equal(dom.aux[0], d0.aux[0])
    assert not torch.equal(dom.private[0], p1)                          # seed 1 draws another private split
    assert torch.equal(dom.classifier.fc[-1].weight, d0.classifier.fc[-1].weight)


def test_cached_retrains_over_an_unreadable_file(tmp_path, monkeypatch):
    "A truncated cache file is reported with a warning, then a fresh model is trained and saved over it; the next call loads it."
    monkeypatch.setenv('PRIVBOOK_CACHE', str(tmp_path))
    key = dict(what='test', domain='digits', scale='smoke')
    def train(m):
        with torch.no_grad(): m.weight.fill_(0.5)
        return m
    path = M._cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'PK\x03\x04 truncated')
    with pytest.warns(UserWarning, match='could not be loaded.*retraining'): m = M.cached(key, lambda: nn.Linear(2, 2), train)
    assert isinstance(m, nn.Linear) and not m.training and torch.equal(m.weight, torch.full((2, 2), 0.5))
    again = M.cached(key, lambda: nn.Linear(2, 2), lambda m: pytest.fail('retrained a readable cache file'))
    assert torch.equal(again.weight, m.weight) and torch.equal(again.bias, m.bias)


def test_paper_attacker_shows_progress_when_the_domain_asks(dom, monkeypatch, capsys):
    "setup_domain(progress=True) draws the attacker's training bar ('inversion'); without it training is silent."
    monkeypatch.setattr(M, 'cached', lambda key, build, train, retrain=False: train(build()).eval())   # always train, never save
    for progress in (True, False):
        torch.manual_seed(0)
        M.paper_attacker(SimpleNamespace(**{**vars(dom), 'progress': progress}), epochs=1)
        err = capsys.readouterr().err
        assert ('inversion' in err) is progress, err


def test_digits_refuses_an_empty_private_split(monkeypatch):
    "n_private must be 1..N-1: 0 private images is an error naming n_private and the accepted range."
    monkeypatch.setattr(M.pdata, 'load', fake_load)
    sz = {**M.SIZES['digits']['smoke'], **TINY}
    for bad in (0, 80):                                                  # the synthetic MNIST train split has 80 images
        with pytest.raises(ValueError, match=r'^n_private: expected 1\.\.79 images, got ' + str(bad)): M._digits('smoke', None, 0, {**sz, 'n_private': bad})
    assert len(M._digits('smoke', None, 0, {**sz, 'n_private': 1})[0][0]) == 1


def test_reconstruct_names_both_shapes_when_they_differ():
    "An inversion model whose output shape differs from x is a ValueError naming x and both image shapes."
    inv = M.Inversion(K, 1, 8, hidden=0)
    with pytest.raises(ValueError, match=r'^x: inversion reconstructs shape \(1, 8, 8\), x has shape \(1, 16, 16\)'):
        M._reconstruct(inv, torch.softmax(torch.zeros(2, K), 1), torch.rand(2, 1, 16, 16))


def test_train_ppf_names_aux_x_in_errors():
    "Bad auxiliary images are an error that names aux_x."
    with pytest.raises(ValueError, match=r'^aux_x: expected values in \[0,1\]'):
        M.train_ppf(nn.Sequential(nn.Flatten(), nn.Linear(64, K)), 2 + torch.rand(4, 1, 8, 8), FixedAdversary(), epochs=1)


def test_record_logs_the_log_loss():
    "record logs the nll (mean log loss) of every row with its interval."
    g = torch.Generator().manual_seed(0)
    t = M.summarize({'None': _m(1 + torch.rand(30, generator=g), torch.rand(30, generator=g))}, np.repeat([0, 1, 2], 10), n_boot=100)
    rec = Rec()
    M.record(rec, t)
    nll = [(v, kw) for name, v, kw in rec.rows if name == 'nll']
    assert len(nll) == 1 and nll[0][0] == t.loc['None', 'nll'] and nll[0][1]['ci_low'] == t.loc['None', 'nll_lo'] and nll[0][1]['ci_high'] == t.loc['None', 'nll_hi']


def test_inversion_depth_error_states_the_largest_depth():
    "Too many hidden layers for the image size is an error stating the maximum (attacker_hidden: 3 for 32x32)."
    with pytest.raises(ValueError, match=r'^hidden: at most 3 for image_size 32, got 4'): M.Inversion(K, 1, 32, hidden=4)


def test_gate_figure_shows_its_title():
    "gate_figure puts `title` above the panels."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    part = {k: torch.full((4,), v, dtype=torch.float64) for k, v in (('inversion', .01), ('oracle', .05), ('mean_aux', .06), ('grey', .08))}
    fig = M.gate_figure({'digits': [part]}, title='gate of run 7')
    try: assert fig._suptitle is not None and fig._suptitle.get_text() == 'gate of run 7'
    finally: plt.close(fig)
