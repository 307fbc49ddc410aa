"Key files of privbook.fakegrad and privbook.disguise: integrity (MAC), authentication (expected fingerprint, passphrase), no overwrite, file mode, CBC nonces."
import os, json, stat, base64, warnings
import numpy as np, pytest, torch, torch.nn as nn
from privbook import core, disguise, fakegrad
from privbook.disguise import Disguise

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def protected():
    "(model, protected model, its key) on a tiny classifier."
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 5))
    m.input_shape = (1, 4, 4)
    pm, key = fakegrad.protect(m, seed=0)
    return m, pm, key

def _edit(p, out, f):
    "Write `out` (0600): the JSON of key file `p` changed in place by `f`."
    doc = json.loads(p.read_text()); f(doc)
    out.write_text(json.dumps(doc)); out.chmod(0o600)
    return out

def _remac_fakegrad(doc):
    doc['mac'] = core.key_file_mac(fakegrad._mac_key(bytes.fromhex(doc['nonce'])), doc)

def _remac_disguise(doc):
    doc['mac'] = disguise._mac(base64.b64decode(doc['master']), doc)

# ---------------------------------------------------------------- fakegrad

def test_fakegrad_swapped_permutation_and_null_nonce_are_refused(tmp_path, protected):
    m, pm, key = protected
    p = fakegrad.save_key(key, tmp_path/'k.json')
    def swap(d): d['perm'][0], d['perm'][1] = d['perm'][1], d['perm'][0]
    with pytest.raises(ValueError, match='^path:.*authentication failed'): fakegrad.load_key(_edit(p, tmp_path/'s.json', swap))
    def null(d): swap(d); d['nonce'] = None
    for kw in ({}, dict(model=pm)):
        with pytest.raises(ValueError, match='^path:.*nonce'): fakegrad.load_key(_edit(p, tmp_path/'n.json', null), **kw)
    for bad in ('00', 'zz'*16, 5):
        with pytest.raises(ValueError, match='^path:.*nonce'): fakegrad.load_key(_edit(p, tmp_path/'b.json', lambda d: d.update(nonce=bad)))
    with pytest.raises(ValueError, match='^path:.*authentication failed'):  # every field is under the MAC
        fakegrad.load_key(_edit(p, tmp_path/'l.json', lambda d: d.update(layer='0')))
    assert fakegrad.load_key(p, model=pm) == key

def test_fakegrad_older_formats_are_refused(tmp_path, protected):
    m, pm, key = protected
    p = fakegrad.save_key(key, tmp_path/'k.json')
    def v2(d): d.pop('mac'); d['version'] = 2
    with pytest.raises(ValueError, match='^path:.*version 2'): fakegrad.load_key(_edit(p, tmp_path/'v2.json', v2))

def test_fakegrad_remac_is_caught_by_expected_fingerprint_or_passphrase(tmp_path, protected):
    m, pm, key = protected
    p = fakegrad.save_key(key, tmp_path/'k.json')
    def swap(d): d['perm'][0], d['perm'][1] = d['perm'][1], d['perm'][0]; _remac_fakegrad(d)
    e = _edit(p, tmp_path/'e.json', swap)
    assert not torch.equal(fakegrad.load_key(e).perm, key.perm)             # the MAC alone is only an integrity check
    with pytest.raises(ValueError, match='^expected_fingerprint:'): fakegrad.load_key(e, expected_fingerprint=key.key_id)
    assert fakegrad.load_key(p, expected_fingerprint=key.key_id) == key
    s = fakegrad.save_key(key, tmp_path/'sealed.json', passphrase='correct horse')
    assert fakegrad.load_key(s, passphrase='correct horse', model=pm) == key
    with pytest.raises(ValueError, match='^passphrase:.*wrong passphrase'): fakegrad.load_key(s, passphrase='wrong horse')
    with pytest.raises(ValueError, match='^passphrase:.*sealed'): fakegrad.load_key(s)
    # an edited file put in place of the sealed one: refused when a passphrase is expected
    with pytest.raises(ValueError, match='^passphrase:.*not sealed'): fakegrad.load_key(e, passphrase='correct horse')
    def flip(d): ct = bytearray(base64.b64decode(d['ciphertext'])); ct[3] ^= 1; d['ciphertext'] = base64.b64encode(bytes(ct)).decode()
    with pytest.raises(ValueError, match='^passphrase:.*wrong passphrase.*modified'):
        fakegrad.load_key(_edit(s, tmp_path/'f.json', flip), passphrase='correct horse')
    assert 'perm' not in s.read_text() and str(key.perm.tolist()[:3])[1:-1] not in s.read_text()

def test_fakegrad_save_refuses_to_overwrite(tmp_path, protected):
    m, pm, key = protected
    _, key2 = fakegrad.protect(m, seed=1)
    p = fakegrad.save_key(key, tmp_path/'k.json')
    with pytest.raises(FileExistsError, match=f'^path: {p}.*overwrite=True'): fakegrad.save_key(key2, p)
    assert fakegrad.load_key(p) == key                                         # the first key is intact
    fakegrad.save_key(key2, p, overwrite=True)
    assert fakegrad.load_key(p) == key2 and stat.S_IMODE(os.stat(p).st_mode) == 0o600
    for ow in (False, True):
        with pytest.raises(IsADirectoryError, match='^path:.*folder'): fakegrad.save_key(key, tmp_path, overwrite=ow)
    with pytest.raises(IsADirectoryError, match='^path:.*folder'): fakegrad.load_key(tmp_path)
    assert sorted(q.name for q in tmp_path.iterdir()) == ['k.json']         # no temporary files left behind

def test_fakegrad_key_generate_names_n_outputs():
    with pytest.raises(ValueError, match='^n_outputs:.*even'): fakegrad.Key.generate(5)

# ---------------------------------------------------------------- disguise

def test_disguise_remac_is_caught_by_expected_fingerprint_or_passphrase(tmp_path):
    d = Disguise('aes-ecb', 4, noise=0.02)
    d.transform(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    p = d.save_key(tmp_path/'k.key')
    def denoise(f): f['noise'] = 0.0; _remac_disguise(f)
    e = _edit(p, tmp_path/'e.key', denoise)
    with pytest.raises(ValueError, match='^path:.*fingerprint'): Disguise.load_key(e)   # the stored fingerprint commits to the settings
    def denoise_fp(f): f['noise'] = 0.0; f['fingerprint'] = disguise._key_from_dict(f, 'k').fingerprint; _remac_disguise(f)
    e = _edit(p, tmp_path/'e2.key', denoise_fp)
    assert Disguise.load_key(e).noise == 0.0                                   # the MAC alone is only an integrity check
    with pytest.raises(ValueError, match='^expected_fingerprint:'): Disguise.load_key(e, expected_fingerprint=d.fingerprint)
    assert Disguise.load_key(p, expected_fingerprint=d.fingerprint).noise == 0.02
    s = d.save_key(tmp_path/'sealed.key', passphrase='pass phrase')
    assert Disguise.load_key(s, passphrase='pass phrase', expected_fingerprint=d.fingerprint).fingerprint == d.fingerprint
    with pytest.raises(ValueError, match='^passphrase:.*wrong passphrase'): Disguise.load_key(s, passphrase='pass phrasE')
    with pytest.raises(ValueError, match='^passphrase:.*not sealed'): Disguise.load_key(e, passphrase='pass phrase')
    with pytest.raises(ValueError, match='^passphrase:.*sealed'): Disguise.load_key(s)
    assert 'master' not in s.read_text() and d.fingerprint not in s.read_text()

def test_disguise_fingerprint_covers_every_setting():
    base = Disguise('aes-cbc', 4, noise=0.02, seed=0)
    for kw in (dict(noise=0.0), dict(num_classes=9), dict(permute=False), dict(relabel=False), dict(unit=8)):
        other = Disguise('aes-cbc', 4, **{**dict(noise=0.02, seed=0), **kw})
        assert other.fingerprint != base.fingerprint, kw
    assert len(base.fingerprint) == 32                                         # 128 bits

def test_disguise_older_formats_are_refused(tmp_path):
    d = Disguise('aes-ecb', 4)
    p = d.save_key(tmp_path/'k.key')
    def v1(f): f.pop('mac'); f['format'] = 'privbook-disguise-key/1'; f['sha256'] = 'x'
    with pytest.raises(ValueError, match='^path:.*privbook-disguise-key/1'): Disguise.load_key(_edit(p, tmp_path/'v1.key', v1))
    def v2(f): f['format'] = 'privbook-disguise-key/2'; f['fingerprint'] = 'old'; _remac_disguise(f)
    v2p = _edit(p, tmp_path/'v2.key', v2)
    with pytest.raises(ValueError, match='^path:.*allow_legacy=True'): Disguise.load_key(v2p)
    with pytest.warns(UserWarning, match='re-save'): assert Disguise.load_key(v2p, allow_legacy=True).fingerprint == d.fingerprint
    def v2bad(f): v2(f); f['noise'] = 0.5
    with pytest.raises(ValueError, match='^path:.*authentication failed'): Disguise.load_key(_edit(p, tmp_path/'v2b.key', v2bad), allow_legacy=True)

def test_disguise_save_refuses_to_overwrite(tmp_path):
    p = Disguise('aes-ecb', 4).save_key(tmp_path/'k.key')
    with pytest.raises(FileExistsError, match=f'^path: {p}.*overwrite=True'): Disguise('aes-ecb', 4).save_key(p)
    with pytest.raises(IsADirectoryError, match='^path:.*folder'): Disguise('aes-ecb', 4).save_key(tmp_path, overwrite=True)

def test_disguise_zero_block_is_a_clear_error(tmp_path):
    d = Disguise('aes-ecb', 4); d.transform(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    p = d.save_key(tmp_path/'k.key')
    for field, value in (('block', [0, 0]), ('shape', [1, 0, 8]), ('block', [3, 3])):
        f = _edit(p, tmp_path/'z.key', lambda f: (f.update({field: value}), _remac_disguise(f)))
        with pytest.raises(ValueError, match=f'^path:.*{field}'): Disguise.load_key(f)

@pytest.mark.parametrize('which', ['fakegrad', 'disguise'])
@pytest.mark.parametrize('mode', [0o644, 0o640, 0o602])
def test_group_or_world_accessible_key_file_warns(tmp_path, protected, which, mode):
    m, pm, key = protected
    p = fakegrad.save_key(key, tmp_path/'k') if which == 'fakegrad' else Disguise('aes-ecb', 4).save_key(tmp_path/'k')
    load = (lambda: fakegrad.load_key(p)) if which == 'fakegrad' else (lambda: Disguise.load_key(p))
    with warnings.catch_warnings():
        warnings.simplefilter('error'); load()                                 # written 0600: silent
    p.chmod(mode)
    with pytest.warns(UserWarning, match=f'mode {mode:04o}.*chmod 600'): load()

def test_cbc_nonces_of_a_secret_key_come_from_the_os():
    x = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    d = Disguise('aes-cbc', 7, iv='random')
    (y1, n1), (y2, n2) = d.transform(x, rng=0, return_iv=True), d.transform(x, rng=0, return_iv=True)
    assert not torch.equal(n1, n2) and not torch.equal(y1, y2)
    assert len({bytes(r.tolist()) for r in torch.cat([n1, n2])}) == 6
    s1, s2 = Disguise('aes-cbc', 7, iv='random', seed=3), Disguise('aes-cbc', 7, iv='random', seed=3)
    assert torch.equal(s1.transform(x, rng=0), s2.transform(x, rng=0))      # a seeded key stays reproducible
    assert torch.equal(s1.transform(x), s2.transform(x))

# ---------------------------------------------------------------- the shared helper

def test_core_key_file_helper(tmp_path):
    p = core.write_key_file(tmp_path/'a.key', dict(format='x', v=1), passphrase=b'\xffbytes')
    assert json.loads(p.read_text())['format'] == core.KEY_WRAP_FORMAT and stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert core.read_key_file(p, 'test', passphrase=b'\xffbytes') == dict(format='x', v=1)
    with pytest.raises(ValueError, match='^passphrase:'): core.write_key_file(tmp_path/'b.key', {}, passphrase='')
    with pytest.raises(TypeError, match='^passphrase:'): core.write_key_file(tmp_path/'b.key', {}, passphrase=1)
    def cost(f): f['n'] = 2**30
    with pytest.raises(ValueError, match='^path:.*scrypt'): core.read_key_file(_edit(p, tmp_path/'c.key', cost), 'test', passphrase=b'\xffbytes')
    core.check_key_fingerprint('ab'*16, 'AB'*16, p)
    with pytest.raises(TypeError, match='^expected_fingerprint:'): core.check_key_fingerprint('ab'*16, 5, p)
