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
