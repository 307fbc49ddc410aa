"Fake Gradient (paper 003): exact decryption on every architecture, keys, scripting and bad inputs."
import io, json, os, stat
import pytest, torch, torch.nn as nn
from privbook import models, fakegrad

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


def test_fake_output_rate(resnet, x):
    # features after ReLU are non-negative: a large S_a sends every input to a fake output
    pm, key = fakegrad.protect(resnet, scale=50.0, seed=0)
    with torch.no_grad(): fen = pm(x)
    rate = fakegrad.fake_output_rate(fen, key)
    assert 0 <= rate <= 1
    fake = set(fakegrad.fake_indices(key).tolist())
    assert rate == sum(int(i) in fake for i in fen.argmax(1)) / len(fen)


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
    tail = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(-1)); tail.input_shape = (1, 28, 28)
    with pytest.raises(ValueError, match='^layer'): fakegrad.protect(tail)
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
    pm2, key2 = fakegrad.protect(resnet, seed=1)
    with pytest.raises(ValueError, match='^key'): fakegrad.decrypt(fen, key2, model=pm)
    # a user-named layer works too
    named, k = fakegrad.protect(resnet, layer='net.fc', seed=0)
    with torch.no_grad(): assert (fakegrad.decrypt(named(x), k) - resnet(x)).abs().max() <= 1e-5
