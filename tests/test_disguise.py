"Tests of privbook.disguise (DisguisedNets, paper 002): API lines of DESIGN.md, keys, ECB, inverses, attacks, bad input."
import os, json, stat
import numpy as np, pytest, torch
from privbook import disguise
from privbook.disguise import Disguise, METHODS

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def x_uint8():
    "Digit-like uint8 images 28x28: blank background with random strokes (no dataset download needed)."
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(40, 1, 28, 28, dtype=torch.uint8)
    for i in range(40):
        r0, c0 = torch.randint(4, 14, (2,), generator=g).tolist()
        x[i, 0, r0:r0+10, c0:c0+10] = torch.randint(0, 256, (10, 10), generator=g, dtype=torch.int64).to(torch.uint8)
    return x

def test_design_api_lines(tmp_path, x_uint8):
    d = disguise.Disguise(method='aes-ecb', block=7, unit=16, noise=0.02)
    path = tmp_path/'k.key'
    d.save_key(path); d2 = disguise.Disguise.load_key(path)
    y_ = d.transform(x_uint8); x_ = d.inverse(y_)
    assert y_.shape == x_uint8.shape and y_.dtype == torch.uint8 and x_.dtype == torch.uint8
    assert (x_ != x_uint8).float().mean() < .06              # only the 2% salt-and-pepper pixels differ
    assert torch.equal(d2.inverse(y_), x_)                    # the key saved before the first transform decrypts it
    for m in ('aes-cbc', 'rmt-orth', 'rmt-proj'): disguise.Disguise(method=m, block=7).transform(x_uint8)

@pytest.mark.parametrize('method', METHODS)
def test_key_round_trip_bit_for_bit(tmp_path, x_uint8, method):
    d = Disguise(method, 7 if method.startswith('rmt') else 4)
    ref = d.transform(x_uint8)
    p = d.save_key(tmp_path/f'{method}.key')
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    d2 = Disguise.load_key(p)
    assert torch.equal(d2.transform(x_uint8), ref)
    y = torch.arange(10)
    assert torch.equal(d2.relabel_labels(y), d.relabel_labels(y))
    assert 'master' not in repr(d2) and '<hidden>' in repr(d2) and '<hidden>' in repr(d2.key)

def test_ecb_deterministic_per_position_and_key(x_uint8):
    d = Disguise('aes-ecb', 4, permute=False, seed=5)
    z = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    y = d.transform(z)
    assert torch.equal(y[0], y[1]) and torch.equal(y[1], y[2])             # same plaintext, same position -> same
    assert not torch.equal(y[0, 0, :4, :4], y[0, 0, :4, 4:8])            # same plaintext, other position -> differs
    assert torch.equal(Disguise('aes-ecb', 4, permute=False, seed=5).transform(x_uint8), d.transform(x_uint8))
    # unit-level determinism: change one unit, only that unit changes
    x2 = x_uint8[:1].clone(); x2[0, 0, 0, 0] ^= 1
    diff = (d.transform(x2) != d.transform(x_uint8[:1]))[0, 0]
    assert diff[:4, :4].any() and not diff[4:].any() and not diff[:, 4:].any()

def test_cbc_chains_within_block():
    d = Disguise('aes-cbc', 8, permute=False, seed=0)      # 8x8 block = 4 units of 16 bytes
    x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8); x2 = x.clone(); x2[0, 0, 0, 0] = 1
    diff = (d.transform(x) != d.transform(x2))[0, 0]
    assert diff[6:].any()                                 # the change propagates to the last unit

@pytest.mark.parametrize('method', ['aes-ecb', 'aes-cbc'])
def test_inverse_exact_for_aes(x_uint8, method):
    for block in (4, 7, 14, (7, 14)):
        d = Disguise(method, block)
        assert torch.equal(d.inverse(d.transform(x_uint8)), x_uint8)
    xf = x_uint8.float() / 255
    d = Disguise(method, 7)
    assert torch.allclose(d.inverse(d.transform(xf)), xf, atol=1e-6)

def test_inverse_rmt_up_to_noise(x_uint8):
    xf = x_uint8.float() / 255
    for m in ('rmt-orth', 'rmt-proj'):
        d = Disguise(m, 7)
        assert (d.inverse(d.transform(xf)) - xf).abs().max() < 1e-4
        dn = Disguise(m, 7, noise=100)
        err = (dn.inverse(dn.transform(xf)) - xf).abs().max()
        assert 1e-3 < err <= 100/255/2 + 1e-4

def test_rgb_and_float_kinds():
    x = torch.rand(3, 3, 32, 32)
    for m in METHODS:
        d = Disguise(m, 8); y = d.transform(x)
        assert y.dtype == torch.float32 and 0 <= y.min() and y.max() <= 1 and y.shape == x.shape

def test_two_keys_differ_and_wrong_key_fails(x_uint8):
    for m in METHODS:
        b = 7 if m.startswith('rmt') else 4
        d1, d2 = Disguise(m, b), Disguise(m, b)
        y1 = d1.transform(x_uint8)
        assert not torch.equal(y1, d2.transform(x_uint8))
        d2.transform(x_uint8[:1])                         # bind d2's key to the same shape
        rec = d2.inverse(y1)
        if m.startswith('aes'): assert (rec != x_uint8).float().mean() > .9
        else: assert (rec - x_uint8.float() / 255).abs().amax((1, 2, 3)).min() > .3

def test_seeded_keys_reproducible(x_uint8):
    assert torch.equal(Disguise('rmt-orth', 7, seed=3).transform(x_uint8), Disguise('rmt-orth', 7, seed=3).transform(x_uint8))
    assert not torch.equal(Disguise('rmt-orth', 7, seed=3).transform(x_uint8), Disguise('rmt-orth', 7, seed=4).transform(x_uint8))

def test_unit2_is_the_fig4_path(x_uint8):
    d = Disguise('aes-ecb', 28, unit=2, permute=False, seed=1)
    img = x_uint8[0, 0].numpy()
    big = np.kron(img, np.ones((8, 8), np.uint8))
    y = d.transform(x_uint8[:1])
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    c = Cipher(algorithms.AES(bytes(d.key.aes[0])), modes.ECB()).encryptor()
    enc = np.frombuffer(c.update(big.tobytes()) + c.finalize(), np.uint8).reshape(big.shape)
    ref = np.rint(enc.reshape(28, 8, 28, 8).mean((1, 3))).astype(np.uint8)
    assert np.array_equal(y[0, 0].numpy(), ref)

def test_relabel_round_trip():
    d = Disguise('aes-ecb', 4, seed=0)
    y = torch.arange(10).repeat(3)
    c = d.relabel_labels(y)
    assert torch.equal(d.restore_labels(c), y) and not torch.equal(c, y)
    assert torch.equal(Disguise('aes-ecb', 4, relabel=False).relabel_labels(y), y)

def test_key_file_errors(tmp_path, x_uint8):
    d = Disguise('rmt-orth', 7); d.transform(x_uint8[:2])
    p = d.save_key(tmp_path/'k.key'); text = p.read_text()
    (tmp_path/'trunc.key').write_text(text[:len(text)//2])
    with pytest.raises(ValueError, match='^path:.*truncated'): Disguise.load_key(tmp_path/'trunc.key')
    dd = json.loads(text); dd['noise'] = 5.0
    (tmp_path/'edit.key').write_text(json.dumps(dd))
    with pytest.raises(ValueError, match='^path:.*checksum'): Disguise.load_key(tmp_path/'edit.key')
    with pytest.raises(ValueError, match='^method:'): Disguise.load_key(p, method='aes-ecb')
    with pytest.raises(FileNotFoundError, match='^path:'): Disguise.load_key(tmp_path/'missing.key')

def test_bad_inputs(x_uint8):
    with pytest.raises(ValueError, match='^method:'): Disguise('aes-xts', 4)
    with pytest.raises(TypeError, match='^block:'): Disguise('aes-ecb', 4.5)
    with pytest.raises(ValueError, match='^block:'): Disguise('aes-ecb', 0)
    with pytest.raises(ValueError, match='^unit:'): Disguise('aes-ecb', 4, unit=3)
    with pytest.raises(ValueError, match='^noise:'): Disguise('aes-ecb', 4, noise=-1)
    with pytest.raises(ValueError, match='^noise:'): Disguise('aes-ecb', 4, noise=1.5)
    with pytest.raises(ValueError, match='^block: image size 28x28'): Disguise('aes-ecb', 5).transform(x_uint8)
    with pytest.raises(ValueError, match='^block:'): Disguise('aes-ecb', 2).transform(x_uint8)   # 4 bytes < one AES unit
    with pytest.raises(ValueError, match='^unit:'): Disguise('aes-ecb', 7, unit=2).transform(x_uint8)
    with pytest.raises(TypeError, match='^x: expected uint8'): Disguise('aes-ecb', 4).transform(x_uint8.long())
    with pytest.raises(ValueError, match=r'^x: float images must lie in \[0,1\]'): Disguise('rmt-orth', 7).transform(x_uint8.float())
    with pytest.raises(TypeError, match='^x:'): Disguise('aes-ecb', 4).transform(x_uint8.numpy().tolist())
    with pytest.raises(ValueError, match='^x:'): Disguise('aes-ecb', 4).transform(x_uint8[0])
    d = Disguise('aes-ecb', 4); d.transform(x_uint8)
    with pytest.raises(ValueError, match='^x: this key was made for 1-channel'): d.transform(x_uint8.repeat(1, 3, 1, 1))
    with pytest.raises(ValueError, match='^x: this key was made for images of shape'): d.transform(x_uint8[:, :, :24, :24])
    with pytest.raises(ValueError, match='^y: this key was made for images of shape'): d.inverse(x_uint8[:, :, :24, :24])
    with pytest.raises(ValueError, match='^fill:'): disguise.codebook_attack(x_uint8, x_uint8, x_uint8, 4, fill='nope')
    with pytest.raises(ValueError, match='^known_y:'): disguise.regression_attack(x_uint8, x_uint8[:3], x_uint8, 7)

def test_codebook_attack(x_uint8):
    d = Disguise('aes-ecb', 4, seed=0)
    yk = d.transform(x_uint8)
    rec, hit = disguise.codebook_attack(x_uint8, yk, yk, 4, perm=d.key.perm)
    assert hit == 1.0 and torch.equal(rec, x_uint8)       # the known images decode perfectly
    rec, hit = disguise.codebook_attack(x_uint8[:20], yk[:20], yk[20:], 4, perm=d.key.perm, fill='zero')
    assert 0 < hit < 1 and rec.shape == x_uint8[20:].shape
    assert (rec == x_uint8[20:]).float().mean() >= hit     # every hit decodes exactly (zeros fill the blanks)
    d2 = Disguise('aes-ecb', 4, unit=2, seed=0); y2 = d2.transform(x_uint8)
    rec, hit = disguise.codebook_attack(x_uint8[:20], y2[:20], y2[20:], 4, unit=2, perm=d2.key.perm)
    assert 0 < hit <= 1

def test_regression_attack_breaks_noise_free_rmt(x_uint8):
    d = Disguise('rmt-orth', 7, seed=0)
    xp = torch.rand(1, 1, 28, 28)
    xf = x_uint8.float() / 255
    rec = disguise.regression_attack(xp, d.transform(xp), d.transform(xf), 7, perm=d.key.perm)
    assert (rec - xf).abs().max() < 1e-3

def test_examiner_success_rate_uses_metric():
    class Const(torch.nn.Module):
        def __init__(s): super().__init__(); s.w = torch.nn.Parameter(torch.zeros(1))
        def forward(s, x): return torch.stack([x.flatten(1).mean(1) * 0 + 1, x.flatten(1).mean(1) * 0], 1) + 0 * s.w
    y = torch.zeros(4, dtype=torch.int64)
    x = torch.rand(4, 1, 8, 8)
    assert disguise.examiner_success_rate(Const(), x, x, y) == 100.0
    with pytest.raises(ValueError, match='^x_attacked:'): disguise.examiner_success_rate(Const(), x[:, :, :4], x, y)

def test_alexnet_small_shapes():
    for c, s in ((1, 28), (1, 32), (3, 32)):
        m = disguise.alexnet_small(10, c, s)
        assert m(torch.rand(2, c, s, s)).shape == (2, 10)
