"HyperObf: DESIGN.md's entry point, reproducible generation, the cloak's budgets, bad input."
import pytest, torch
from privbook import hyperobf as ho, metrics

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def hn():
    torch.manual_seed(0)
    h = ho.HyperNet(num_classes=4)
    x, y = torch.rand(32, 1, 32, 32), torch.randint(0, 4, (32,))
    h.fit(x, y, epochs=1, n_nets=2)
    return h


def test_design_line(hn):
    masknets = hn.generate(100)                       # DESIGN.md: hn = hyperobf.HyperNet(...); masknets = hn.generate(100)
    assert len(masknets) == 100 and len(masknets.seeds) == 100
    assert masknets[7](torch.rand(3, 1, 32, 32)).shape == (3, 256)
    assert masknets(torch.rand(3, 1, 32, 32)).shape == (100, 3, 256)   # batched forward over all 100


def test_generate_reproducible_and_distinct(hn):
    a, b = hn.generate(4, seed=11), hn.generate(4, seed=11)
    assert torch.equal(a.flat(), b.flat())
    torch.testing.assert_close(hn.generate(1, seed=13).flat()[0], a.flat()[2], atol=1e-5, rtol=1e-4)   # net i = seed + i
    torch.testing.assert_close(hn.generate(seeds=[a.seeds[3]]).flat()[0], a.flat()[3], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(a.flat()[0], hn.generate(1, seed=99).flat()[0])
    assert len({tuple(r[:50].tolist()) for r in a.flat()}) == 4               # 4 distinct MaskNets
    assert not torch.equal(hn.generate(3).flat(), hn.generate(3).flat())     # CSPRNG seeds without a seed


def test_cloak_budgets(hn):
    m = hn.generate(1, seed=0)[0]
    x = torch.rand(8, 1, 32, 32)
    rho, rho_pixel = 0.01, 8/255
    xc, info = ho.cloak(m, x, rho=rho, rho_pixel=rho_pixel, steps=15, return_info=True)
    d = metrics.dssim(x, xc)
    print(f"mean SSIM {metrics.ssim(x, xc).mean():.4f}, max DSSIM {d.max():.4f}")
    assert (d <= rho + 1e-6).all()
    assert ((xc - x).abs() <= rho_pixel + 1e-6).all()
    assert xc.min() >= 0 and xc.max() <= 1
    assert (info['dist'] > 0).all()
    bank = hn.generate(2, seed=0)
    xb = ho.cloak(bank, x, rho=rho, steps=3, assign=torch.tensor([0, 1] * 4))
    assert (metrics.dssim(x, xb) <= rho + 1e-6).all()


@pytest.mark.parametrize('kw,arg', [(dict(rho=0), 'rho'), (dict(rho=-0.1), 'rho'), (dict(rho=1.5), 'rho'),
                                    (dict(rho_pixel=0), 'rho_pixel'), (dict(steps=0), 'steps')])
def test_cloak_bad_numbers(hn, kw, arg):
    with pytest.raises(ValueError, match=f'^{arg}:'):
        ho.cloak(hn.generate(1, seed=0)[0], torch.rand(2, 1, 32, 32), **kw)


def test_cloak_bad_images(hn):
    m = hn.generate(1, seed=0)[0]
    with pytest.raises(ValueError, match='^x: expected 1 channel'): ho.cloak(m, torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match='^x: expected images of size'): ho.cloak(m, torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match='^x:'): ho.cloak(m, torch.rand(1, 32, 32))
    with pytest.raises(TypeError, match='^masknet:'): ho.cloak('net', torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match='^assign:'): ho.cloak(hn.generate(2, seed=0), torch.rand(2, 1, 32, 32))


@pytest.mark.parametrize('n', [0, -3])
def test_generate_bad_n(hn, n):
    with pytest.raises(ValueError, match='^n:'): hn.generate(n)
    with pytest.raises(TypeError, match='^n:'): hn.generate(2.5)


def test_structures_and_baselines():
    with pytest.raises(ValueError, match='^structure:'): ho.MaskNet(structure=4)
    x, y = torch.rand(16, 1, 32, 32), torch.randint(0, 3, (16,))
    ens = ho.train_ensemble(2, x, y, epochs=1, structure=3)
    assert len(ens) == 2 and ens.params['conv1.weight'].shape == (2, 32, 1, 3, 3)
    drop = ho.mc_dropout(ho.train_masknet(x, y, epochs=1, dropout=0.3, structure=2), 3, seed=0)
    assert drop(x[:2]).shape == (3, 2, 128)
    with pytest.raises(ValueError, match='^n:'): ho.train_ensemble(0, x, y)


def test_attack_success_repeats_average_recognizers():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(4)
    x = (torch.rand(12, 1, 32, 32, generator=g) * 0.2 + y[:, None, None, None] * 0.3).clamp(0, 1)
    f = ho.Faces(x[:3], y[:3], x, y, x, y, 3, 'toy')
    kw = dict(epochs=1, batch_size=6)
    one = [ho.attack_success(f, {0: x[:4]}, seed=s, **kw) for s in (5, 1005)]
    two = ho.attack_success(f, {0: x[:4]}, seed=5, repeats=2, **kw)
    for k in (0, '_others'): assert two[k] == pytest.approx((one[0][k] + one[1][k]) / 2)
    with pytest.raises(ValueError, match='^repeats:'): ho.attack_success(f, {0: x[:4]}, repeats=0, **kw)
