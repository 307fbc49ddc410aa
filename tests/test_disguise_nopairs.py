"Tests of the DisguisedNets attacks without known pairs: ECB frequency analysis, RMT covariance alignment, linkage."
import numpy as np, pytest, torch
from privbook import data, metrics
from privbook.disguise import (Disguise, frequency_attack, frequency_permutation, alignment_attack, alignment_permutation,
                               linkage, to_float)

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def digits():
    "(public images, the client's images): unpaired MNIST digits from two splits, float in [0,1]."
    pub = data.load('mnist5k', split='test', size=800, seed=1).tensors[0]
    own = data.load('mnist5k', split='train', size=400, seed=2).tensors[0]
    return pub, own

def u8(x): return (x * 255).round().to(torch.uint8)
def mse(xr, x): return metrics.mse(to_float(xr), x).mean().item()
def mean_guess(pub, n): return pub.mean(0, keepdim=True).expand(n, -1, -1, -1)   # the trivial reconstruction

@pytest.fixture(scope='module')
def ecb2(digits):
    pub, own = digits
    d = Disguise('aes-ecb', 4, unit=2, seed=0)
    return d, d.transform(u8(own))

def test_frequency_attack_beats_the_public_mean(digits, ecb2):
    pub, own = digits
    d, y = ecb2
    xr, mapped = frequency_attack(u8(pub), y, 4, unit=2, perm=d.key.perm)
    assert xr.dtype == torch.uint8 and xr.shape == own.shape and .5 < mapped < 1   # the top 5 ranks cover most units
    base = mean_guess(pub, len(own))
    assert mse(xr, own) < .6 * mse(base, own)
    lk, lk0 = linkage(xr, own, candidates=10), linkage(base, own, candidates=10)
    assert lk.rate.lo > .8 > .3 > lk0.rate.hi          # identifies the client's images; the mean image is at chance (0.1)

def test_frequency_attack_16px_units_blank_code(digits):
    "16-pixel units: only the blank code repeats, and blank-or-not alone draws the digit's silhouette."
    pub, own = digits
    d = Disguise('aes-ecb', 4, unit=16, seed=0)
    y = d.transform(u8(own))
    xr, _ = frequency_attack(u8(pub), y, 4, unit=16, perm=d.key.perm, top=1)
    blank = (u8(own) == 0).reshape(len(own), 7, 4, 7, 4).all(4).all(2)     # blocks blank in the original
    blank_r = (xr == 0).reshape(len(own), 7, 4, 7, 4).all(4).all(2)
    assert (blank == blank_r).float().mean() > .99                         # the blank code is recovered exactly
    base = mean_guess(pub, len(own))
    assert mse(xr, own) < mse(base, own)
    assert linkage(xr, own, candidates=10).rate.lo > .3 > linkage(base, own, candidates=10).rate.hi

def test_frequency_attack_keeps_float_input_float(digits, ecb2):
    pub, own = digits
    d, y = ecb2
    xr, _ = frequency_attack(pub, to_float(y), 4, unit=2, perm=d.key.perm)
    assert xr.dtype == torch.float32 and 0 <= xr.min() and xr.max() <= 1

def test_frequency_permutation_without_pairs(digits, ecb2):
    pub, own = digits
    d, y = ecb2
    ph = frequency_permutation(u8(pub), y, 4, unit=2)
    assert sorted(ph) == list(range(49)) and (ph == d.key.perm).mean() > .5
    xr, _ = frequency_attack(u8(pub), y, 4, unit=2)       # nothing known but the block size
    assert linkage(xr, own, candidates=10).rate.lo > .5

def test_frequency_attack_fails_against_random_iv_cbc(digits):
    pub, own = digits
    d = Disguise('aes-cbc', 4, unit=2, iv='random', seed=0)
    xr, _ = frequency_attack(u8(pub), d.transform(u8(own)), 4, unit=2, perm=d.key.perm)
    assert linkage(xr, own, candidates=10).rate.hi < .2   # chance is 0.1
    assert mse(xr, own) > mse(mean_guess(pub, len(own)), own)

def test_alignment_attack_inverts_rmt_without_pairs(digits):
    pub, own = digits
    d = Disguise('rmt-orth', 7, seed=0)
    y = d.transform(own)
    xa = alignment_attack(pub, y, 7, perm=d.key.perm)
    base = mean_guess(pub, len(own))
    assert xa.shape == own.shape and mse(xa, own) < .65 * mse(base, own)
    assert linkage(xa, own, candidates=10).rate.lo > .9
    # control: ICA's components left unmatched between the two sides reconstruct far worse
    assert mse(alignment_attack(pub, y, 7, perm=d.key.perm, match='none'), own) > 1.5 * mse(xa, own)
    # the permutation estimated from covariance spectra
    ph = alignment_permutation(pub, y, 7)
    assert (ph == d.key.perm).mean() > .5
    assert mse(alignment_attack(pub, y, 7), own) < .65 * mse(base, own)

def test_alignment_attack_on_rmt_proj_with_the_permutation(digits):
    pub, own = digits
    d = Disguise('rmt-proj', 7, seed=0)
    xa = alignment_attack(pub, d.transform(own), 7, perm=d.key.perm)
    assert mse(xa, own) < .7 * mse(mean_guess(pub, len(own)), own)

def test_linkage():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 1, 12, 12, generator=g)
    lk = linkage(x, x)
    assert lk.rate.est == 1 and lk.mean_rank == 1 and lk.candidates == 30 and 0 < lk.rate.lo <= 1
    assert linkage(x, x, metric='ssim').rate.est == 1
    # a reconstruction that is another image's original, among all candidates: never linked, that image ranks first
    lr = linkage(x.roll(1, 0), x)
    assert lr.rate.est == 0 and lr.rate.hi < .2 and (lr.ranks >= 2).all()
    # identical originals: ties count against the attacker, so nothing is linked
    lt = linkage(torch.full_like(x, .5), torch.full_like(x, .5), candidates=5)
    assert lt.rate.est == 0 and lt.mean_rank == 5 and lt.chance == .2

def test_bad_input(digits, ecb2):
    pub, own = digits
    d, y = ecb2
    with pytest.raises(ValueError, match='unit:'): frequency_attack(u8(pub), y, 4, unit=3)
    with pytest.raises(ValueError, match='perm:'): frequency_attack(u8(pub), y, 4, perm=[0, 1])
    with pytest.raises(ValueError, match='fill:'): frequency_attack(u8(pub), y, 4, fill='zero')
    with pytest.raises(ValueError, match='disguised_y:'): frequency_attack(u8(pub)[..., :20], y, 4)
    with pytest.raises(ValueError, match='block:'): alignment_attack(pub, own, 5)
    with pytest.raises(ValueError, match='match:'): alignment_attack(pub, own, 7, match='kurtosis')
    with pytest.raises(ValueError, match='reconstructed:'): linkage(own[:3], own)
    with pytest.raises(ValueError, match='candidates:'): linkage(own, own, candidates=1)
    with pytest.raises(ValueError, match='metric:'): linkage(own, own, metric='l1')
