"Tests of privbook.disguise (DisguisedNets): API lines of DESIGN.md, keys, ECB / CBC, inverses, attacks, examiner, bad input."
import os, json, stat, base64, warnings
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
        with pytest.raises(ValueError, match='another key'): d2.inverse(y1)   # detected by the fingerprint
        rec = d2.inverse(y1.clone())                      # without the fingerprint: garbage, no error possible
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
    with pytest.raises(ValueError, match='^path:.*authentication failed'): Disguise.load_key(tmp_path/'edit.key')
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

class _MeanThreshold(torch.nn.Module):
    "A fixed 'examiner': class 1 if the image is bright on average, else class 0."
    def __init__(s): super().__init__(); s.w = torch.nn.Parameter(torch.zeros(1))
    def forward(s, x):
        m = x.flatten(1).mean(1, keepdim=True) - .5
        return torch.cat([-m, m], 1) + 0 * s.w

def test_examiner_success_rate_behaviour():
    ex = _MeanThreshold()
    x = torch.cat([torch.full((10, 1, 8, 8), .1), torch.full((10, 1, 8, 8), .9)])
    y = torch.cat([torch.zeros(10), torch.ones(10)]).long()
    assert disguise.examiner_success_rate(ex, x, x, y) == 100.0           # the originals themselves
    assert disguise.examiner_success_rate(ex, 1 - x, x, y) == 0.0         # inverted brightness: every image wrong
    half = x.clone(); half[:5] = .9                                      # 5 of the 10 dark images now look bright
    assert disguise.examiner_success_rate(ex, half, x, y) == 75.0
    y_bad = y.clone(); y_bad[:10] = 1                                     # examiner right on half the originals only:
    assert disguise.examiner_success_rate(ex, half, x, y_bad) == pytest.approx(15 / 20 / .5 * 100)  # the ratio
    with pytest.raises(ValueError, match='^x_attacked:'): disguise.examiner_success_rate(ex, x[:, :, :4], x, y)

def test_examine_at_chance_gate_and_interval():
    ex = _MeanThreshold()
    x = torch.cat([torch.full((10, 1, 8, 8), .1), torch.full((10, 1, 8, 8), .9)])
    y = torch.cat([torch.zeros(10), torch.ones(10)]).long()
    e = disguise.examine(ex, torch.zeros_like(x), x, y)                   # one class predicted for every image
    assert e.at_chance and e.classes == 1 and e.success_rate == 50.0 and 'at chance' in str(e)
    half = x.clone(); half[:5] = .9
    e = disguise.examine(ex, half, x, y)
    assert not e.at_chance and e.classes == 2 and e.success_rate == 75.0
    assert e.interval.lo < 75 < e.interval.hi and e.interval.n == 20 and e.correct.sum() == 15

def test_alexnet_small_shapes():
    for c, s in ((1, 28), (1, 32), (3, 32)):
        m = disguise.alexnet_small(10, c, s)
        assert m(torch.rand(2, c, s, s)).shape == (2, 10)


def _saved(tmp_path, method='aes-ecb', block=4, x=None):
    d = Disguise(method, block)
    d.transform(x if x is not None else torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    return d, d.save_key(tmp_path/'k.key')

def test_tampered_key_is_rejected(tmp_path):
    d, p = _saved(tmp_path)
    f = json.loads(p.read_text())
    aes = bytearray(base64.b64decode(f['aes'])); aes[5] ^= 0x40                # one byte of one AES key
    f['aes'] = base64.b64encode(bytes(aes)).decode()
    (tmp_path/'edited.key').write_text(json.dumps(f))
    with pytest.raises(ValueError, match='^path:.*authentication failed'): Disguise.load_key(tmp_path/'edited.key')
    f2 = json.loads(p.read_text()); f2['format'] = 'privbook-disguise-key/1'; f2.pop('mac')  # or posing as the unauthenticated first format
    f2['aes'] = f['aes']; f2['sha256'] = '0'*64
    (tmp_path/'v1.key').write_text(json.dumps(f2))
    for legacy in (False, True):
        with pytest.raises(ValueError, match="^path:.*format 'privbook-disguise-key/1' is not"): Disguise.load_key(tmp_path/'v1.key', allow_legacy=legacy)

@pytest.mark.parametrize('method', METHODS)
def test_master_secret_swap_is_rejected_even_with_a_recomputed_mac(tmp_path, method):
    d, p = _saved(tmp_path, method, 4 if method.startswith('aes') else 7)
    f = json.loads(p.read_text())
    master = os.urandom(32); f['master'] = base64.b64encode(master).decode()
    f['mac'] = disguise._mac(master, f)
    (tmp_path/'swapped.key').write_text(json.dumps(f))
    with pytest.raises(ValueError, match='^path:.*do not derive from its master secret'): Disguise.load_key(tmp_path/'swapped.key')

def test_every_field_is_authenticated(tmp_path):
    d, p = _saved(tmp_path, 'rmt-orth', 7)
    for field, value in (('noise', 50.0), ('num_classes', 10), ('permute', False), ('iv_mode', 'fixed'), ('shape', [1, 28, 28])):
        f = json.loads(p.read_text())
        if f[field] == value: continue
        f[field] = value
        (tmp_path/'e.key').write_text(json.dumps(f))
        with pytest.raises(ValueError, match='authentication failed'): Disguise.load_key(tmp_path/'e.key')

def test_previous_key_format_loads_only_when_asked(tmp_path, x_uint8):
    d, p = _saved(tmp_path, x=x_uint8)
    f = json.loads(p.read_text()); f['format'] = disguise.KEY_FORMAT_V2; f['fingerprint'] = f['fingerprint'][:16]  # its 64-bit fingerprint
    f['mac'] = disguise._mac(base64.b64decode(f['master']), f)
    (tmp_path/'v2.key').write_text(json.dumps(f)); (tmp_path/'v2.key').chmod(0o600)
    with pytest.raises(ValueError, match='^path:.*allow_legacy=True'): Disguise.load_key(tmp_path/'v2.key')
    with pytest.warns(UserWarning, match='previous key format'): d2 = Disguise.load_key(tmp_path/'v2.key', allow_legacy=True)
    assert torch.equal(d2.transform(x_uint8), d.transform(x_uint8)) and d2.fingerprint == d.fingerprint

def test_save_key_does_not_overwrite_by_default(tmp_path):
    d1, p = _saved(tmp_path)
    before = p.read_text()
    d2 = Disguise('aes-ecb', 4)
    with pytest.raises(FileExistsError, match='^path:.*already exists'): d2.save_key(p)
    assert p.read_text() == before                                            # the first key is intact
    d2.save_key(p, overwrite=True)
    assert Disguise.load_key(p).fingerprint == d2.fingerprint
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert [q.name for q in tmp_path.iterdir()] == ['k.key']                  # no temporary files left behind

def test_seeded_key_warns_when_saved(tmp_path):
    with pytest.warns(UserWarning, match='not secret'): Disguise('aes-ecb', 4, seed=1).save_key(tmp_path/'s.key')
    with pytest.warns(UserWarning, match='not secret'): Disguise.load_key(tmp_path/'s.key').save_key(tmp_path/'s2.key')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        Disguise('aes-ecb', 4).save_key(tmp_path/'csprng.key')               # a CSPRNG key: no warning

def test_inverse_says_two_pixel_units_are_many_to_one():
    x = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    d = Disguise('aes-ecb', 4, unit=2, seed=0)
    with pytest.warns(UserWarning, match='many-to-one'): rec = d.inverse(d.transform(x))
    assert (rec == x).float().mean() < .5                                     # random images: most pixels not recovered
    assert 'many-to-one' in Disguise.inverse.__doc__

@pytest.mark.parametrize('method', METHODS)
def test_wrong_key_inverse_is_detected_by_fingerprint(x_uint8, method):
    b = 7 if method.startswith('rmt') else 4
    right, wrong = Disguise(method, b), Disguise(method, b)
    y = right.transform(x_uint8); wrong.transform(x_uint8[:1])
    with pytest.raises(ValueError, match='^y: these images were disguised with another key'): wrong.inverse(y)
    with pytest.raises(ValueError, match='another key'): wrong.inverse(y[:3], fingerprint=right.fingerprint)
    right.inverse(y); right.inverse(y[:3], fingerprint=right.fingerprint)  # the right key passes
    assert right.fingerprint == Disguise(method, b, key=right.key).fingerprint and len(right.fingerprint) == 32

def test_cbc_random_iv_per_image(x_uint8):
    z = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    fixed, rnd = Disguise('aes-cbc', 7, seed=0), Disguise('aes-cbc', 7, iv='random')
    yf = fixed.transform(z)
    assert torch.equal(yf[0], yf[1])                                          # fixed IV: equal images, equal ciphertext
    yr, iv = rnd.transform(z, return_iv=True)
    assert iv.shape == (4, 16) and iv.dtype == torch.uint8 and torch.equal(yr.iv, iv)
    assert all(not torch.equal(yr[0, :, :7, :7], yr[i, :, :7, :7]) for i in range(1, 4))  # not even the first block repeats
    assert torch.equal(rnd.inverse(yr), z) and torch.equal(rnd.inverse(yr.clone(), iv=iv), z)
    assert not torch.equal(rnd.inverse(yr.clone(), iv=torch.flip(iv, [0])), z)
    with pytest.raises(ValueError, match='^iv:'): rnd.inverse(yr.clone())
    with pytest.raises(ValueError, match=r'^iv: expected a uint8 array of shape \(4, 16\)'): rnd.inverse(yr, iv=iv[:2])
    with pytest.raises(ValueError, match='^iv:'): Disguise('aes-ecb', 4, iv='random')
    y2 = Disguise('aes-cbc', 7, iv='random', seed=3).transform(x_uint8)       # seeded: reproducible nonces too
    assert torch.equal(y2, Disguise('aes-cbc', 7, iv='random', seed=3).transform(x_uint8))

def test_cbc_random_iv_key_round_trip(tmp_path, x_uint8):
    d = Disguise('aes-cbc', 7, iv='random')
    y, iv = d.transform(x_uint8, return_iv=True)
    d.save_key(tmp_path/'k.key')
    d2 = Disguise.load_key(tmp_path/'k.key')
    assert d2.key.iv_mode == 'random' and torch.equal(d2.inverse(y.clone(), iv=iv), x_uint8)

def test_estimate_permutation_and_attacks_without_it(x_uint8):
    # every 4x4 block is one of 4 patterns (one blank): units repeat across images, as in real images. (Units that
    # never repeat carry no information about the permutation, and a codebook cannot decode them anyway.)
    g = torch.Generator().manual_seed(1)
    pat = torch.randint(0, 256, (4, 4, 4), dtype=torch.uint8, generator=g); pat[0] = 0
    xk = pat[torch.randint(0, 4, (60, 7, 7), generator=g)].permute(0, 1, 3, 2, 4).reshape(60, 1, 28, 28).contiguous()
    d = Disguise('aes-ecb', 4, seed=0)
    assert (disguise.estimate_permutation(xk, d.transform(xk), 4) == d.key.perm).all()
    d2 = Disguise('aes-ecb', 4, unit=2, seed=0)
    assert (disguise.estimate_permutation(xk, d2.transform(xk), 4, unit=2) == d2.key.perm).all()
    rec, hit = disguise.codebook_attack(xk, d.transform(xk), d.transform(xk), 4)          # perm=None: estimated
    assert hit == 1.0 and torch.equal(rec, xk)
    wrong = np.arange(len(d.key.perm))                                                     # block j paired with position j
    rec_id, _ = disguise.codebook_attack(xk, d.transform(xk), d.transform(xk), 4, perm=wrong)
    assert (rec_id == xk).float().mean() < .5
    r = Disguise('rmt-orth', 7, noise=100, seed=0)
    xf = xk.float() / 255
    ky, ty = r.transform(xf[:20]), r.transform(xf[20:])              # (each transform draws fresh noise)
    assert (disguise.estimate_permutation(xf[:20], ky, 7, 'rmt') == r.key.perm).all()
    rec_est = disguise.regression_attack(xf[:20], ky, ty, 7)
    rec_known = disguise.regression_attack(xf[:20], ky, ty, 7, perm=r.key.perm)
    assert torch.allclose(rec_est, rec_known)
    with pytest.raises(ValueError, match='^scheme:'): disguise.estimate_permutation(xk, xk, 4, 'des')

def test_inversion_attack_learns_a_fixed_map():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 8, 8, generator=g).round()                       # binary 8x8 patterns
    y = x.flip(-1)                                                           # a fixed 'disguise': mirror
    rec = disguise.inversion_attack(x[:250], y[:250], y[250:], steps=800, hidden=256)
    mse = ((rec - x[250:])**2).mean().item()
    mean_img = ((x[:250].mean(0) - x[250:])**2).mean().item()
    assert rec.shape == x[250:].shape and mse < mean_img / 3
    with pytest.raises(ValueError, match='^known_y:'): disguise.inversion_attack(x, y[:3], y)
    with pytest.raises(ValueError, match='^steps:'): disguise.inversion_attack(x, y, y, steps=0)
