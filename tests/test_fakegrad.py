"Fake Gradient (Feng et al., MM '21): exact decryption on every architecture, keys, scripting, bad inputs, and behaviour on a trained model."
import copy, io, json, os, stat
import pytest, torch, torch.nn as nn
from privbook import data, models, fakegrad

ARCHS = ['resnet34', 'resnet18', 'densenet121', 'vgg19', 'vgg11', 'mobilenet_v2', 'googlenet']
LAST = {'resnet34': 'net.fc', 'resnet18': 'net.fc', 'densenet121': 'net.classifier', 'vgg19': 'net.classifier.6',
        'vgg11': 'net.classifier.6', 'mobilenet_v2': 'net.classifier.1', 'googlenet': 'net.fc'}
torch.set_num_threads(1)


@pytest.fixture(scope='module')
def x():
    return torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope='module')
def resnet():
    return models.build('resnet18', 10, in_channels=1, image_size=28)


@pytest.mark.parametrize('arch', ARCHS)
def test_decrypt_exact_every_arch(arch, x):
    torch.manual_seed(0)
    m = models.build(arch, 10, in_channels=1, image_size=28)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    pm, key = fakegrad.protect(m, scale=2.0)
    assert key.layer == LAST[arch]
    with torch.no_grad(): f, fen = m(x), pm(x)
    assert fen.shape == (2, 20)
    assert (fakegrad.decrypt(fen, key) - f).abs().max().item() <= 1e-5
    # the original model is untouched
    assert m.get_submodule(LAST[arch]).out_features == 10
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
    # size growth is exactly the fake rows
    fc = m.get_submodule(LAST[arch])
    assert sum(p.numel() for p in pm.parameters()) - sum(p.numel() for p in m.parameters()) == fc.weight.numel() + fc.bias.numel()


def test_random_weight(resnet, x):
    rw, rkey = fakegrad.random_weight(resnet, seed=1)
    W_o, W_en = resnet.net.fc.weight.detach(), rw.net.fc.weight.detach()
    W_F = W_en[fakegrad.fake_indices(rkey)]
    assert abs(W_F.mean() - W_o.mean()) < 0.1 * W_o.std() and abs(W_F.std() / W_o.std() - 1) < 0.1
    with torch.no_grad(): assert (fakegrad.decrypt(rw(x), rkey) - resnet(x)).abs().max().item() <= 1e-5


def test_algorithm1_and_layout(resnet, x):
    pm, key = fakegrad.protect(resnet, scale=3.0, seed=0)
    W_o, b_o = resnet.net.fc.weight.detach(), resnet.net.fc.bias.detach()
    W_en, b_en = pm.net.fc.weight.detach(), pm.net.fc.bias.detach()
    real, fake = fakegrad.real_indices(key), fakegrad.fake_indices(key)
    assert torch.equal(W_en[real], W_o) and torch.equal(b_en[real], b_o) and torch.equal(b_en[fake], b_o)
    assert torch.allclose(W_en[fake], (W_o.max() - W_o.abs()) * 3.0 * W_o.sign())
    assert type(pm.net.fc) is nn.Linear and pm.net.fc.out_features == 20


@pytest.fixture(scope='module')
def trained():
    "A small CNN trained on 2,000 mnist5k images for two epochs (about a second of CPU), seeded; and 200 test images."
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(512, 10))
    net.input_shape = (1, 28, 28)
    x, y = data.load('mnist5k', 'train', size=2000, seed=0).tensors
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    for _ in range(2):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[b]), y[b]).backward()
            opt.step()
    net.eval()
    xt, yt = data.load('mnist5k', 'test', size=200, seed=0).tensors
    assert (models.predict(net, xt).argmax(1) == yt).float().mean() > 0.85
    return net, xt, yt


def test_fake_output_rate_trained(trained):
    # S_a = 2 on a trained ReLU network: every test image's argmax is a fake output; the random-weight baseline's almost never
    net, xt, yt = trained
    pm, key = fakegrad.protect(net, scale=2.0, seed=0)
    fen = models.predict(pm, xt)
    assert fakegrad.fake_output_rate(fen, key) == 1.0
    fake = set(fakegrad.fake_indices(key).tolist())
    assert all(int(i) in fake for i in fen.argmax(1))
    rw, rkey = fakegrad.random_weight(net, seed=0)
    assert fakegrad.fake_output_rate(models.predict(rw, xt), rkey) < 0.2
    assert torch.equal(fakegrad.decrypt(fen, key).argmax(1), models.predict(net, xt).argmax(1))


def test_deepfool_fools_unprotected(trained):
    # DeepFool with the overshoot on the total perturbation crosses the boundary of every correctly classified image
    net, xt, yt = trained
    ok = (models.predict(net, xt).argmax(1) == yt).nonzero().flatten()[:32]
    r = fakegrad.deepfool_eval(net, net, xt[ok], yt[ok], steps=50)
    assert r['fooled'].all() and not r['success'].any()
    assert (r['l2'] > 0).all() and (r['steps'] < 50).all()
    adv = r['x_adv']
    assert adv.min() >= 0 and adv.max() <= 1


def test_deepfool_memory_bounded_chunks(trained):
    # batching changes nothing but memory: the same adversarial images with 1 or 16 images per batch, 2 or 10 candidates
    net, xt, yt = trained
    x, lab = xt[:6], models.predict(net, xt[:6]).argmax(1)
    a = fakegrad.DeepFool(net, steps=20, batch=1)(x, lab)
    b = fakegrad.DeepFool(net, steps=20, batch=16)(x, lab)
    assert (a - b).abs().max() < 1e-4
    c = fakegrad.DeepFool(net, steps=20, candidates=2)(x, lab)
    assert (models.predict(net, c).argmax(1) != lab).all()   # fewer candidates still crosses, by another route


@pytest.mark.parametrize('attack', ['pgd', 'apgd', 'apgd-dlr', 'square', 'noise'])
def test_attack_eval_runs_and_respects_budget(trained, attack):
    net, xt, yt = trained
    pm, key = fakegrad.protect(net, seed=0)
    r = fakegrad.attack_eval(pm, fakegrad.Decrypted(pm, key), xt[:4], yt[:4], attack, eps=0.3, steps=5)
    assert r['linf'].max() <= 0.3 + 1e-6 and r['x_adv'].min() >= 0 and r['x_adv'].max() <= 1
    assert r['success'].shape == (4,) and r['fooled'].dtype == torch.bool
    with pytest.raises(ValueError, match='^attack'): fakegrad.attack_eval(pm, net, xt[:2], yt[:2], 'cw')


def test_key_csprng_seed_and_repr(resnet):
    _, k1 = fakegrad.protect(resnet); _, k2 = fakegrad.protect(resnet)
    assert not torch.equal(k1.perm, k2.perm)
    _, s1 = fakegrad.protect(resnet, seed=7); _, s2 = fakegrad.protect(resnet, seed=7)
    assert torch.equal(s1.perm, s2.perm)
    for text in (repr(k1), str(k1), f'{k1}'):
        assert str(k1.perm.tolist()) not in text and ', '.join(map(str, k1.perm.tolist()[:4])) not in text


def test_key_save_load(tmp_path, resnet, x):
    pm, key = fakegrad.protect(resnet, seed=0)
    pm2, key2 = fakegrad.protect(resnet, seed=1)
    p = fakegrad.save_key(key, tmp_path/'key.json')
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    k = fakegrad.load_key(p, model=pm)
    assert k == key and torch.equal(k.perm, key.perm)
    key.save_key(tmp_path/'k2.json'); assert fakegrad.Key.load_key(tmp_path/'k2.json') == key
    with torch.no_grad(): assert torch.equal(fakegrad.decrypt(pm(x), k), fakegrad.decrypt(pm(x), key))
    with pytest.raises(ValueError, match='^key'): fakegrad.load_key(p, model=pm2)       # another model's key
    with pytest.raises(ValueError, match='^key'): fakegrad.load_key(p, model=resnet)    # 10 outputs, not 20
    text = p.read_text()
    (tmp_path/'trunc.json').write_text(text[:len(text)//2])
    with pytest.raises(ValueError, match='^path'): fakegrad.load_key(tmp_path/'trunc.json')
    doc = json.loads(text); doc['perm'] = doc['perm'][:-2]
    (tmp_path/'short.json').write_text(json.dumps(doc))
    with pytest.raises(ValueError, match='^path'): fakegrad.load_key(tmp_path/'short.json')
    doc = json.loads(text); doc['perm'][0] = doc['perm'][1]
    (tmp_path/'dup.json').write_text(json.dumps(doc))
    with pytest.raises(ValueError, match='^path'): fakegrad.load_key(tmp_path/'dup.json')
    with pytest.raises(FileNotFoundError, match='^path'): fakegrad.load_key(tmp_path/'missing.json')


def test_save_load_script(tmp_path, resnet, x):
    pm, key = fakegrad.protect(resnet, seed=0)
    with torch.no_grad(): ref = pm(x)
    # state dict into a fresh protected architecture
    fresh, _ = fakegrad.protect(models.build('resnet18', 10, in_channels=1, image_size=28), seed=3)
    fresh.load_state_dict(pm.state_dict())
    with torch.no_grad(): assert torch.equal(fresh(x), ref)
    # whole-model pickling
    buf = io.BytesIO(); torch.save(pm, buf); buf.seek(0)
    with torch.no_grad(): assert torch.equal(torch.load(buf, weights_only=False)(x), ref)
    # TorchScript
    sm = torch.jit.script(pm); sm.save(str(tmp_path/'pm.pt'))
    with torch.no_grad(): assert (torch.jit.load(str(tmp_path/'pm.pt'))(x) - ref).abs().max() <= 1e-5
    assert (fakegrad.decrypt(sm(x), key) - resnet(x)).abs().max() <= 1e-5


def test_bad_inputs(resnet, x):
    with pytest.raises(ValueError, match='^model'): fakegrad.protect(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()))
    with pytest.raises(TypeError, match='^model'): fakegrad.protect('resnet18')
    with pytest.raises(ValueError, match='^layer'): fakegrad.protect(resnet, layer='net.nope')
    with pytest.raises(TypeError, match='^layer'): fakegrad.protect(resnet, layer='net.conv1')
    for s in (1, 1.0, 0.5, -2, float('inf')):
        with pytest.raises(ValueError, match='^scale'): fakegrad.protect(resnet, scale=s)
    with pytest.raises(TypeError, match='^scale'): fakegrad.protect(resnet, scale='2')
    pm, key = fakegrad.protect(resnet, seed=0)
    with pytest.raises(ValueError, match='^key'): fakegrad.protect(resnet, key=fakegrad.Key.generate(16))
    with pytest.raises(TypeError, match='^key'): fakegrad.protect(resnet, key=[1, 0])
    with pytest.raises(ValueError, match='^seed'): fakegrad.protect(resnet, key=key, seed=1)
    with torch.no_grad(): fen = pm(x)
    with pytest.raises(ValueError, match='^outputs'): fakegrad.decrypt(fen[:, :10], key)
    with pytest.raises(ValueError, match='^outputs'): fakegrad.decrypt(fen[None], key)
    with pytest.raises(TypeError, match='^outputs'): fakegrad.decrypt(fen.tolist(), key)
    with pytest.raises(TypeError, match='^key'): fakegrad.decrypt(fen, None)
    # a user-named layer works too
    named, k = fakegrad.protect(resnet, layer='net.fc', seed=0)
    with torch.no_grad(): assert (fakegrad.decrypt(named(x), k) - resnet(x)).abs().max() <= 1e-5


# Regressions: broken models were protected silently (a Softmax tail decrypted wrong; a model whose last registered
# Linear is not the last one called got a hidden layer doubled; S_a = 1e39 gave NaN outputs; a wrong key gave garbage).

class HeadFirst(nn.Module):
    "Registers its output layer before a hidden Linear: registration order says 'hidden', the forward pass says 'head'."
    def __init__(self):
        super().__init__()
        self.head, self.hidden = nn.Linear(8, 3), nn.Linear(4, 8)
    def forward(self, x): return self.head(torch.relu(self.hidden(x)))


def test_protect_traces_the_output_layer():
    torch.manual_seed(0)
    m, x = HeadFirst(), torch.rand(5, 4)
    assert models.last_linear(m)[0] == 'hidden'
    pm, key = fakegrad.protect(m, example=x, seed=0)
    assert key.layer == 'head' and pm.hidden.out_features == 8 and pm.head.out_features == 6
    with torch.no_grad(): assert (fakegrad.decrypt(pm(x), key) - m(x)).abs().max() <= 1e-6
    with pytest.raises(ValueError, match="^layer: 'hidden'"): fakegrad.protect(m, layer='hidden', example=x)


@pytest.mark.parametrize('with_shape', [True, False])
def test_protect_refuses_softmax_tail(with_shape):
    tail = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(-1))
    kw = {}
    if with_shape: tail.input_shape = (1, 28, 28)
    else: kw['example'] = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match='^model: .*Softmax'): fakegrad.protect(tail, **kw)
    with pytest.raises(ValueError, match='^layer'): fakegrad.protect(tail, layer='1', **kw)


def test_protect_refuses_functional_tail_shared_layer_and_untraceable():
    class Scaled(HeadFirst):
        def forward(self, x): return 2 * super().forward(x)
    with pytest.raises(ValueError, match='^model: .*operation after'): fakegrad.protect(Scaled(), example=torch.rand(2, 4))
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
        def forward(self, x): return self.fc(torch.relu(self.fc(x)))
    with pytest.raises(ValueError, match='^model: .*called 2 times'): fakegrad.protect(Twice(), example=torch.rand(2, 4))
    with pytest.raises(ValueError, match='^example'): fakegrad.protect(HeadFirst())
    with pytest.raises(TypeError, match='^example'): fakegrad.protect(HeadFirst(), example=[[0.1] * 4])


@pytest.mark.parametrize('scale', [1e39, 1e36])
def test_protect_refuses_overflowing_scale(resnet, scale):
    with pytest.raises(ValueError, match='^scale: .*overflow'): fakegrad.protect(resnet, scale=scale)
    pm, key = fakegrad.protect(resnet, scale=1e6, seed=0)   # large but safe
    assert torch.isfinite(pm(torch.rand(2, 1, 28, 28))).all()


def test_wrong_key_is_refused(tmp_path, resnet, x):
    pm, key = fakegrad.protect(resnet, seed=0)
    pm2, key2 = fakegrad.protect(resnet, seed=1)        # same model, same width, another key
    with torch.no_grad(): fen = pm(x)
    with pytest.raises(ValueError, match='^key: is not the key'): fakegrad.decrypt(fen, key2, model=pm)
    with pytest.raises(ValueError, match='^key: is not the key'): fakegrad.Decrypted(pm, key2)
    # the fingerprint is stored with the model: it survives a state_dict round trip and a cast to another precision
    fresh, _ = fakegrad.protect(models.build('resnet18', 10, in_channels=1, image_size=28), seed=3)
    fresh.load_state_dict(pm.state_dict())
    with pytest.raises(ValueError, match='^key'): fakegrad.Decrypted(fresh, key2)
    assert torch.equal(fakegrad.Decrypted(fresh, key)(x), fakegrad.Decrypted(pm, key)(x))
    half = fakegrad.Decrypted(copy.deepcopy(pm).double(), key)
    assert (half(x.double()) - resnet(x)).abs().max() <= 1e-4
    with pytest.raises(ValueError, match='^key'): fakegrad.Decrypted(copy.deepcopy(pm).double(), key2)
    # a key file keeps the nonce; a file from before key ids (no nonce, no MAC) is refused, with or without the model
    p = fakegrad.save_key(key, tmp_path/'k.json')
    assert fakegrad.load_key(p, model=pm).key_id == key.key_id
    doc = json.loads(p.read_text())
    doc.pop('nonce'); doc.pop('mac')
    doc['version'] = 1
    (tmp_path/'v1.json').write_text(json.dumps(doc)); (tmp_path/'v1.json').chmod(0o600)
    for kw in ({}, dict(model=pm)):
        with pytest.raises(ValueError, match='^path:.*version 1'): fakegrad.load_key(tmp_path/'v1.json', **kw)


def test_authors_fake_bias(resnet, x):
    # the authors' code: b_F = (max b_o - |b_o|) * S_a * sign(b_o), sign(0) = +1; the paper: b_F = b_o; W_F the same in both
    b_o = resnet.net.fc.bias.detach()
    pa, ka = fakegrad.protect(resnet, scale=20.0, seed=0, fake_bias='authors')
    pp, kp = fakegrad.protect(resnet, scale=20.0, seed=0)
    sign = torch.where(b_o < 0, -1.0, 1.0)
    assert torch.allclose(pa.net.fc.bias.detach()[fakegrad.fake_indices(ka)], (b_o.max() - b_o.abs()) * 20.0 * sign)
    assert torch.equal(pp.net.fc.bias.detach()[fakegrad.fake_indices(kp)], b_o)
    assert torch.equal(pa.net.fc.weight, pp.net.fc.weight)
    assert pa.fakegrad['fake_bias'] == 'authors' and pp.fakegrad['fake_bias'] == 'paper'
    with torch.no_grad(): assert (fakegrad.decrypt(pa(x), ka) - resnet(x)).abs().max().item() <= 1e-5
    with pytest.raises(ValueError, match='^fake_bias'): fakegrad.protect(resnet, fake_bias='b_o')


def test_deepfool_exact_on_a_linear_model():
    # on an affine classifier DeepFool's first step lands on the closest decision boundary: its L2 is the exact minimal
    # distance min_k |f_k - f_l| / ||w_k - w_l|| (times 1 + overshoot); a step that is too long or too short fails here
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    x = 0.4 + 0.2 * torch.rand(16, 1, 28, 28)
    with torch.no_grad(): f = lin(x)
    lab = f.argmax(1)
    W = lin[1].weight.detach()
    d = torch.stack([min((f[i, k] - f[i, lab[i]]).abs() / (W[k] - W[lab[i]]).norm() for k in range(10) if k != lab[i]) for i in range(len(x))])
    atk = fakegrad.DeepFool(lin, steps=50, overshoot=0.02, candidates=10, clip=False)
    adv = atk(x, lab)
    l2 = (adv - x).flatten(1).norm(dim=1)
    assert (atk.n_steps == 1).all() and (lin(adv).argmax(1) != lab).all()
    assert torch.allclose(l2, 1.02 * (d + 1e-4), rtol=1e-3, atol=1e-5)


def test_deepfool_l2_close_to_torchattacks(trained):
    # the same images, the same model: our DeepFool's mean L2 is within a factor 1.5 of torchattacks' (both minimal-L2 attacks)
    import torchattacks
    net, xt, yt = trained
    ok = (models.predict(net, xt).argmax(1) == yt).nonzero().flatten()[:16]
    x, y = xt[ok], yt[ok]
    ours = (fakegrad.DeepFool(net, steps=50)(x, y) - x).flatten(1).norm(dim=1).mean()
    theirs = (torchattacks.DeepFool(net, steps=50, overshoot=0.02)(x, y) - x).flatten(1).norm(dim=1).mean()
    assert 1 / 1.5 < ours / theirs < 1.5


def test_l2_budget_and_norm_checks(trained):
    net, xt, yt = trained
    pm, key = fakegrad.protect(net, scale=20.0, seed=0, fake_bias='authors')
    r = fakegrad.attack_eval(pm, fakegrad.Decrypted(pm, key), xt[:4], yt[:4], 'apgd-dlr', eps=1.0, steps=5, norm='L2')
    assert r['l2'].max() <= 1.0 + 1e-4 and r['x_adv'].min() >= 0 and r['x_adv'].max() <= 1
    with pytest.raises(ValueError, match='^norm'): fakegrad.make_attack('pgd', pm, eps=1.0, norm='L2')
    with pytest.raises(ValueError, match='^norm'): fakegrad.make_attack('apgd', pm, eps=1.0, norm='L1')
