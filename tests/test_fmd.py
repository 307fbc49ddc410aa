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
