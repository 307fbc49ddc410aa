"Behavioural tests of privbook.hyperobf written against the mutants that `make mutants` found surviving (docs/mutants.md)."
import numpy as np, pandas as pd, pytest, torch
from privbook import hyperobf as ho, metrics
from privbook.core import DRY_ENV, Recorder

torch.set_num_threads(1)


@pytest.fixture
def rec(tmp_path): return Recorder(tmp_path, 'mut')

@pytest.fixture
def not_dry(monkeypatch): monkeypatch.delenv(DRY_ENV, raising=False)


def test_sign_noise_moves_every_pixel_by_the_clip():
    x = torch.full((2, 1, 8, 8), 0.5)
    xs = ho.sign_noise(x, 0.1, seed=0)
    assert torch.allclose((xs - x).abs(), torch.full_like(x, 0.1))          # x +- rho_pixel, inside [0, 1]
    assert (xs > x).any() and (xs < x).any()                                 # random signs
    l2 = torch.tensor([0.2, 0.4])
    xl = ho.sign_noise(x, 0.1, l2=l2, seed=0)
    torch.testing.assert_close((xl - x).flatten(1).norm(dim=1), l2, atol=1e-4, rtol=1e-4)
    assert (xl - x).abs().max() <= 0.1 + 1e-6                                # scaled down, never past the clip
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match='^rho_pixel'): ho.sign_noise(x, bad)


def test_cloak_stats_counts_pixels_at_the_clip_in_the_frame_and_inside():
    x = torch.full((2, 1, 12, 12), 0.5)
    xc = x.clone()
    xc[..., :2, :] += 0.1                                                    # the top two rows of the 2-pixel frame at the clip
    t = ho.cloak_stats(x, xc, rho_pixel=0.1, border=2)
    frame = 12 * 12 - 8 * 8
    assert np.allclose(t.at_clip_border, 24 / frame) and np.allclose(t.at_clip_inside, 0) and np.allclose(t.at_clip, 24 / 144)
    assert np.allclose(t.linf, 0.1) and np.allclose(t.l2, 0.1 * np.sqrt(24), rtol=1e-5)
    xc[..., 5, 5] -= 0.1                                                     # one pixel inside
    t = ho.cloak_stats(x, xc, rho_pixel=0.1, border=2)
    assert np.allclose(t.at_clip_inside, 1 / 64) and np.allclose(t.at_clip, 25 / 144)
    assert 'at_clip' not in ho.cloak_stats(x, xc, border=2)                  # without the clip: no clip fractions


def test_noise_pairs_reach_the_target_ssim():
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    noisy, clean = ho.noise_pairs(x, 0.6)
    assert torch.equal(clean, x) and noisy.shape == x.shape
    assert abs(metrics.ssim(x, noisy).mean().item() - 0.6) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_sign_noise_on_the_gpu_with_norms_from_the_cpu():
    x = torch.full((2, 1, 8, 8), 0.5).cuda()
    xl = ho.sign_noise(x, 0.1, l2=[0.2, 0.4], seed=0)
    assert xl.device == x.device
    torch.testing.assert_close((xl - x).flatten(1).norm(dim=1).cpu(), torch.tensor([0.2, 0.4]), atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_noise_pairs_on_the_gpu():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)).cuda()
    noisy, _ = ho.noise_pairs(x, 0.6)
    assert noisy.device == x.device


def _recognition_rows(protocol, accs, condition='clean', probes=50):
    "Rows of a `recognition_table`: each user's accuracy and its per-probe outcomes (`hits`), the same in 3 repeats."
    hits = lambda a: (1,) * round(a * probes) + (0,) * (probes - round(a * probes))
    return [dict(condition=(condition,), protocol=protocol, repeat=r, user=u, accuracy=a, hits=hits(a)) for r in range(3) for u, a in enumerate(accs)]


def test_gate_recognizers_compares_each_learned_recognizer_with_the_better_baseline(rec, not_dry):
    users = 6
    jitter = lambda c: [c + 0.02 * (u % 3) for u in range(users)]
    tab = pd.DataFrame(_recognition_rows('pixel', jitter(0.2)) + _recognition_rows('eigen', jitter(0.4))
                       + _recognition_rows('strong', jitter(0.9)) + _recognition_rows('weak', jitter(0.3))
                       + _recognition_rows('strong', jitter(0.0), condition='cloaked'))   # another condition is not looked at
    out = ho.gate_recognizers(rec, tab, 'clean')
    assert list(out) == ['strong', 'weak'] and out['strong'] is None
    assert out['weak'].startswith('the weak recognizer does not beat eigen on clean photos')
    g = rec.frame().query("metric == 'gate'")
    assert g.baseline.tolist() == ['eigen', 'eigen'] and g.than.tolist() == pytest.approx([0.42, 0.42])
    with pytest.raises(ValueError, match='^tab: expected the baselines'): ho.gate_recognizers(rec, tab.query("protocol != 'eigen'"), 'clean')


def test_grouped_claim_records_the_papers_number(rec, capsys):
    assert ho.grouped_claim(rec, 'above a half', [0.8, 0.9, 0.85, 0.95], None, '>', 0.5, paper=0.93) == 'reproduced'
    assert rec.frame().iloc[-1].paper == 0.93
    assert 'paper 0.93' in capsys.readouterr().out


def test_attacker_pairs_needs_a_masknet():
    with pytest.raises(ValueError, match='^masknets: the attacker needs at least one MaskNet'): ho.attacker_pairs([], torch.rand(2, 1, 8, 8))


def test_train_invnet_takes_a_whole_number_of_steps():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    xp = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert ho.train_invnet(xp, x, steps=3, batch_size=2, width=2, tol=None).steps_run == 3
    for bad in (2.5, '3'):
        with pytest.raises(TypeError, match='^steps'): ho.train_invnet(xp, x, steps=bad, width=2)


def test_mc_dropout_bank_is_labelled_and_masks_whole_channels():
    torch.manual_seed(0)
    m = ho.MaskNet(1, 1, 8, 2, dropout=0.5)
    bank = ho.mc_dropout(m, 3, seed=5)
    assert repr(bank) == "MaskNets(n=3, structure=1, source='mc_dropout')" and bank.seeds == [5, 6, 7]
    w, w0 = bank.params['conv2.weight'], m.conv2.weight.detach()
    scale = w.abs().sum((1, 3, 4)) / w0.abs().sum((0, 2, 3))               # per net and conv1 channel: 0 (dropped) or 1 / (1 - p)
    assert torch.allclose(scale, torch.where(scale > 0, 2., 0.)) and (scale == 0).any() and (scale > 0).any()
    w, w0 = bank.params['fc.weight'], m.fc.weight.detach()
    scale = w.abs().sum(1) / w0.abs().sum(0)                                # per net and fc input: 0 or 1 / (1 - p) too
    assert torch.allclose(scale, torch.where(scale > 0, 2., 0.)) and (scale == 0).any() and (scale > 0).any()


def test_train_ensemble_steps_with_the_learning_rate_given():
    # Adam's first step moves each parameter by lr x g / (|g| + eps): at most lr, about lr for the largest
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 8, 8, generator=g), torch.arange(8) % 2
    kw = dict(epochs=1, batch_size=8, seed=0)
    init = ho.train_ensemble(2, x, y, lr=0., **kw).flat()
    for lr in (0.05, 0.2):
        step = (ho.train_ensemble(2, x, y, lr=lr, **kw).flat() - init).abs().max().item()
        assert 0.9 * lr <= step <= lr * (1 + 1e-5)


def _write_faces(root, identities, per_identity, side=8):
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in range(identities):
        (root/f'id{c:02d}').mkdir(parents=True)
        for i in range(per_identity): Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root/f'id{c:02d}'/f'{i}.png')


def test_faces_for_scale_smoke_keeps_three_test_photos_per_identity(tmp_path):
    _write_faces(tmp_path/'faces', 22, 9)                                   # imagefolder default: 20 public identities
    f = ho.faces_for_scale('smoke', f"imagefolder:{tmp_path/'faces'}", image_size=8)
    assert f.num_classes == 2 and f.image_size == 8
    assert torch.bincount(f.train_y).tolist() == [5, 5] and torch.bincount(f.test_y).tolist() == [3, 3]


def test_phi_all_grouped_convolution_matches_the_plain_one():
    # the grouped path is the GPU default; on the CPU it must give the same features as one network at a time
    torch.manual_seed(0)
    bank = ho.MaskNets.stack([ho.MaskNet(1, 1, 8, 2) for _ in range(3)])
    x = torch.rand(5, 1, 8, 8)
    grouped = ho.phi_all(bank.params, x, 2, grouped=True)
    assert grouped.shape == (3, 5, 256)
    torch.testing.assert_close(grouped, ho.phi_all(bank.params, x, 2, grouped=False), atol=1e-5, rtol=1e-4)


@pytest.fixture(scope='module')
def small_hn():
    torch.manual_seed(0)
    return ho.HyperNet(num_classes=3, image_size=8)


def test_hypernet_defaults_are_the_thesis_best_setting(small_hn):
    # Eq. 4.4 with the thesis's best setting lambda_diversity = 10, alpha_threshold = 0.001: J_total = 10 max(J1 - 0.001, 0) + J2
    x, y = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(6) % 3
    L = small_hn.losses(small_hn(torch.randn(2, small_hn.z_dim)), x, y)
    torch.testing.assert_close(L['J_total'], 10 * torch.relu(L['J1'] - 1e-3) + L['J2'])


@pytest.mark.parametrize('bad', [True, '0.1', -0.5, float('nan')])
def test_hypernet_refuses_a_bad_threshold(bad):
    with pytest.raises(ValueError, match='^alpha_thr: expected a finite number >= 0'): ho.HyperNet(num_classes=3, alpha_thr=bad)


def test_hypernet_losses_report_the_accuracy_of_the_generated_masknets(small_hn):
    x, y = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(6) % 3
    with pytest.warns(UserWarning, match='untrained'): bank = small_hn.generate(4, seed=0)
    with torch.no_grad(): L = small_hn.losses(bank.params, x, y)
    assert L['acc'].item() == pytest.approx(small_hn.accuracy(bank, x, y).mean().item())


def test_hypernet_fit_history_names_its_epochs():
    torch.manual_seed(0)
    h = ho.HyperNet(num_classes=3, image_size=8)
    x, y = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(6) % 3
    hist = h.fit(x, y, epochs=3, batch_size=6, n_nets=2, every=2)
    assert [r['epoch'] for r in hist] == [2, 3] and int(h.epochs_trained) == 3   # every 2nd epoch, and the last
    assert set(hist[-1]) == {'epoch', 'J1', 'J2', 'J_total', 'var', 'acc'} and 0 <= hist[-1]['acc'] <= 1


def test_generate_memory_limit_is_inclusive(small_hn):
    need = small_hn.nbytes(3)
    with pytest.warns(UserWarning): assert len(small_hn.generate(3, seed=0, max_bytes=need)) == 3   # exactly the limit fits
    with pytest.raises(ValueError, match='^n: 3 MaskNets need'): small_hn.generate(3, seed=0, max_bytes=need - 1)


def _toy_faces(ids=3, train=3, test=2, side=4):
    "Identities as well-separated mean images plus a little noise."
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(ids, 1, side, side, generator=g) * 0.6 + 0.2
    img = lambda k: (mean.repeat_interleave(k, 0) + 0.05 * torch.randn(ids * k, 1, side, side, generator=g)).clamp(0, 1)
    lab = lambda k: torch.arange(ids).repeat_interleave(k)
    return ho.Faces(img(1), lab(1), img(train), lab(train), img(test), lab(test), ids, 'toy')


def test_recognition_table_baselines_label_every_row_and_eigenfaces_keep_the_neighbours():
    "With every principal component kept (9 gallery images < 50), eigenfaces are a rotation of the gallery: the same 1-NN as raw pixels."
    f = _toy_faces()
    noise = {0: torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))}
    tab = ho.recognition_table(f, {'clean': {}, 'noise': noise}, [0, 1], {'pixel': dict(protocol='pixel'), 'eigen': dict(protocol='eigen')}, repeats=1)
    assert len(tab) == 2 * 2 * 3 and tab.protocol.notna().all()
    assert (tab.query("user == '_others'").groupby(['condition', 'protocol']).size() == 1).all()
    acc = lambda p: tab.query('protocol == @p').accuracy.tolist()
    assert acc('pixel') == acc('eigen') and tab[[c == ('clean',) for c in tab.condition]].accuracy.tolist() == [1.] * 6


def test_summary_is_mean_variance_and_range():
    assert ho.summary([0.2, 0.5, 0.8]) == pytest.approx(dict(mean=0.5, variance=0.06, low=0.2, high=0.8))


def test_train_masknet_names_its_images_argument():
    with pytest.raises(ValueError, match=r'^x: expected values in \[0,1\]'): ho.train_masknet(torch.full((2, 1, 8, 8), 2.), torch.tensor([0, 1]), epochs=1)


def test_weight_spread_of_two_masknets():
    "Two nets: the std of each conv weight across them is |w1 - w2| / sqrt(2); one net has no spread."
    torch.manual_seed(0)
    bank = ho.MaskNets.stack([ho.MaskNet(1, 1, 8, 2) for _ in range(2)])
    w = torch.cat([bank.params[f'{l}.weight'].flatten(1) for l in ('conv1', 'conv2')], 1)
    assert ho.weight_spread(bank) == pytest.approx(((w[0] - w[1]).abs() / 2**0.5).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match='^masknets: need at least 2 MaskNets, got 1'): ho.weight_spread(bank[[0]])


def test_masknets_slices_keep_their_seeds(small_hn):
    with pytest.warns(UserWarning, match='untrained'): bank = small_hn.generate(4, seed=10)
    part = bank[1:3]
    assert part.seeds == [11, 12] and torch.equal(part.flat(), bank.flat()[1:3]) and torch.equal(bank[::-1].flat(), bank.flat().flip(0))


def test_augment_faces_shifts_with_repeated_edges():
    "Without jitter every variant is a source image, maybe flipped left-right, shifted by at most `shift` with its edge pixels repeated."
    import torch.nn.functional as F
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = ho.augment_faces(x, 12, seed=1, shift=2, jitter=0.)
    assert out.shape == (12, 1, 8, 8) and torch.equal(out, ho.augment_faces(x, 12, seed=1, shift=2, jitter=0.))
    pad = F.pad(torch.cat([x, x.flip(-1)]), (2,) * 4, mode='replicate')
    cand = {(dy, dx): pad[:, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)}
    found = [{s for s, c in cand.items() if ((c - o).abs().amax((1, 2, 3)) < 1e-6).any()} for o in out]
    assert all(found) and any((2, 2) not in s for s in found)                # each one is such a shift, not all of them unshifted


def test_attack_success_names_its_bad_arguments():
    f = _toy_faces()
    with pytest.raises(ValueError, match="^extractors: protocol 'gallery' needs one pretrained extractor per repeat"):
        ho.attack_success(f, {0: f.train_x[f.train_y == 0]}, protocol='gallery')
    with pytest.raises(ValueError, match=r'^replaced: identity 0 expects images of shape \(3, 1, 4, 4\), got \(2, 1, 4, 4\)'):
        ho.attack_success(f, {0: f.train_x[:2]}, protocol='pixel')


def test_cloak_first_adam_step_is_the_default_lr():
    "Adam's first step moves the tanh parameter by about lr = 0.05 (the default): each pixel by about rho_pixel x tanh(0.05)."
    torch.manual_seed(0)
    m = ho.MaskNet(1, 1, 8, 2)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    moved = (ho.cloak(m, x, steps=1, rho=0.5, rho_pixel=0.1) - x).abs().amax((1, 2, 3)) / 0.1   # a loose budget: the step is kept
    assert ((moved > 0.04) & (moved < 0.06)).all()


def test_cloak_with_a_bank_in_several_batches():
    "`batch_size` only bounds memory: a bank cloaks each image with its own network whatever the batches."
    torch.manual_seed(0)
    bank = ho.MaskNets.stack([ho.MaskNet(1, 1, 8, 2) for _ in range(2)])
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    a = torch.tensor([0, 1, 1, 0])
    torch.testing.assert_close(ho.cloak(bank, x, assign=a, steps=3, batch_size=2), ho.cloak(bank, x, assign=a, steps=3, batch_size=4))


def test_mc_dropout_refuses_a_rate_of_one():
    m = ho.MaskNet(1, 1, 8, 2, dropout=0.5)
    with pytest.raises(ValueError, match=r'^p: expected a dropout rate in \(0, 1\), got 1'): ho.mc_dropout(m, 2, seed=0, p=1)


def test_train_invnet_refuses_zero_steps():
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match='^steps: expected an int >= 1, got 0'): ho.train_invnet(x, x, steps=0, width=2)


def test_mix_inversion_ssim_is_of_the_users_own_images():
    "`.attrs['ssim']`: SSIM of each user's restored images to that user's original training images."
    f = _toy_faces(side=8)
    torch.manual_seed(0)
    bank = ho.MaskNets.stack([ho.MaskNet(1, 1, 8, 2) for _ in range(2)])
    ck, ik = dict(steps=2), dict(steps=1, width=2, batch_size=3)
    M = ho.mix_inversion(bank, f, cloak_kw=ck, inv_kw=ik, rec_kw=dict(protocol='pixel'), seed=4)
    cloaked = ho.cloak_users(bank, f, **ck)
    for j in range(2):
        inv = ho.train_invnet(*ho.attacker_pairs(bank[[j]], f.public_x, **ck), seed=4 + j, **ik)
        want = [metrics.ssim(ho.restore(inv, cloaked[u]), f.train_x[f.train_y == u]).mean().item() for u in (0, 1)]
        assert M.attrs['ssim'][j].tolist() == pytest.approx(want, abs=1e-5)


# --- covB: public functions the notebooks call and no test did ---

def test_unit_outcomes_averages_each_probe_over_its_cells():
    rows = pd.DataFrame(dict(user=[0, 0, 1], repeat=[0, 1, 0], hits=[(1, 0, 1), (1, 1, 0), (0, 0, 1)]), index=[7, 3, 5])
    u = ho.unit_outcomes(rows)
    assert u.index.names == ['user', 'probe'] and u.dtype == float
    assert u.to_dict() == {(0, 0): 1., (0, 1): .5, (0, 2): .5, (1, 0): 0., (1, 1): 0., (1, 2): 1.}
    per_cell = ho.unit_outcomes(rows, ['repeat', 'user'])                  # one cell per unit: still 0/1
    assert per_cell.index.names == ['repeat', 'user', 'probe'] and per_cell.loc[(1, 0)].tolist() == [1., 1., 0.]
    with pytest.raises(ValueError, match=r"^tab: expected per-probe outcomes \(a 'hits' column"): ho.unit_outcomes(rows.drop(columns='hits'))


def test_off_diagonal_keeps_the_cells_of_different_masknets():
    M = pd.DataFrame([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    out = ho.off_diagonal(M)
    assert out.dtype == float and out.tolist() == [2., 3., 4., 6., 7., 8.]
    assert ho.off_diagonal([[0.5]]).size == 0


@pytest.mark.parametrize('structure', [1, 2, 3])
def test_masknet_shapes_are_those_of_a_masknet(structure):
    for in_channels, pool in ((1, 2), (3, 4)):
        m = ho.MaskNet(structure, in_channels, image_size=8, pool=pool)
        want = {k: tuple(v.shape) for k, v in m.state_dict().items() if not k.startswith('drop')}
        assert ho.masknet_shapes(structure, in_channels, pool) == want
    d = {1: 256, 2: 128, 3: 256}[structure]                                 # Sec. 5.4.3: feature dimension d
    assert ho.masknet_shapes(structure)['fc.bias'] == (d,) and ho.masknet_shapes(structure) == ho.masknet_shapes(structure, 1, 2)
    assert ho.masknet_shapes() == ho.masknet_shapes(1)                     # default: structure 1
    with pytest.raises(ValueError, match=r'^structure: expected one of \[1, 2, 3\]'): ho.masknet_shapes(4)


def test_phi_of_one_network_or_one_per_image_is_the_masknets_forward():
    torch.manual_seed(0)
    nets = [ho.MaskNet(2, 2, image_size=6, pool=3).eval() for _ in range(3)]
    x = torch.rand(3, 2, 6, 7, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): want = torch.stack([n(x) for n in nets])          # network i on every image
    shared = ho.phi(nets[1].params(), x, pool=3)
    assert shared.shape == (3, 128)
    torch.testing.assert_close(shared, want[1], atol=1e-5, rtol=1e-4)
    bank = ho.MaskNets.stack(nets)
    own = ho.phi(bank.params, x, pool=3)                                    # image n through network n
    torch.testing.assert_close(own, want[[0, 1, 2], [0, 1, 2]], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(own[0], want[1, 0])
    with pytest.raises(ValueError, match=r'^params: expected 1 network or one per image \(2\), got 3'): ho.phi(bank.params, x[:2], pool=3)


def test_phi_pools_to_the_side_given():
    torch.manual_seed(0)
    m = ho.MaskNet(1, 1, image_size=8, pool=2).eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(): torch.testing.assert_close(ho.phi(m.params(), x), m(x), atol=1e-5, rtol=1e-4)   # default pool = 2
    bank = ho.MaskNets.stack([m, m])
    torch.testing.assert_close(ho.phi(bank.params, x), ho.phi(m.params(), x), atol=1e-5, rtol=1e-4)


def test_invnet_restores_with_a_tanh_bounded_residual():
    torch.manual_seed(0)
    inv = ho.InvNet()                                                       # defaults: one channel, width 16
    assert sum(p.numel() for p in inv.parameters()) == sum(p.numel() for p in ho.InvNet(1, 16).parameters())
    x = torch.rand(2, 1, 8, 12, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    out = inv(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1 and not torch.equal(out, x)
    three = ho.InvNet(3, 4)
    assert three(torch.rand(1, 3, 16, 8)).shape == (1, 3, 16, 8)
    last = three.dec[-2]                                                    # D's last layer: D(E(x)) = its bias
    with torch.no_grad(): last.weight.zero_(); last.bias.copy_(torch.tensor([0.3, -2., 0.]))
    x3 = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.4 + 0.6
    want = (x3 + torch.tanh(torch.tensor([0.3, -2., 0.]))[:, None, None]).clamp(0, 1)   # clip(x_p + tanh(D(E(x_p))))
    assert (want[:, 0] == 1).any() and (want[:, 1] == 0).any() and (want[:, 0] < 1).any()   # both clips at work
    torch.testing.assert_close(three(x3), want)


def test_invnet_width_sets_its_layers():
    small, big = ho.InvNet(1, 2), ho.InvNet(1, 4)
    n = lambda m: sum(p.numel() for p in m.parameters())
    assert n(big) > n(small)
    for m in (small, big):
        x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        assert m(x).shape == x.shape


def test_train_recognizer_names_its_bad_arguments():
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match='^epochs: expected an int >= 1, got 0'): ho.train_recognizer(x, y, 3, epochs=0)
    with pytest.raises(TypeError, match='^epochs: expected an int'): ho.train_recognizer(x, y, 3, epochs=1.5)
    with pytest.raises(ValueError, match='^patience: expected an int >= 1, got 0'): ho.train_recognizer(x, y, 3, patience=0)
    with pytest.raises(TypeError, match='^patience: expected an int'): ho.train_recognizer(x, y, 3, patience=2.5)
    with pytest.raises(TypeError, match=r'^init: expected a recognizer \(nn.Module\), got str'): ho.train_recognizer(x, y, 3, init='net')


def _tiny_recognition():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 0])

def _params(m): return {k: v.detach().clone() for k, v in m.named_parameters()}

def _moved(a, b): return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope='module')
def tiny_recognizers():
    "Recognizers of 4 tiny images after one Adam step (one batch, one epoch): with lr = 0 (the initial weights), the defaults, seed 0 and seed 1."
    x, y = _tiny_recognition()
    kw = dict(epochs=1, batch_size=4)
    return dict(init=ho.train_recognizer(x, y, 3, lr=0., **kw), default=ho.train_recognizer(x, y, 3, **kw),
                seed0=ho.train_recognizer(x, y, 3, seed=0, **kw), seed1=ho.train_recognizer(x, y, 3, seed=1, **kw))


def test_train_recognizer_is_seeded_and_steps_with_adam_at_the_default_lr(tiny_recognizers):
    x, y = _tiny_recognition()
    m = tiny_recognizers['default']
    assert not m.training and m.epochs_run == 1 and m.input_shape == (1, 8, 8)
    with torch.no_grad(): assert m(x).shape == (4, 3)
    p0, p = _params(tiny_recognizers['init']), _params(m)
    assert 0.9e-3 <= _moved(p, p0) <= 1e-3 * (1 + 1e-4)                    # Adam's first step at lr = 1e-3: about lr, at most lr
    assert all(torch.equal(p[k], v) for k, v in _params(tiny_recognizers['seed0']).items())     # the default seed is 0
    assert _moved(_params(tiny_recognizers['seed1']), p) > 1e-2                                 # another seed: other initial weights


def test_train_recognizer_finetunes_a_copy_of_init_with_a_new_head(tiny_recognizers):
    x, y = _tiny_recognition()
    base = tiny_recognizers['default']
    before = _params(base)
    ft = ho.train_recognizer(x, y % 2, 2, epochs=1, batch_size=4, init=base)
    with torch.no_grad(): assert ft(x).shape == (4, 2) and base(x).shape == (4, 3)
    assert ft.num_classes == 2 and ft.epochs_run == 1
    assert all(torch.equal(before[k], v) for k, v in _params(base).items())  # init itself is untouched
    body = {k: v for k, v in _params(ft).items() if k in before and v.shape == before[k].shape}
    assert len(body) > 10 and _moved(body, {k: before[k] for k in body}) <= 1e-3 * (1 + 1e-4)   # one step from init's weights


def test_train_recognizer_stops_after_patience_epochs_without_improvement():
    x, y = _tiny_recognition()
    kw = dict(epochs=5, batch_size=4, lr=0.)                               # lr = 0, one batch: the same loss every epoch
    assert ho.train_recognizer(x, y, 3, **kw).epochs_run == 5
    assert ho.train_recognizer(x, y, 3, patience=1, **kw).epochs_run == 2
    assert ho.train_recognizer(x, y, 3, patience=2, **kw).epochs_run == 3


def test_train_recognizer_one_cycle_from_ten_steps(tiny_recognizers):
    "From 10 steps on, a one-cycle schedule (warm-up from lr / 25, then annealing): 10 steps move a weight by at most the sum of\n    their learning rates, about 4.6 lr; below 10 steps a constant lr: 9 steps move one by nearly 9 lr."
    x, y = _tiny_recognition()
    p0 = _params(tiny_recognizers['init'])
    cyc = _moved(_params(ho.train_recognizer(x, y, 3, epochs=10, batch_size=4, lr=1e-3)), p0)
    const = _moved(_params(ho.train_recognizer(x, y, 3, epochs=9, batch_size=4, lr=1e-3)), p0)
    assert 2e-3 < cyc < 4.8e-3 and const > 6e-3


def test_train_ensemble_bank_is_labelled():
    g = torch.Generator().manual_seed(0)
    bank = ho.train_ensemble(2, torch.rand(4, 1, 8, 8, generator=g), torch.arange(4) % 2, epochs=1)
    assert bank.source == 'ensemble' and repr(bank) == "MaskNets(n=2, structure=1, source='ensemble')"


def test_hypernet_fit_names_n_nets():
    h = ho.HyperNet(num_classes=2, image_size=8)
    with pytest.raises(ValueError, match='^n_nets'): h.fit(torch.rand(4, 1, 8, 8), torch.arange(4) % 2, epochs=1, n_nets=1)


def test_attack_success_per_probe_outcomes_of_the_others_are_hits():
    "'_hits' holds 1 where a probe is identified, for the targets and for everyone else: their means are the accuracies."
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(4)
    x = (torch.rand(12, 1, 32, 32, generator=g) * 0.2 + y[:, None, None, None] * 0.3).clamp(0, 1)
    f = ho.Faces(x[:3], y[:3], x, y, x, y, 3, 'toy')
    [out] = ho.attack_success(f, {0: x[:4]}, protocol='pixel', per_repeat=True)
    assert out['_others'] == 1 and out['_hits']['_others'] == [1] * 8         # pixel 1-NN on its own training photos
    assert np.mean(out['_hits'][0]) == out[0]


def test_condition_claim_with_a_failed_gate_is_untestable(rec, not_dry):
    tab = pd.DataFrame(_recognition_rows('gallery', [0.1] * 6, 'cloaked') + _recognition_rows('gallery', [0.9] * 6, 'original'))
    assert ho.condition_claim(rec, tab, 'the cloak protects', 'cloaked', 'original', 'gallery', '<') == 'reproduced'
    v = ho.condition_claim(rec, tab, 'the cloak protects', 'cloaked', 'original', 'gallery', '<', gate_failed='the gallery recognizer does not beat eigen')
    row = rec.frame().iloc[-1]
    assert v == 'untestable' and row.verdict == 'untestable' and row.reason.startswith('the gallery recognizer does not beat eigen')


# --- survivors of the later sample (notes/surv-hyperobf.txt) ---

def test_train_invnet_loss_history_is_the_mean_ssim_loss_of_each_pass():
    "`loss_history` holds each pass's mean loss 1 - SSIM over the pairs: with lr = 0 the net never moves, so every pass's\n    mean is 1 - SSIM(net(xp), x) averaged over all 5 pairs (batches of 2, 2 and 1 weighted by their sizes)."
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 8, 8, generator=g) * 0.6 + 0.2
    xp = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    net = ho.train_invnet(xp, x, epochs=2, batch_size=2, lr=0., width=2, tol=None)
    want = (1 - metrics.ssim(ho.restore(net, xp), x)).mean().item()
    assert net.epochs_run == 2 and net.steps_run == 6
    assert net.loss_history == pytest.approx([want, want], rel=1e-5)


def test_cloak_info_reports_the_ssim_and_dssim_of_each_cloaked_image():
    "`return_info`: per image the DSSIM (within the budget rho) and the SSIM of the cloak to its clean image, SSIM = 1 - 2 DSSIM."
    torch.manual_seed(0)
    m = ho.MaskNet(1, 1, 8, 2)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    xc, info = ho.cloak(m, x, rho=0.05, steps=3, return_info=True)
    torch.testing.assert_close(info['ssim'], metrics.ssim(x, xc), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(info['dssim'], metrics.dssim(x, xc), atol=1e-5, rtol=1e-5)
    assert (info['dssim'] <= 0.05 + 1e-6).all() and (info['ssim'] < 1).all()


def test_load_faces_refuses_a_split_with_one_private_identity(tmp_path):
    "`n_public` must leave at least 2 private identities (a recognizer tells identities apart): of 3, 1 public is the most."
    _write_faces(tmp_path/'faces', 3, 2)
    kw = dict(image_size=8, n_train=1, n_test=1)
    with pytest.raises(ValueError, match='^n_public: 2 leaves fewer than 2 private identities of 3'):
        ho.load_faces(f"imagefolder:{tmp_path/'faces'}", n_public=2, **kw)
    f = ho.load_faces(f"imagefolder:{tmp_path/'faces'}", n_public=1, **kw)
    assert f.num_classes == 2 and len(f.public_y) == 2 and torch.bincount(f.train_y).tolist() == [1, 1]


def test_condition_claim_default_tol_is_that_of_metrics_claim(rec, not_dry):
    "The docment says op / than / tol are 'as in `metrics.claim`': by default the claim row records tol = 0, as metrics.claim does."
    import inspect
    tab = pd.DataFrame(_recognition_rows('gallery', [0.1] * 6, 'cloaked') + _recognition_rows('gallery', [0.9] * 6, 'original'))
    assert ho.condition_claim(rec, tab, 'the cloak protects', 'cloaked', 'original', 'gallery') == 'reproduced'
    row = rec.frame().iloc[-1]
    assert row.metric == 'claim' and row.tol == inspect.signature(metrics.claim).parameters['tol'].default == 0


def test_gate_invnets_rows_record_passes_steps_and_last_loss(rec, not_dry):
    "One `invnet_converged` row per InvNet (0: not converged) with its passes, steps and the loss of its last pass."
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    xp = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    nets = {'a': ho.train_invnet(xp, x, steps=2, batch_size=4, width=2, tol=None),
            'b': ho.train_invnet(xp, x, steps=3, batch_size=2, width=2, tol=None, seed=1)}
    ho.gate_invnets(rec, nets, enforce=False)
    rows = rec.frame().query("metric == 'invnet_converged'")
    assert rows.invnet.tolist() == ['a', 'b'] and rows.value.tolist() == [0, 0]
    assert rows.epochs.tolist() == [2, 2] and rows.steps.tolist() == [2, 3]
    assert rows.last_loss.tolist() == pytest.approx([nets['a'].loss_history[-1], nets['b'].loss_history[-1]])


def test_attack_success_names_an_empty_target_list():
    f = _toy_faces()
    with pytest.raises(ValueError, match='^targets: expected at least one target identity'): ho.attack_success(f, {}, protocol='pixel')


def test_recognition_table_reports_progress_per_condition():
    "`progress(done, total, condition)` after each condition: done of the conditions, their number, the condition's name."
    f = _toy_faces()
    noise = {0: torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))}
    calls = []
    ho.recognition_table(f, {'clean': {}, 'noise': noise}, [0], {'pixel': dict(protocol='pixel')}, repeats=1,
                         progress=lambda *a: calls.append(a))
    assert calls == [(1, 2, 'clean'), (2, 2, 'noise')]


# --- survivors of sample 78 (notes/surv78-hyperobf.txt) ---

def test_hypernet_each_generator_output_is_one_masknet_parameter(small_hn):
    "Sec. 4.1: one generator per layer maps its code to that layer's weights and bias, scaled by the gain (gain x G(E(z))):\n    every output of G_l is exactly one parameter of the layer, so the layer's weights and bias together are G_l's outputs x gain."
    z = torch.randn(2, small_hn.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = small_hn(z)
        codes = small_hn.mixer(z).view(2, len(ho.LAYERS), small_hn.code_dim)
        for i, l in enumerate(ho.LAYERS):
            g = small_hn.generators[l](codes[:, i]) * getattr(small_hn, f'gain_{l}')
            got = torch.cat([p[f'{l}.weight'].flatten(1), p[f'{l}.bias'].flatten(1)], 1)
            assert got.shape == g.shape
            torch.testing.assert_close(got.sort(1).values, g.sort(1).values, atol=1e-6, rtol=1e-5)   # the same values, each used once


def test_invnet_has_a_relu_between_its_layers():
    "The notebook's InvNet: strided convolutions down, transposed convolutions up, ReLU between, a final convolution and a tanh."
    import torch.nn as nn
    inv = ho.InvNet(1, 2)
    kinds = [type(m) for m in list(inv.enc) + list(inv.dec)]
    convs = [i for i, k in enumerate(kinds) if k in (nn.Conv2d, nn.ConvTranspose2d)]
    assert [kinds[i] for i in convs] == [nn.Conv2d] * 3 + [nn.ConvTranspose2d] * 2 + [nn.Conv2d]
    assert all(kinds[i + 1] is nn.ReLU for i in convs[:-1]) and kinds[-1] is nn.Tanh


def test_cloak_stats_counts_a_perturbation_exactly_at_the_clip():
    "A pixel is at the clip when |delta| >= sat x rho_pixel: `sign_noise` moves every pixel by exactly rho_pixel, so with sat = 1\n    every pixel counts (float rounding of x + rho - x included)."
    x = torch.full((2, 1, 12, 12), 0.5)
    for rho in (8 / 255, 0.1, 0.125):
        t = ho.cloak_stats(x, ho.sign_noise(x, rho, seed=0), rho_pixel=rho, border=2, sat=1.)
        assert np.allclose(t.at_clip, 1) and np.allclose(t.at_clip_border, 1) and np.allclose(t.at_clip_inside, 1)


def test_condition_claim_records_its_extra_params(rec, not_dry):
    "`**params` (e.g. the attack) are recorded on the claim row, as with `grouped_claim` / `metrics.claim`."
    tab = pd.DataFrame(_recognition_rows('gallery', [0.1] * 6, 'cloaked') + _recognition_rows('gallery', [0.9] * 6, 'original'))
    ho.condition_claim(rec, tab, 'the cloak protects', 'cloaked', 'original', 'gallery', attack='invnet', users=6)
    row = rec.frame().iloc[-1]
    assert row.metric == 'claim' and row.attack == 'invnet' and row.users == 6 and row.protocol == 'gallery'


def test_load_faces_olivetti_names_a_bad_count(monkeypatch):
    "A count of 0 is not 'the default': the error names the argument (here Olivetti's n_public, n_train, n_test)."
    from types import SimpleNamespace
    x, y = torch.rand(40, 1, 4, 4), torch.arange(40) // 10
    monkeypatch.setattr(ho.pdata, 'load', lambda *a, **k: SimpleNamespace(tensors=(x, y)))   # no Olivetti files needed
    for name in ('n_public', 'n_train', 'n_test'):
        with pytest.raises(ValueError, match=f'^{name}: expected an int >= 1'): ho.load_faces('olivetti', **{name: 0})


def test_augment_faces_names_a_bad_seed():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match='^seed: expected a seed in'): ho.augment_faces(x, 2, seed=-1)
    with pytest.raises(TypeError, match='^seed: expected an int seed'): ho.augment_faces(x, 2, seed=0.5)


def test_hypernet_names_a_bad_number_of_classes():
    with pytest.raises(ValueError, match='^num_classes: expected an int >= 2'): ho.HyperNet(num_classes=1)
    with pytest.raises(TypeError, match='^num_classes: expected an int'): ho.HyperNet(num_classes=2.5)


def test_public_halves_names_a_public_identity_with_one_photo():
    "by='image' halves need at least two photos of every public identity: the error names `faces` and the identity."
    with pytest.raises(ValueError, match='^faces: public identity 0 has 1 image'): ho.public_halves(_toy_faces())   # one public photo each


def test_faces_to_moves_every_tensor():
    "`Faces.to(device)`: the same split with every tensor on `device` (the meta device shows each one moved)."
    f = _toy_faces()
    assert f.to('meta') is f and f.num_classes == 3
    for k in ('public_x', 'public_y', 'train_x', 'train_y', 'test_x', 'test_y'): assert getattr(f, k).device.type == 'meta', k


def test_hypernet_generate_refuses_seeds_that_are_not_a_list_and_says_what_it_got(small_hn):
    for bad, kind in ((5, 'int'), ('12', 'str')):
        with pytest.raises(TypeError, match=f'^seeds: expected a list of int seeds, got {kind}$'): small_hn.generate(seeds=bad)


def test_hypernet_untrained_warning_points_at_the_callers_line(small_hn):
    "The untrained-HyperNet warning is reported at the code that called `generate` (here this file), not inside privbook's module\n    (a wrapper around `generate`, such as mutmut's, may stand between: then it is reported there)."
    with pytest.warns(UserWarning, match='untrained') as w: small_hn.generate(1, seed=0)
    assert w[0].filename != ho.__file__
