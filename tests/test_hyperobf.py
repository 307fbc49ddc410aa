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


def test_generate_bad_arguments(hn):
    with pytest.raises(ValueError, match='^chunk:'): hn.generate(3, chunk=0)
    with pytest.raises(TypeError, match='^seeds:'): hn.generate(seeds=5)
    with pytest.raises(ValueError, match='^seed:'): hn.generate(2, seed=2**64)
    with pytest.raises(ValueError, match='^seed:'): hn.generate(2, seed=-1)
    with pytest.raises(ValueError, match='^seeds:'): hn.generate(seeds=[1, 2**64])
    with pytest.raises(ValueError, match='^n: 100000 MaskNets need 14.1 GiB'): hn.generate(10**5)   # estimated, refused
    banks = list(hn.generate_iter(5, seed=3, chunk=2))                  # streaming instead: bounded memory
    assert [len(b) for b in banks] == [2, 2, 1]
    torch.testing.assert_close(torch.cat([b.flat() for b in banks]), hn.generate(5, seed=3).flat(), atol=1e-5, rtol=1e-4)


def test_untrained_hypernet_warns():
    with pytest.warns(UserWarning, match='untrained'): ho.HyperNet(num_classes=3).generate(2, seed=0)


def test_load_faces_auto_fallback_is_announced(tmp_path):
    with pytest.warns(UserWarning, match='fell back to mnist5k'):
        f = ho.load_faces('auto', root=tmp_path, n_private=3, n_train=2, n_test=1)
    assert f.name == 'mnist5k' and 'fell back' in f.note
    with pytest.raises(FileNotFoundError): ho.load_faces('olivetti', root=tmp_path)


def test_diversity_term_raises_variance():
    x, y = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(0)), torch.arange(4).repeat(16)
    var = {}
    for dt in (True, False):
        torch.manual_seed(0)
        h = ho.HyperNet(num_classes=4, lambda_div=1., diversity_term=dt)
        h.fit(x, y, epochs=20, batch_size=32, n_nets=4, seed=0)
        var[dt] = h.variance(h.generate(16, seed=0).params).item()
    assert var[True] > 1.5 * var[False], var


def test_generated_masknets_as_diverse_as_an_ensemble():
    "Default settings, 512 digits at 32x32, 10 epochs: HyperNet MaskNets vs an ensemble of 8 trained the same way."
    from privbook import data
    x, y = data.load('mnist5k', 'train', size=512, image_size=32, seed=0).tensors
    xt, yt = data.load('mnist5k', 'test', size=256, image_size=32, seed=0).tensors
    ens = ho.train_ensemble(8, x, y, epochs=10, seed=0)
    torch.manual_seed(0)
    hn = ho.HyperNet(num_classes=10)
    hn.fit(x, y, epochs=10, seed=0)
    gen = hn.generate(8, seed=0)
    spread = ho.weight_spread(gen) / ho.weight_spread(ens)
    kl = ho.kl_diversity(gen, x[:64]) / ho.kl_diversity(ens, x[:64])
    acc_h, acc_e = hn.accuracy(gen, xt, yt), ho.ensemble_accuracy(ens, xt, yt)
    print(f"spread ratio {spread:.2f}, KL ratio {kl:.2f}, accuracy HyperNet {acc_h.min():.2f}-{acc_h.max():.2f}, ensemble {acc_e.mean():.2f}")
    assert spread >= 0.8 and kl >= 0.8
    assert acc_h.min() >= 0.8 * acc_e.mean() and acc_h.min() > 0.3      # every generated MaskNet still classifies (chance 0.1)


def test_invnet_beats_identity_on_cloaked_images():
    from privbook import data
    x = data.load('mnist5k', 'train', size=160, image_size=32, seed=1).tensors[0]
    torch.manual_seed(0)
    m = ho.MaskNet()
    kw = dict(rho=0.1, rho_pixel=48/255, steps=30)
    xp, xo = ho.attacker_pairs(m, x[:128], **kw)
    inv = ho.train_invnet(xp, xo, epochs=20, seed=0)
    held = x[128:]
    xc = ho.cloak(m, held, seed=5, **kw)
    before, after = metrics.ssim(held, xc).mean().item(), metrics.ssim(held, ho.restore(inv, xc)).mean().item()
    print(f"SSIM to the originals: cloaked {before:.3f}, restored {after:.3f}")
    assert after > before + 0.02


# --- the static notebook's control: "the trained cloak beats a random MaskNet's cloak" can fail

@pytest.fixture(scope='module')
def static_setting():
    "A small static system as 21_hyperobf_static builds it: a face split, the static MaskNet, the random control, a gallery recognizer."
    faces = ho.load_faces('mnist5k', n_public=4, n_private=6, n_train=5, n_test=7)   # 42 probes: enough for the score interval to exclude an advantage of 0.1
    trained = ho.train_masknet(faces.public_x, faces.public_y, epochs=10, seed=0)
    extractor = ho.pretrain_extractor(faces, seed=0, epochs=3)
    return faces, trained, ho.random_masknet(trained, seed=0), extractor


MARGIN = 0.1   # 21_hyperobf_static's `margin`: a control claim asks for an advantage of more than this


def _trained_vs_random(setting, masknet, tmp_path):
    "The notebook's 'trained beats random' verdict (its cloaks, `recognition_table`, `condition_claim`) with `masknet` as the system's MaskNet."
    from privbook.core import Recorder
    faces, trained, control, extractor = setting
    net = {'trained': trained, 'random': control}[masknet]   # the notebook's `masknet` parameter
    targets = list(range(faces.num_classes))
    kw = dict(rho=0.1, rho_pixel=48/255, steps=20)
    cloak_all = lambda m: {u: ho.cloak(m, faces.train_x[faces.train_y == u], seed=u, **kw) for u in targets}
    conds = {'original': {}, 'cloaked': cloak_all(net), 'control: random MaskNet': cloak_all(control)}
    tab = ho.recognition_table(faces, conds, targets, {'gallery': dict(protocol='gallery', extractors=[extractor])}, repeats=1)
    rec = Recorder(tmp_path, 'hyperobf_static')
    v = ho.condition_claim(rec, tab, "the trained cloak beats a random MaskNet's cloak", 'cloaked', 'control: random MaskNet', 'gallery', '<', -MARGIN)
    row = rec.frame().iloc[-1]
    assert row.metric == 'claim' and row.verdict == v and row.n == int(torch.isin(faces.test_y, torch.tensor(targets)).sum())   # one unit per probe photo
    return v


def test_random_masknet_fails_the_control(static_setting, tmp_path):
    "With the random MaskNet in the trained one's place, the control verdict must read 'not reproduced'."
    assert _trained_vs_random(static_setting, 'random', tmp_path) == 'not reproduced'


def test_control_claim_can_pass(tmp_path):
    "The same claim (advantage over a control of more than MARGIN) reads 'reproduced' where the cloak hides every probe and the control none: the control is not rigged to fail."
    import pandas as pd
    from privbook.core import Recorder
    rows = [dict(condition=(c,), protocol='gallery', repeat=0, user=u, accuracy=float(h), hits=(h,) * 7)
            for c, h in (('cloaked', 0), ('control: random MaskNet', 1)) for u in range(6)]
    rec = Recorder(tmp_path, 'hyperobf_static')
    assert ho.condition_claim(rec, pd.DataFrame(rows), "the trained cloak beats a random MaskNet's cloak", 'cloaked', 'control: random MaskNet', 'gallery', '<', -MARGIN) == 'reproduced'


# --- 22 / 25: the random bank, the attacker's pairs, the two-level claim rows

def test_attack_success_dlib_protocol_enrols_the_training_images():
    "protocol='dlib' enrols the (replaced) training images as the gallery and identifies the clean test images with the recognizer given; the clean images are described once, then only what a condition replaces."
    class Nearest:   # a stand-in for models.FaceDescriptor: pixels as descriptors, 1-NN; it counts the images it describes
        described = 0
        def describe(self, x, name='x'):
            self.described += len(x)
            return x.flatten(1)
        def identify(self, gallery, labels, probes):
            self.gallery = gallery
            return labels[torch.cdist(probes, gallery).argmin(1)]
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(4)
    x = (torch.rand(12, 1, 32, 32, generator=g) * 0.1 + y[:, None, None, None] * 0.4).clamp(0, 1)
    f = ho.Faces(x[:3], y[:3], x, y, x, y, 3, 'toy')
    rec = Nearest()
    assert ho.attack_success(f, {}, targets=[0], protocol='dlib', recognizer=rec)[0] == 1.
    assert rec.described == 24                                                       # 12 gallery + 12 probe images
    white = torch.ones_like(x[:4])
    hidden = ho.attack_success(f, {0: white}, protocol='dlib', recognizer=rec)    # user 0 enrolled with white images: its probes go elsewhere
    assert hidden[0] == 0. and torch.equal(rec.gallery[:4], white.flatten(1)) and torch.equal(rec.gallery[4:], x[4:].flatten(1))
    assert rec.described == 28                                                       # only the 4 replaced images described again
    f.test_x[0] = 1.                                                                 # a split changed in place is described again
    ho.attack_success(f, {}, targets=[0], protocol='dlib', recognizer=rec)
    assert rec.described == 52


def test_random_bank_is_seeded_and_untrained():
    m = ho.MaskNet()
    b = ho.random_bank(m, 4, seed=3)
    assert len(b) == 4 and b.seeds == [3, 4, 5, 6]
    assert torch.equal(b[2].conv1.weight, ho.random_masknet(m, 5).conv1.weight)
    assert not torch.equal(b.params['conv1.weight'][0], b.params['conv1.weight'][1])


def test_public_halves_are_image_disjoint():
    faces = ho.load_faces('mnist5k', n_public=4, n_private=6, n_train=5, n_test=3)
    d, a = ho.public_halves(faces)
    assert len(d.public_x) + len(a.public_x) == len(faces.public_x)
    assert set(d.public_y.tolist()) == set(a.public_y.tolist())                     # every public identity on both sides
    dist = torch.cdist(d.public_x.flatten(1), a.public_x.flatten(1))
    assert dist.min() > 0                                                            # no photo on both sides
    assert torch.equal(d.train_x, faces.train_x)                                     # the private identities untouched


def test_grouped_claim_equivalence_needs_the_interval_inside_the_margin(tmp_path):
    from privbook.core import Recorder
    rec = Recorder(tmp_path, 'hyperobf_mixinv')
    near = [0.02, -0.01, 0.0, 0.01, -0.02, 0.01]
    assert ho.grouped_claim(rec, 'alike', near, [0, 0, 1, 1, 2, 2], '~', 0., 0.1) == 'reproduced'
    assert rec.frame().iloc[-1].ci_level == pytest.approx(0.9)                      # two one-sided tests: the 90% interval
    assert ho.grouped_claim(rec, 'alike, tight margin', near, [0, 0, 1, 1, 2, 2], '~', 0., 0.005) != 'reproduced'
    # an effect of the thesis's size that our interval excludes reads 'not reproduced', not 'inconclusive'
    assert ho.grouped_claim(rec, 'advantage', [0.01, -0.02, 0.0, 0.02], [0, 0, 1, 1], '=', -0.23) == 'not reproduced'


# --- condition claims on per-probe 0/1 outcomes: all-equal per-user differences are not certainty

def _all_equal_table(n_users=10, n_probes=3):
    "A `recognition_table` where every user's probes are all recognized originally and none after cloaking."
    import pandas as pd
    rows = [dict(condition=(c,), protocol='gallery', repeat=0, user=u, accuracy=float(h), hits=(h,) * n_probes)
            for c, h in (('original', 1), ('cloaked', 0)) for u in range(n_users)]
    return pd.DataFrame(rows)


def test_condition_claim_all_equal_differences_keep_a_nonzero_interval(tmp_path):
    "Cloaked 0 vs original 1 for every user: the per-probe score interval has non-zero width (per-user means gave -1 [-1, -1])."
    from privbook.core import Recorder
    rec = Recorder(tmp_path, 'hyperobf_static')
    v = ho.condition_claim(rec, _all_equal_table(), 'the cloak protects', 'cloaked', 'original', 'gallery', '<')
    row = rec.frame().iloc[-1]
    assert v == 'reproduced' and row.value == -1 and row.n == 30                   # one unit per probe image
    assert row.ci_low == -1 and row.ci_high > -1 + 0.05                              # not a zero-width interval
    # '~' gets the 90% interval, still of non-zero width
    ho.condition_claim(rec, _all_equal_table(), 'alike', 'cloaked', 'original', 'gallery', '~', 0, 0.1)
    row = rec.frame().iloc[-1]
    assert row.ci_level == pytest.approx(0.9) and row.ci_high > row.ci_low


def test_condition_claim_needs_per_probe_outcomes(tmp_path):
    from privbook.core import Recorder
    rec = Recorder(tmp_path, 'hyperobf_static')
    with pytest.raises(ValueError, match='tab:'):
        ho.condition_claim(rec, _all_equal_table().drop(columns='hits'), 'x', 'cloaked', 'original', 'gallery')


def test_grouped_claim_paired_outcomes_get_the_score_interval(tmp_path):
    "grouped_claim(values, paired=...) hands paired 0/1 outcomes to `metrics.bootstrap_diff`: no zero-width interval."
    from privbook.core import Recorder
    rec = Recorder(tmp_path, 'hyperobf_static')
    ho.grouped_claim(rec, 'evades', [0.] * 12, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], '<', paired=[1.] * 12)
    row = rec.frame().iloc[-1]
    assert row.value == -1 and row.ci_high > row.ci_low
    with pytest.raises(ValueError, match='paired'):
        ho.grouped_claim(rec, 'x', [0., 1.], None, '<', paired=[1.])


def test_recognition_table_records_each_probe():
    "Every row holds its per-probe 0/1 outcomes (`hits`), whose mean is the row's accuracy."
    faces = ho.load_faces('mnist5k', n_public=4, n_private=4, n_train=5, n_test=3)
    tab = ho.recognition_table(faces, {'original': {}}, [0, 1], {'pixel': dict(protocol='pixel')})
    users = tab[tab.user != '_others']
    assert all(len(h) == 3 and set(h) <= {0, 1} for h in users.hits)
    assert all(abs(sum(h) / len(h) - a) < 1e-6 for h, a in zip(users.hits, users.accuracy))


# --- InvNets train to convergence (a budget, not a fixed number of passes) and say whether they converged

def _pairs():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 32, 32, generator=g)
    return (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1), x


def test_train_invnet_stops_when_converged():
    xp, x = _pairs()
    inv = ho.train_invnet(xp, x, epochs=40, patience=2, tol=0.5)          # a loose rule: it converges long before the budget
    assert inv.converged and inv.epochs_run < 40 and inv.epochs_run == len(inv.loss_history) > 2
    h = inv.loss_history
    assert h[-3] - h[-1] < 0.5 * h[-3]                                        # the rule that stopped it


def test_train_invnet_reports_a_spent_budget():
    xp, x = _pairs()
    inv = ho.train_invnet(xp, x, epochs=3)                                    # the default rule needs more than `patience` passes
    assert not inv.converged and inv.epochs_run == 3
    inv = ho.train_invnet(xp, x, epochs=3, tol=None)                         # no rule: the whole budget, never 'converged'
    assert not inv.converged and inv.steps_run == 3
    with pytest.raises(ValueError, match='tol'):
        ho.train_invnet(xp, x, tol=2.)


def test_gate_invnets_records_each_and_fails_on_one_unconverged(tmp_path):
    from privbook.core import Recorder
    xp, x = _pairs()
    rec = Recorder(tmp_path, 'hyperobf_mixinv')
    nets = {'loose': ho.train_invnet(xp, x, epochs=40, patience=2, tol=0.5), 'spent': ho.train_invnet(xp, x, epochs=2)}
    t = ho.gate_invnets(rec, nets, enforce=False)
    assert t.set_index('invnet').converged.to_dict() == {'loose': True, 'spent': False}
    f = rec.frame()
    assert sorted(f[f.metric == 'invnet_converged'].value.tolist()) == [0, 1]
    assert not f[f.metric == 'gate'].iloc[-1].passed
    with pytest.raises(metrics.CompetenceGateError):
        ho.gate_invnets(rec, {'spent': nets['spent']}, enforce=True)
    assert ho.gate_invnets(rec, {'loose': nets['loose']}).converged.all()


def test_public_halves_by_identity_share_no_person():
    faces = ho.load_faces('mnist5k', n_public=4, n_private=6, n_train=5, n_test=3)
    d, a = ho.public_halves(faces, by='identity')
    assert len(d.public_x) + len(a.public_x) == len(faces.public_x)
    assert d.public_y.unique().tolist() == [0, 1] and a.public_y.unique().tolist() == [0, 1]   # 2 of the 4 identities each, relabelled
    orig = lambda h: {int(faces.public_y[(faces.public_x.flatten(1) == x.flatten()).all(1)][0]) for x in h.public_x}
    assert orig(d) == {0, 2} and orig(a) == {1, 3}                                   # no person on both sides
    assert torch.equal(a.train_x, faces.train_x)
    one = ho.Faces(faces.public_x[:4], torch.zeros(4, dtype=torch.long), faces.train_x, faces.train_y, faces.test_x, faces.test_y, faces.num_classes, 'one')
    with pytest.raises(ValueError, match="faces: by='identity' needs at least 2"):
        ho.public_halves(one, by='identity')
    with pytest.raises(ValueError, match='by:'):
        ho.public_halves(faces, by='person')


def test_gate_counts_every_identity_and_a_deterministic_recognizer_once(tmp_path):
    "The competence gate scores the clean probes of every private identity (users and others); dlib's identical runs over training seeds are one recognizer, not three times the probes; learned recognizers' runs all count."
    import pandas as pd
    from privbook.core import Recorder
    rows = []
    for s in range(3):
        for p, hit in (('dlib', lambda s, i: 1), ('scratch', lambda s, i: int(i != s)), ('pixel', lambda s, i: int(i > 1)), ('eigen', lambda s, i: int(i > 3))):
            rows += [dict(condition=('clean',), protocol=p, repeat=0, train_seed=s, user=u, accuracy=0., hits=tuple(hit(s, 4 * k + i) for i in range(4)))
                     for k, u in enumerate([0, 1, '_others'])]
    tab = pd.DataFrame(rows)
    assert ho._clean_probes(tab, 'clean', 'dlib').shape == (1, 12)                   # 3 identical runs: one
    assert ho._clean_probes(tab, 'clean', 'scratch').shape == (3, 12)                # 3 different runs: all
    rec = Recorder(tmp_path, 'x')
    out = ho.gate_recognizers(rec, tab, 'clean')
    gates = rec.frame().query("metric == 'gate'").set_index('protocol')
    assert gates.loc['dlib', 'n'] == 12 and gates.loc['scratch', 'n'] == 36
    assert gates.loc['dlib', 'than'] == pytest.approx(10 / 12)                      # pixel (10 of 12) is the better baseline
    assert out['dlib'] is not None and '1 [0.7575, 1]' in out['dlib']               # 12 of 12 cannot show more than 10 of 12 at 95%


# --- the recognizers' competence gate scores every clean private photo once (`clean_folds`), not only the split's test photos

def _gate_tab(n_users, n_probes, base_hits, rec_hits):
    "A clean-condition table: the 'pixel' baseline recognizes `base_hits` of the probes, 'eigen' none, 'dlib' `rec_hits`."
    import pandas as pd
    rows = []
    for p, k in (('pixel', base_hits), ('eigen', 0), ('dlib', rec_hits)):
        flat = [int(i < k) for i in range(n_users * n_probes)]
        rows += [dict(condition=('clean',), protocol=p, repeat=0, user=u, accuracy=0., hits=tuple(flat[u*n_probes:(u+1)*n_probes])) for u in range(n_users)]
    return pd.DataFrame(rows)


def test_gate_on_one_split_cannot_pass_a_perfect_recognizer(tmp_path):
    "The defect `clean_folds` fixes: on 25 identities x 3 test photos a recognizer right on all 75 cannot beat a baseline right on 72 (Wilson's lower end 0.951 < 0.96); on all 250 photos it can."
    from privbook.core import Recorder
    rec = Recorder(tmp_path, 'x')
    assert ho.gate_recognizers(rec, _gate_tab(25, 3, 72, 75), 'clean')['dlib'] is not None
    assert ho.gate_recognizers(rec, _gate_tab(25, 10, 240, 250), 'clean')['dlib'] is None


@pytest.fixture(scope='module')
def small_faces():
    return ho.load_faces('mnist5k', n_public=4, n_private=4, n_train=5, n_test=2)


def test_clean_folds_test_every_photo_once_with_the_splits_sizes(small_faces):
    f = small_faces
    folds = ho.clean_folds(f)
    assert folds[0] is f and len(folds) == 1 + 3                                    # 5 training photos in test folds of 2: 2, 2, 1
    key = lambda x: [tuple(r) for r in x.flatten(1).tolist()]
    label = dict(zip(key(torch.cat([f.train_x, f.test_x])), torch.cat([f.train_y, f.test_y]).tolist()))
    tested = [k for g in folds for k in key(g.test_x)]
    assert sorted(tested) == sorted(label) and len(set(tested)) == len(tested)     # every photo a probe exactly once
    for g in folds:
        assert torch.bincount(g.train_y).tolist() == [5] * 4                        # the split's 5 training photos of each identity
        assert not set(key(g.train_x)) & set(key(g.test_x))                         # never a probe of its own fold
        for x, y in ((g.train_x, g.train_y), (g.test_x, g.test_y)):
            assert [label[k] for k in key(x)] == y.tolist()                         # each photo keeps its identity
        assert torch.equal(g.public_x, f.public_x) and g.num_classes == f.num_classes
    assert [len(g.test_x) for g in folds] == [8, 8, 8, 4]


def test_clean_folds_needs_equal_counts_per_identity(small_faces):
    f = small_faces
    odd = ho.Faces(f.public_x, f.public_y, f.train_x[1:], f.train_y[1:], f.test_x, f.test_y, f.num_classes, 'odd')
    with pytest.raises(ValueError, match='^faces: clean_folds needs'):
        ho.clean_folds(odd)
    none = ho.Faces(f.public_x, f.public_y, f.train_x, f.train_y, f.test_x[:0], f.test_y[:0], f.num_classes, 'no test photos')
    with pytest.raises(ValueError, match='^faces: clean_folds needs'):
        ho.clean_folds(none)


def test_fold_table_scores_every_identity_on_every_fold_and_the_gate_counts_them(small_faces, tmp_path):
    from privbook.core import Recorder
    folds = ho.clean_folds(small_faces)
    tab = ho.fold_table(folds, {p: dict(protocol=p) for p in ('pixel', 'eigen', 'scratch')}, repeats=1)
    assert sorted(set(tab.fold)) == [0, 1, 2, 3] and '_others' not in set(tab.user.astype(str))
    assert len(tab) == 3 * 4 * 4                                                      # protocols x folds x identities
    pix = tab[tab.protocol == 'pixel']
    assert sum(len(h) for h in pix.hits) == 28                                       # 4 identities x 7 photos, each once
    assert ho._clean_probes(tab, 'clean', 'pixel').shape == (1, 28)
    rec = Recorder(tmp_path, 'x')
    ho.gate_recognizers(rec, tab, 'clean')
    assert rec.frame().query("metric == 'gate'").iloc[-1].n == 28
    with pytest.raises(ValueError, match='^folds:'):
        ho.fold_table([], {'pixel': dict(protocol='pixel')})
