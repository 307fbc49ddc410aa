"Properties of privbook.midefense: the label never changes, the noise stays in the budget, the models are untouched."
import math
import numpy as np
import torch.nn.functional as F
import pytest, torch, torch.nn as nn
from hypothesis import given, settings, strategies as st, HealthCheck
from privbook import midefense as M

torch.set_num_threads(1)
K = 6
INV = M.Inversion(K, 1, 8, ngf=4, hidden=1)          # tiny inversion model: 8x8 images
CLF = nn.Sequential(nn.Flatten(), nn.Linear(64, K))  # any module returning logits

def _logit_rows(draw_k=K):
    val = st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=32)
    plain = st.lists(val, min_size=draw_k, max_size=draw_k)
    const = val.map(lambda v: [v] * draw_k)                                # every entry ties
    tied = st.tuples(plain, st.integers(0, draw_k - 1), st.integers(0, draw_k - 1)).map(
        lambda t: [max(t[0]) if i in (t[1], t[2]) else v for i, v in enumerate(t[0])])  # ties at the maximum
    coarse = st.lists(st.integers(-2, 2).map(float), min_size=draw_k, max_size=draw_k)  # many ties
    return st.one_of(plain, const, tied, coarse)

def _top_strict(q, label):
    ql = q.gather(1, label[:, None])
    return (ql > q.scatter(1, label[:, None], -1.0).amax(1, keepdim=True)).all().item()

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_logit_rows(), min_size=1, max_size=8),
       steps=st.integers(1, 4), step_size=st.floats(0.01, 5), eps=st.floats(1e-7, 20),
       p=st.sampled_from([1, 2, 3, math.inf, 'inf']), with_x=st.booleans(), seed=st.integers(0, 2**16))
def test_label_never_changes_and_noise_in_budget(rows, steps, step_size, eps, p, with_x, seed):
    c0 = torch.tensor(rows, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(c0), 1, 8, 8, generator=g) if with_x else None
    q, c = M.defend_logits(c0, INV, x=x, steps=steps, step_size=step_size, eps=eps, p=p, return_logits=True, generator=g)
    label = c0.argmax(1)                               # torch's convention: the first maximum
    assert torch.equal(q.argmax(1), label)
    assert _top_strict(q, label)                       # ties are broken in favour of the original label
    assert torch.isfinite(q).all() and (q >= 0).all()
    assert torch.allclose(q.sum(1), torch.ones(len(q)), atol=1e-5)
    order = math.inf if p == 'inf' else p
    n = (c.double() - c0.double())
    assert (torch.linalg.vector_norm(n, ord=order, dim=1) <= eps * (1 + 1e-5) + 1e-5).all()

@settings(max_examples=25, deadline=None)
@given(rows=st.lists(_logit_rows(), min_size=1, max_size=6), method=st.sampled_from(list(M.POSTPROCESSORS)), seed=st.integers(0, 99))
def test_label_modifier_keeps_label_for_every_postprocessor(rows, method, seed):
    pr = torch.softmax(torch.tensor(rows), 1)
    q = M.postprocess(pr, method, label_modifier=True, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(q.argmax(1), pr.argmax(1)) and _top_strict(q, pr.argmax(1))

def test_models_untouched_and_modes_restored():
    clf = M.Classifier(K, 1, 8, ndf=4).train()
    inv = M.Inversion(K, 1, 8, ngf=4, hidden=1).train()
    inv.decoder[1].eval()                              # a mixed train/eval state must come back as it was
    modes = [m.training for m in list(clf.modules()) + list(inv.modules())]
    req = [p.requires_grad for p in list(clf.parameters()) + list(inv.parameters())]
    state = {k: v.clone() for k, v in list(clf.state_dict().items()) + [('i' + k, v) for k, v in inv.state_dict().items()]}
    x = torch.rand(5, 1, 8, 8)
    q = M.defend(clf, x, inv, steps=3, step_size=0.5, eps=1.0)
    assert [m.training for m in list(clf.modules()) + list(inv.modules())] == modes
    assert [p.requires_grad for p in list(clf.parameters()) + list(inv.parameters())] == req
    after = dict(list(clf.state_dict().items()) + [('i' + k, v) for k, v in inv.state_dict().items()])
    assert all(torch.equal(v, after[k]) for k, v in state.items())   # BN running stats too
    assert all(p.grad is None for p in list(clf.parameters()) + list(inv.parameters()))
    assert torch.equal(q.argmax(1), M.logits_of(clf, x).argmax(1))

def test_arbitrary_modules():
    f = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    a = nn.Sequential(nn.Linear(4, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    x = torch.rand(7, 1, 8, 8)
    q = M.defend(f, x, a, steps=5, step_size=0.3, eps=2.0, p=2)
    assert q.shape == (7, 4) and torch.equal(q.argmax(1), f(x).argmax(1))

def test_defense_moves_the_reconstruction():
    torch.manual_seed(0)
    c0 = torch.randn(16, K) * 2; x = torch.rand(16, 1, 8, 8)
    q = M.defend_logits(c0, INV, x=x, steps=10, step_size=0.5, eps=5.0)
    with torch.no_grad():
        e0 = (INV.eval()(torch.softmax(c0, 1)) - x).pow(2).mean(); e1 = (INV(q) - x).pow(2).mean()
    assert e1 > e0   # it maximizes the defender model's reconstruction error

@pytest.mark.parametrize('kw,arg', [(dict(eps=0), 'eps'), (dict(eps=-1.0), 'eps'), (dict(eps=float('nan')), 'eps'),
                                    (dict(steps=-1), 'steps'), (dict(steps=0), 'steps'), (dict(steps=1.5), 'steps'), (dict(step_size=0), 'step_size'),
                                    (dict(step_size=-0.1), 'step_size'), (dict(p='l7'), 'p'), (dict(p=0), 'p'), (dict(p=0.5), 'p'),
                                    (dict(p=None), 'p')])
def test_bad_arguments_named(kw, arg):
    with pytest.raises((ValueError, TypeError), match=f'^{arg}:'):
        M.defend_logits(torch.randn(3, K), INV, x=torch.rand(3, 1, 8, 8), **kw)
    with pytest.raises((ValueError, TypeError), match=f'^{arg}:'):
        M.defend(CLF, torch.rand(3, 1, 8, 8), INV, **kw)

@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_logits(bad):
    c = torch.randn(3, K); c[1, 2] = bad
    with pytest.raises(ValueError, match='^logits:'): M.defend_logits(c, INV)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, K)); nn.init.constant_(clf[1].bias, bad)
    with pytest.raises(ValueError, match='^classifier'): M.defend(clf, torch.rand(3, 1, 8, 8), INV)

def test_shape_mismatches():
    with pytest.raises(ValueError, match='^inversion:'): M.defend_logits(torch.randn(3, K + 1), INV)
    with pytest.raises(ValueError, match='^inversion:'): M.defend(nn.Sequential(nn.Flatten(), nn.Linear(64, K + 2)), torch.rand(3, 1, 8, 8), INV)
    a = nn.Sequential(nn.Linear(4, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))   # no nz attribute: found by running it
    with pytest.raises(ValueError, match='^inversion:'): M.defend_logits(torch.randn(3, 5), a, x=torch.rand(3, 1, 8, 8))
    with pytest.raises(ValueError, match='^x:'): M.defend_logits(torch.randn(3, K), INV, x=torch.rand(3, 1, 16, 16))
    with pytest.raises(ValueError, match='^x:'): M.defend_logits(torch.randn(3, K), INV, x=torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match='^logits:'): M.defend_logits(torch.randn(K), INV)
    with pytest.raises(TypeError, match='^logits:'): M.defend_logits(torch.randint(0, 3, (3, K)), INV)
    with pytest.raises(ValueError, match='^x:'): M.defend(CLF, torch.rand(3, 1, 8, 8) + 2, INV)


# --- regression tests: input checks of the post-processors, steps=0, the defender's up-sampling, the controls

PR = torch.softmax(torch.randn(5, K, generator=torch.Generator().manual_seed(0)) * 3, 1)

@pytest.mark.parametrize('probs,why', [(torch.randn(5, K) * 3, 'logits'),                      # logits taken as probabilities
                                       (torch.full((5, K), float('nan')), 'NaN'),
                                       (PR * 2, 'rows sum to 2'), (PR.double() - 0.01, 'negative entries'),
                                       (PR[0], '1-D')])
def test_postprocess_rejects_non_probabilities(probs, why):
    for m in M.POSTPROCESSORS:
        with pytest.raises(ValueError, match='^probs:'): M.postprocess(probs, m)

def test_postprocess_logits_message_says_softmax():
    with pytest.raises(ValueError, match='softmax'): M.postprocess(torch.randn(4, K) * 5, 'gaussian')

@pytest.mark.parametrize('method,strength,arg', [('rounding', -1, 'decimals'), ('rounding', 1.5, 'decimals'),
                                                  ('top_k', 0, 'k'), ('top_k', K + 1, 'k'), ('gaussian', -0.1, 'scale'),
                                                  ('laplace', -1.0, 'scale'), ('gaussian', float('nan'), 'scale'),
                                                  ('reverse_sigmoid', -1.0, 'beta'), ('label_only', 3, 'strength')])
def test_postprocess_bad_strength_named(method, strength, arg):
    with pytest.raises((ValueError, TypeError), match='^strength:') as e: M.postprocess(PR, method, strength)
    assert arg in str(e.value) and str(e.value).count('strength:') == 1   # named once, not wrapped twice
    if arg != 'strength':   # the post-processor itself names its own argument
        with pytest.raises((ValueError, TypeError), match=f'^{arg}:'): M.POSTPROCESSORS[method](PR, strength)

def test_rounding_and_top_k_valid_values_behave():
    assert torch.equal(M.rounding(torch.tensor([[0.26, 0.74]]), 1), torch.tensor([[0.3, 0.7]]))
    q = M.top_k(PR, 2)
    assert ((q > 0).sum(1) == 2).all() and torch.allclose(q.sum(1), torch.ones(len(q)))
    assert torch.equal(M.top_k(PR, K), PR / PR.sum(1, keepdim=True))

def test_postprocess_other_args():
    with pytest.raises(ValueError, match='^method:'): M.postprocess(PR, 'blur')
    with pytest.raises(TypeError, match='^label_modifier:'): M.postprocess(PR, 'gaussian', label_modifier='yes')

def test_steps_zero_is_an_error_not_the_undefended_softmax():
    for f in (lambda: M.defend(CLF, torch.rand(3, 1, 8, 8), INV, steps=0), lambda: M.defend_logits(torch.randn(3, K), INV, steps=0)):
        with pytest.raises(ValueError, match='^steps: expected >= 1'): f()

def test_defender_upsamples_in_steps_of_two():
    for size in (32, 64):
        d = M.Inversion(10, 1, size, ngf=4, hidden=M.defender_hidden(size))
        assert not any(isinstance(m, nn.PixelShuffle) for m in d.modules())
        learned = [m for m in d.modules() if isinstance(m, nn.ConvTranspose2d)]
        assert all(m.stride[0] <= 2 for m in learned[1:])          # no learned layer jumps more than 2x
        assert d(torch.softmax(torch.randn(2, 10), 1)).shape == (2, 1, size, size)
        assert d.hidden == M.attacker_hidden(size) - 2

@pytest.mark.parametrize('space', ['logit', 'prob'])
@pytest.mark.parametrize('kind', ['gaussian', 'sign'])
def test_matched_noise_matches_the_distortion_and_keeps_the_label(space, kind):
    c0 = torch.randn(40, K, generator=torch.Generator().manual_seed(3)) * 4
    target = torch.rand(40, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * (0.5 if space == 'logit' else 0.02)
    q, c = M.matched_noise(c0, target, space, kind, label_modifier=True, generator=torch.Generator().manual_seed(5), return_logits=True)
    got = M.logit_distortions(c, c0) if space == 'logit' else M.conf_distortions(q, torch.softmax(c0, 1))
    assert torch.allclose(got, target, rtol=1e-3, atol=1e-6)
    assert torch.equal(q.argmax(1), c0.argmax(1))

def test_crafted_noise_beats_random_noise_of_the_same_distortion_on_the_defender():
    torch.manual_seed(0)
    inv = M.Inversion(K, 1, 8, ngf=8, hidden=1).eval()
    c0 = torch.randn(64, K) * 2; x = torch.rand(64, 1, 8, 8)
    q, c = M.defend_logits(c0, inv, x=x, steps=10, step_size=0.3, eps=3.0, return_logits=True)
    qn = M.matched_noise(c0, M.logit_distortions(c, c0), 'logit', 'gaussian', True, generator=torch.Generator().manual_seed(1))
    e_def, e_noise = M.reconstruction_mse(inv, q, x), M.reconstruction_mse(inv, qn, x)
    assert e_def > e_noise   # white-box against its own model, the gradient direction must beat a random one

def test_oracle_and_ratio_interval():
    xs = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    mu = M.class_means(xs, torch.tensor([0, 1]), 3)
    assert torch.equal(mu[2], xs.mean(0))                        # a class without images gets the global mean
    assert torch.allclose(M.oracle_errors(mu, torch.tensor([[0.1, 0.9, 0.0]]), xs[:1]), torch.tensor([1.0]))
    import numpy as np
    a = np.random.default_rng(0).normal(3, 0.3, 300); b = np.ones(300)
    iv = M.ratio_ci(a, b, groups=np.repeat([0, 1, 2], 100))
    assert iv.lo < 3.0 < iv.hi and iv.hi - iv.lo < 0.5

def test_digits_never_fall_back_silently(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_root: MNIST not found under .*digits_data='mnist5k'"):
        M.setup_domain('digits', 'smoke', data_root=str(tmp_path))
    with pytest.raises(ValueError, match='^digits_data:'): M.setup_domain('digits', 'smoke', digits_data='mnist1k')


def _blob_world(n, seed):
    "Images 1x8x16 with a bright column at a hidden position; the label is the position's quarter; the logits carry the position."
    g = torch.Generator().manual_seed(seed)
    pos = torch.randint(0, 16, (n,), generator=g)
    x = torch.zeros(n, 1, 8, 16)
    x[torch.arange(n), 0, :, pos] = 1.0
    y = pos // 4
    c = 5 * F.one_hot(y, 4).double()
    c[:, 0] += pos.double() / 4
    return x, y, c


def test_ar_verdict_fails_when_the_defence_releases_the_undefended_softmax():
    "The headline verdict machinery can fail: a 'defence' that returns the undefended softmax removes nothing."
    xa, ya, ca = _blob_world(800, 0)
    xe, ye, ce = _blob_world(300, 1)
    attacker = M.KNNInversion(torch.softmax(ca, 1).float(), xa)
    p0 = torch.softmax(ce, 1).float()
    none = M.reconstruction_errors(attacker, p0, xe).double()
    orc = M.oracle_errors(M.class_means(xa, ya, 4), p0, xe).double()
    assert orc.mean() > 2 * none.mean()          # the attacker has a real advantage over the label here
    groups = np.repeat([0, 1, 2], 100)
    noise = M.matched_noise(ce.float(), torch.full((300,), 0.5), 'logit', 'gaussian', True, generator=torch.Generator().manual_seed(0))
    ctrl = M.reconstruction_errors(attacker, noise, xe).double()
    undefended = M.reconstruction_errors(attacker, p0.clone(), xe).double()   # the defence replaced by the undefended softmax
    ar = M.ar_ci(undefended, none, orc, groups)
    assert ar.est == 0 and ar.hi < M.AR_HELPS
    assert M.defence_verdict(ar, M.ar_ci(undefended, none, orc, groups, control=ctrl)) == 'not reproduced'
    label_only = M.reconstruction_errors(attacker, M.postprocess(p0, 'label_only'), xe).double()   # all but the label removed
    assert M.ar_ci(label_only, none, orc, groups).lo > M.AR_HELPS


def test_gate_rho_and_knn_module():
    xa, ya, ca = _blob_world(400, 0)
    xe, ye, ce = _blob_world(200, 1)
    knn = M.KNNInversion(torch.softmax(ca, 1).float(), xa, k=1)
    p0 = torch.softmax(ce, 1).float()
    assert M.reconstruction_errors(knn, p0, xe).max() == 0      # the position is in the outputs: exact with k = 1
    orc = M.oracle_errors(M.class_means(xa, ya, 4), p0, xe)
    rho = M.rho_ci(M.reconstruction_errors(knn, p0, xe), orc)
    assert rho.est == 1 and rho.lo == 1
    with pytest.raises(ValueError, match='^aux_x:'): M.KNNInversion(torch.softmax(ca, 1).float(), xa[:3])
    with pytest.raises(ValueError, match='^aux_probs:'): M.KNNInversion(-ca.float(), xa)
class _Rounded(nn.Module):
    "A classifier with many tied logits (rounded to integers)."
    def __init__(self, dtype):
        super().__init__()
        self.f = nn.Sequential(nn.Flatten(), nn.Linear(64, K)).to(dtype)
    def forward(self, x): return torch.round(3 * self.f(x))

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('p', [1, 2, math.inf])
def test_defend_keeps_label_budget_and_dtype_in_chunks(dtype, p):
    torch.manual_seed(0)
    clf = _Rounded(dtype).eval()
    inv = M.Inversion(K, 1, 8, ngf=4, hidden=1).to(dtype).eval()
    x = torch.rand(300, 1, 8, 8, dtype=dtype)                  # more than LOGITS_CHUNK: the classifier runs in chunks
    c0 = M.logits_of(clf, x)
    label = c0.argmax(1)
    assert (c0 == c0.amax(1, keepdim=True)).sum(1).gt(1).any()  # some rows tie at the maximum
    runs = [M.defend(clf, x, inv, steps=4, step_size=0.5, eps=1.5, p=p, return_logits=True, batch_size=b) for b in (7, 512)]
    for q, c in runs:
        assert q.dtype == c.dtype == dtype and q.shape == c.shape == c0.shape
        assert torch.equal(q.argmax(1), label) and _top_strict(q, label)
        assert (torch.linalg.vector_norm(c.double() - c0.double(), ord=p, dim=1) <= 1.5 * (1 + 1e-6)).all()
        assert torch.allclose(q.double().sum(1), torch.ones(len(q), dtype=torch.float64), atol=1e-5)
    if dtype == torch.float64: assert torch.allclose(runs[0][0], runs[1][0], atol=1e-9)   # chunking changes nothing

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_defend_logits_returns_the_logits_dtype(dtype):
    c0 = (torch.randn(20, K) * 3).round().to(dtype)
    q, c = M.defend_logits(c0, INV, steps=2, step_size=0.5, eps=1.0, p=2, return_logits=True, generator=torch.Generator().manual_seed(0))
    assert q.dtype == c.dtype == dtype
    assert torch.equal(q.argmax(1), c0.argmax(1)) and _top_strict(q, c0.argmax(1))
