"Behavioural tests of privbook.disguise written against the mutants that `make mutants` found surviving (docs/mutants.md)."
import numpy as np, pytest, torch
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from PIL import Image
from privbook.disguise import Disguise, nonblank_hit_rate

torch.set_num_threads(1)


def _literal_bilinear(img, key, f):
    "The paper's Fig. 4 path done literally: every pixel an f x f patch, AES-ECB over 16-byte row units, PIL bilinear back down."
    big = np.kron(img, np.ones((f, f), np.uint8))
    enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    c = np.frombuffer(enc.update(big.tobytes()) + enc.finalize(), np.uint8).reshape(big.shape).astype(np.float32)
    return np.asarray(Image.fromarray(c, mode='F').resize((img.shape[1], img.shape[0]), Image.BILINEAR))


@pytest.mark.parametrize('unit,block', [(2, (4, 8)), (1, (8, 4))])
def test_bilinear_downscale_is_pils_on_the_enlarged_image(unit, block):
    g = np.random.default_rng(0)
    x = g.integers(0, 256, (2, 1, *block), dtype=np.uint8)
    d = Disguise('aes-ecb', block, unit=unit, permute=False, seed=3, downscale='bilinear')
    y = d.transform(torch.from_numpy(x).float() / 255)[:, 0].numpy() * 255   # float input: the exact filter output / 255
    want = np.stack([_literal_bilinear(im, d.key.aes[0], 16 // unit) for im in x[:, 0]])
    assert np.allclose(y, want, atol=1e-3)
    y8 = d.transform(torch.from_numpy(x))[:, 0].numpy()                       # uint8 input: the rounded output
    assert np.abs(y8.astype(float) - want).max() <= 0.5 + 1e-3


def test_nonblank_hit_rate_counts_only_units_with_content():
    "Two 4 x 4 blocks of one 16-byte unit each; the left block has content, the right one is blank."
    x = np.zeros((2, 1, 4, 8), np.uint8)
    x[0, 0, :, :4] = 7                                   # image 0: content on the left only; image 1: blank
    hits = np.array([[[True], [True]], [[True], [False]]])
    r = nonblank_hit_rate(hits, x, 4, 16, np.arange(2))
    assert r[0] == 1.0 and np.isnan(r[1])
    assert nonblank_hit_rate(np.array([[[False], [True]]] * 2), x, (4, 4), 16, np.arange(2))[0] == 0.0  # a blank unit's hit does not count
    swapped = nonblank_hit_rate(np.array([[[False], [True]]] * 2), x, 4, 16, np.array([1, 0]))           # positions: the permuted blocks
    assert swapped[0] == 1.0
    with pytest.raises(ValueError, match='^hits:'): nonblank_hit_rate(hits[:1], x, 4, 16, np.arange(2))
    with pytest.raises(TypeError, match='^block:'): nonblank_hit_rate(hits, x, 'big', 16, np.arange(2))


def test_seed_must_be_an_int():
    for bad in (1.5, '3', True):
        with pytest.raises(TypeError, match='^seed: expected an int or None'): Disguise('aes-ecb', 4, seed=bad)
    assert Disguise('aes-ecb', 4, seed=np.int64(3)).fingerprint == Disguise('aes-ecb', 4, seed=3).fingerprint


def test_alexnet_small_has_alexnets_three_fully_connected_layers():
    "AlexNet (Table I): two hidden fully-connected layers of equal width, then the classifier."
    from privbook.disguise import alexnet_small
    m = alexnet_small(num_classes=7, hidden=32, image_size=16)
    fc = [l for l in m.modules() if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in fc[1:]] == [(32, 32), (32, 7)] and fc[0].out_features == 32
    assert m(torch.rand(2, 1, 16, 16)).shape == (2, 7)


def test_alignment_attack_max_rows_must_be_an_int():
    from privbook.disguise import alignment_attack
    x = torch.rand(4, 1, 4, 4)
    with pytest.raises(TypeError, match='^max_rows: expected an int'): alignment_attack(x, x, 2, max_rows=100.5)


def test_frequency_attack_fill_mode_uses_the_most_common_public_unit():
    "Blocks of 4 x 4 = one 16-pixel unit; two positions. top=1 maps the most frequent cipher unit of a position to its most frequent public unit; 'mode' fills the rest with that public unit too, 'mean' with the mean of the unmapped ones."
    from privbook.disguise import frequency_attack
    def imgs(left, right):
        x = np.zeros((len(left), 1, 4, 8), np.uint8)
        for i, (a, b) in enumerate(zip(left, right)): x[i, 0, :, :4], x[i, 0, :, 4:] = a, b
        return torch.from_numpy(x)
    public = imgs([0, 0, 0, 100, 200], [150, 150, 50, 50, 50])     # modes: 0 on the left, 50 on the right
    d = Disguise('aes-ecb', 4, permute=False, seed=0)
    y = d.transform(imgs([10, 10, 20], [30, 30, 40]))
    rec, mapped = frequency_attack(public, y, 4, unit=16, perm=np.arange(2), top=1, fill='mode')
    assert torch.equal(rec, imgs([0, 0, 0], [50, 50, 50])) and mapped == pytest.approx(4/6)
    mean, _ = frequency_attack(public, y, 4, unit=16, perm=np.arange(2), top=1, fill='mean')
    assert torch.equal(mean, imgs([0, 0, 150], [50, 50, 150]))


def test_load_key_says_when_the_block_does_not_tile_the_stored_shape(tmp_path):
    "A key file whose (authenticated) shape the block does not tile is refused with the reason."
    import base64, json
    from privbook import disguise
    p = Disguise('aes-ecb', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'k.key')
    f = json.loads(p.read_text()); f['shape'] = [1, 10, 8]
    f['mac'] = disguise._mac(base64.b64decode(f['master']), f)
    (tmp_path/'bad.key').write_text(json.dumps(f)); (tmp_path/'bad.key').chmod(0o600)
    with pytest.raises(ValueError, match=r'^path: .*\(the block 4x4 does not tile the stored shape 1x10x8\)'): Disguise.load_key(tmp_path/'bad.key')
