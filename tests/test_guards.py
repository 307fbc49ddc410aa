"""Tests that guard the methods themselves and can fail: DeepFool's perturbation size against a closed form and against
torchattacks' DeepFool, and FMD's direction (its images move the features more than random noise of the same budget
and deceive another model more). Embedded data only (scikit-learn's digits), no skips, well under a minute on one core."""
import numpy as np, pytest, torch, torch.nn as nn, torchattacks
from privbook import data, models, fakegrad, fmd, metrics

torch.set_num_threads(1)


def _cnn(seed:int, train)->nn.Module:
    "A three-convolution CNN on 8 x 8 digits, trained for 8 epochs (about a second of CPU), seeded."
    torch.manual_seed(seed)
    w = 16
    m = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2*w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(2*w, 2*w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2*w, 10))
    m.input_shape, m.num_classes = (1, 8, 8), 10
    return models.fit(m, train, epochs=8, lr=3e-3, progress=False, seed=seed).eval()


@pytest.fixture(scope='module')
def digits():
    "Two CNNs of the same architecture (seeds 0 and 1) and 200 test digits both classify correctly."
    tr, te = data.load('digits', 'train'), data.load('digits', 'test')
    a, b = _cnn(0, tr), _cnn(1, tr)
    x, y = te.tensors
    ok = models.correct_by_all([a, b], x, y)
    assert all((models.predict(m, x).argmax(1) == y).float().mean() > 0.8 for m in (a, b)), 'the digit CNNs did not train'
    assert ok.sum() >= 200
    return a, b, x[ok][:200], y[ok][:200]


# ---------------------------------------------------------------- DeepFool

def _affine(seed=0, d=64, k=10):
    "An affine classifier on 1 x 8 x 8 images with random weights, and 32 images well inside [0, 1]."
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Flatten(), nn.Linear(d, k))
    with torch.no_grad():
        m[1].weight.copy_(torch.randn(k, d, generator=g))
        m[1].bias.copy_(torch.randn(k, generator=g))
    return m.eval(), 0.3 + 0.4 * torch.rand(32, 1, 8, 8, generator=g)


def _boundary_distance(lin:nn.Linear, x:torch.Tensor, lab:torch.Tensor)->torch.Tensor:
    "Exact L2 distance from each x to the region where `lab` is no longer the argmax: min over k != lab of |f_k - f_lab| / ||w_k - w_lab||."
    with torch.no_grad(): f = lin(x.flatten(1))
    W = lin.weight.detach()
    gap = (f - f.gather(1, lab[:, None])).abs()
    dist = gap / (W[None] - W[lab][:, None]).norm(dim=2)
    return dist.scatter(1, lab[:, None], float('inf')).amin(1)


@pytest.mark.parametrize('overshoot', [0.02, 0.5])
def test_deepfool_minimal_distance_on_an_affine_model(overshoot):
    "On an affine model DeepFool's first linearisation is exact: its perturbation is (1 + overshoot) times the distance to the nearest boundary."
    m, x = _affine()
    with torch.no_grad(): lab = m(x).argmax(1)
    dist = _boundary_distance(m[1], x, lab)
    atk = fakegrad.DeepFool(m, overshoot=overshoot)
    adv = atk(x, lab)
    l2 = (adv - x).flatten(1).norm(dim=1)
    with torch.no_grad(): crossed = m(adv).argmax(1) != lab
    assert crossed.all(), f'DeepFool did not cross the boundary on {int((~crossed).sum())} of {len(x)} images'
    assert (l2 >= dist * (1 - 1e-4)).all()   # nothing shorter than the exact distance crosses
    ratio = l2 / ((1 + overshoot) * dist)
    assert ratio.max() <= 1.01, f'DeepFool perturbation {ratio.max():.3f}x (1 + overshoot) times the exact boundary distance'
    assert (atk.n_steps == 1).all()


def test_deepfool_l2_close_to_torchattacks_on_a_trained_cnn(digits):
    "privbook's DeepFool and torchattacks' on the same images of a trained CNN: per-image L2 ratio within [0.5, 2]."
    net, _, x, _ = digits
    x = x[:48]
    lab = models.predict(net, x).argmax(1)
    ours = fakegrad.DeepFool(net, steps=50, overshoot=0.02)(x, lab)
    ref = torchattacks.DeepFool(net, steps=50, overshoot=0.02)(x, lab)
    fooled = lambda a: models.predict(net, a).argmax(1) != lab
    assert fooled(ours).float().mean() >= 0.95
    both = fooled(ours) & fooled(ref)
    assert both.sum() >= 10, f'torchattacks fooled only {int(both.sum())} images: nothing to compare'
    l2 = lambda a: (a - x).flatten(1).norm(dim=1)[both]
    ratio = l2(ours) / l2(ref)
    assert 0.5 <= ratio.median() <= 2, f'median L2 ratio privbook / torchattacks DeepFool = {ratio.median():.3f}'
    assert 0.5 <= l2(ours).mean() / l2(ref).mean() <= 2


# ---------------------------------------------------------------- FMD

EPS, LAYER = 48/255, 2  # a budget and a conv layer at which FMD made with one digit CNN transfers to the other


def _features(model:nn.Module, layer, x:torch.Tensor)->torch.Tensor:
    "The output of the conv layer FMD perturbs (`fmd.feature_layer`)."
    _, mod = fmd.feature_layer(model, layer, tuple(x.shape[1:]))
    out = []
    h = mod.register_forward_hook(lambda m, i, o: out.append(o.detach()))
    try:
        with torch.no_grad(): model(x)
    finally: h.remove()
    return out[0]


@pytest.fixture(scope='module')
def fmd_images(digits):
    auth, other, x, y = digits
    xs = fmd.protect(auth, x, y, layer=LAYER, eps=EPS, alpha=EPS/4, steps=20, seed=0)
    signs = 2 * torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(0)) - 1
    return xs, fmd.uniform_noise(x, EPS, seed=0), (x + EPS * signs).clamp(0, 1)


def test_fmd_moves_features_more_than_noise(digits, fmd_images):
    "FMD maximises the feature distance: at the same L-inf budget its images move the chosen layer's features more than sign (and uniform) noise."
    auth, _, x, _ = digits
    xs, xu, xsign = fmd_images
    assert (xs - x).abs().max() <= EPS + 1e-6
    f0 = _features(auth, LAYER, x)
    dist = lambda z: (_features(auth, LAYER, z) - f0).pow(2).flatten(1).mean(1)
    for noise, name in ((xsign, 'sign'), (xu, 'uniform')):
        d = metrics.bootstrap_diff(dist(xs), dist(noise))
        assert d.lo > 0, f'FMD feature distance not above {name} noise of the same budget: {d}'


def test_fmd_deceives_another_model_more_than_uniform_noise(digits, fmd_images):
    "On a setting where it transfers, FMD made for one CNN lowers another CNN's accuracy below uniform noise's (paired interval < 0)."
    auth, other, x, y = digits
    xs, xu, _ = fmd_images
    right = lambda m, z: (models.predict(m, z).argmax(1) == y).float().numpy()
    assert right(auth, xs).mean() >= 0.95   # the authorized model still classifies its protected images
    d = metrics.bootstrap_diff(right(other, xs), right(other, xu))
    assert d.hi < 0, f'FMD not below uniform noise on the unauthorized model: {d}'
