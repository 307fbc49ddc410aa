"Tests of privbook.fmd: budget, pixel range, model untouched, determinism, protection, bad input."
import pytest, torch, torch.nn as nn
from privbook import data, models, fmd

torch.set_num_threads(1)
EPS = 16/255


def _cnn(w, seed, tr):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2*w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(2*w, 2*w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2*w, 10))
    m.input_shape, m.num_classes = (1, 8, 8), 10
    return models.fit(m, tr, epochs=8, lr=3e-3, progress=False, seed=seed)


@pytest.fixture(scope='module')
def setup():
    tr, te = data.load('digits', 'train'), data.load('digits', 'test')
    auth, other = _cnn(16, 0, tr), _cnn(24, 1, tr)
    x, y = te.tensors
    ok = models.correct_by_all([auth, other], x, y)
    return auth, other, x[ok][:96], y[ok][:96]


def test_budget_range_and_model_unchanged(setup):
    auth, _, x, y = setup
    sd = {k: v.clone() for k, v in auth.state_dict().items()}
    flags = [p.requires_grad for p in auth.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in auth.parameters()]
    xs = fmd.protect(auth, x, y, layer=1, steps=10, seed=0)
    assert xs.shape == x.shape and xs.dtype == x.dtype
    assert (xs - x).abs().max().item() <= EPS + 1e-6
    assert xs.min().item() >= 0 and xs.max().item() <= 1
    assert not auth.training
    assert all(torch.equal(sd[k], v) for k, v in auth.state_dict().items())
    assert [p.requires_grad for p in auth.parameters()] == flags
    assert all((g is None and p.grad is None) or torch.equal(g, p.grad) for g, p in zip(grads, auth.parameters()))  # no weight gradients


def test_training_mode_restored(setup):
    auth, _, x, y = setup
    auth.train()
    try:
        fmd.protect(auth, x[:4], y[:4], layer=0, steps=2, seed=0)
        assert auth.training
    finally: auth.eval()


def test_determinism_and_batching(setup):
    auth, _, x, y = setup
    a = fmd.protect(auth, x, y, layer='2', steps=5, seed=3)  # module name of the second conv
    b = fmd.protect(auth, x, y, layer=1, steps=5, seed=3, batch_size=17)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.equal(a, fmd.protect(auth, x, y, layer=1, steps=5, seed=4))


def test_protected_accuracy_high_and_baselines(setup):
    auth, other, x, y = setup
    zoo = {'a': auth, 'b': other}
    tm = fmd.transfer_matrix(zoo, x, y, layers=1, steps=20, progress=False)
    assert tm.loc['a', 'a'] >= 95 and tm.loc['b', 'b'] >= 95   # diagonal = protected accuracy
    assert set(tm.attrs['baselines']) == {'uniform', 'feature_only', 'pgd'}
    assert tm.attrs['baselines']['pgd'].loc['a', 'a'] < tm.loc['a', 'a']   # PGD attacks the authorized model
    s = fmd.summary(tm)
    assert list(s.index) == ['fmd', 'uniform', 'feature_only', 'pgd']


BAD = [
    (dict(x='x2'), ValueError, 'x:'),
    (dict(x='int'), TypeError, 'x:'),
    (dict(eps=0), ValueError, 'eps:'),
    (dict(eps=-0.1), ValueError, 'eps:'),
    (dict(alpha=0), ValueError, 'alpha:'),
    (dict(steps=0), ValueError, 'steps:'),
    (dict(steps=2.5), TypeError, 'steps:'),
    (dict(layer=99), ValueError, 'layer:'),
    (dict(layer=-1), ValueError, 'layer:'),
    (dict(layer='no.such'), ValueError, 'layer:'),
    (dict(layer=1.5), TypeError, 'layer:'),
    (dict(y='short'), ValueError, 'y:'),
    (dict(y='int32'), TypeError, 'y:'),
    (dict(lam=-1), ValueError, 'lam:'),
]

@pytest.mark.parametrize('kw,exc,msg', BAD)
def test_bad_input(setup, kw, exc, msg):
    auth, _, x, y = setup
    args = dict(x=x[:4], y=y[:4], layer=1, eps=EPS, alpha=4/255, steps=2, lam=1.0)
    sub = {'x2': x[:4]*2 + 0.5, 'int': (x[:4]*255).to(torch.uint8), 'short': y[:3], 'int32': y[:4].int()}
    args.update({k: sub.get(v, v) if isinstance(v, str) and k in ('x', 'y') else v for k, v in kw.items()})
    with pytest.raises(exc) as e: fmd.protect(auth, **args)
    assert str(e.value).startswith(msg), str(e.value)


# --- behaviour on a setting where FMD transfers -------------------------------------------------------------
# Two small BatchNorm CNNs trained (seeded, with uniform-noise augmentation so that random pixels alone do
# not fool them) on Olivetti faces at 32x32: FMD made with one of them at 32/255 must keep that model's
# accuracy and push the other one below what uniform noise of the same budget does (paired interval < 0).
# About 20 CPU-seconds; skipped when Olivetti is not under PRIVBOOK_DATA.

def _face_cnn(seed, train):
    torch.manual_seed(seed)
    w = 16
    m = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(w, 2*w, 3, padding=1), nn.BatchNorm2d(2*w), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(2*w, 4*w, 3, padding=1), nn.BatchNorm2d(4*w), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4*w, 40))
    m.input_shape, m.num_classes = (1, 32, 32), 40
    return models.fit(m, train, epochs=15, lr=3e-3, batch_size=32, progress=False, seed=seed)


@pytest.fixture(scope='module')
def faces():
    try: tr, te = data.load('olivetti', 'train', image_size=32), data.load('olivetti', 'test', image_size=32)
    except FileNotFoundError as e: pytest.skip(f'no Olivetti faces: {e}')
    xt, yt = tr.tensors
    aug = torch.utils.data.TensorDataset(torch.cat([xt, fmd.uniform_noise(xt, EPS, seed=5), fmd.uniform_noise(xt, 2*EPS, seed=6)]), torch.cat([yt, yt, yt]))
    return _face_cnn(0, aug), _face_cnn(1, aug), te.tensors


def test_fmd_keeps_authorized_and_beats_uniform_noise_on_faces(faces):
    from privbook import metrics
    auth, other, (x, y) = faces
    eps = 2*EPS
    xs = fmd.protect(auth, x, y, layer=1, eps=eps, alpha=4/255, steps=20, seed=0)
    xu = fmd.uniform_noise(x, eps, seed=0)
    right = lambda m, z: (models.predict(m, z).argmax(1) == y).float().numpy()
    assert right(auth, x).mean() >= 0.85                          # the models are trained
    assert right(auth, xs).mean() >= right(auth, x).mean()        # FMD keeps the authorized model's accuracy
    d = metrics.bootstrap_diff(right(other, xs), right(other, xu))
    assert d.hi < 0, f'FMD not below uniform noise on the unauthorized model: {d}'
    lam0 = fmd.protect(auth, x, y, layer=1, eps=eps, alpha=4/255, steps=20, lam=0.0, seed=0)
    assert right(auth, lam0).mean() < right(auth, xs).mean()      # without the CE term the authorized model is hurt too
