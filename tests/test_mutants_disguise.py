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


def test_load_key_says_when_the_ivs_do_not_match_the_blocks(tmp_path):
    "An AES-CBC key file with fewer IVs than block positions (under a valid MAC) is refused with the reason."
    import base64, json
    from privbook import disguise
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = Disguise('aes-cbc', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'k.key')
    f = json.loads(p.read_text())
    f['iv'] = base64.b64encode(base64.b64decode(f['iv'])[:48]).decode()            # 3 IVs for 4 blocks
    f['mac'] = disguise._mac(base64.b64decode(f['master']), f)
    (tmp_path/'bad.key').write_text(json.dumps(f)); (tmp_path/'bad.key').chmod(0o600)
    with pytest.raises(ValueError, match=r'^path: .*\(expected 4 IVs, got 48 bytes\)'): Disguise.load_key(tmp_path/'bad.key')


def test_method_of_attaches_instance_and_class_methods():
    from privbook.disguise import _method_of
    class A: v = 1
    @_method_of(A)
    def twice(self): return 2 * self.v
    @_method_of(A, classmethod_=True)
    def make(cls, v):
        a = cls(); a.v = v; return a
    assert A.make(3).twice() == 6 and twice(A.make(4)) == 8                     # an instance method, and the function itself


def test_codebook_attack_refuses_targets_of_another_shape():
    from privbook.disguise import codebook_attack
    d = Disguise('aes-ecb', 4, seed=0, permute=False)
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r'^target_y: expected images of shape \(1, 8, 8\) like the known pairs, got \(1, 8, 12\)'):
        codebook_attack(x, d.transform(x), torch.zeros(2, 1, 8, 12, dtype=torch.uint8), 4, perm=np.arange(4))


def _constant_classifier(cls, num_classes=3, side=4):
    "A model that predicts class `cls` for every image."
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, num_classes))
    with torch.no_grad(): m[1].weight.zero_(); m[1].bias.copy_(torch.nn.functional.one_hot(torch.tensor(cls), num_classes).float())
    return m.eval()


def test_examine_refuses_mismatched_images_and_an_examiner_that_recognises_nothing():
    from privbook.disguise import examine
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 0, 1, 1])
    e = examine(_constant_classifier(0), x, x, y)
    assert e.success_rate == pytest.approx(100.) and e.at_chance                 # half right on both: 100% of the clean accuracy, one class predicted
    with pytest.raises(ValueError, match=r'^x_attacked: expected the shape of x \(4, 1, 4, 4\), got \(3, 1, 4, 4\)'): examine(_constant_classifier(0), x[:3], x, y)
    with pytest.raises(ValueError, match='^examiner: it recognises none of the original images'): examine(_constant_classifier(2), x, x, y)


def test_train_classifier_is_reproducible_from_its_seed():
    "The same seed gives the same examiner (initialisation and shuffling); another seed another one."
    from privbook.disguise import train_classifier
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(12, 1, 16, 16, generator=g), torch.arange(12) % 3
    kw = dict(epochs=1, batch_size=4, num_classes=3, width=4)
    flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()])
    a, b, c = (train_classifier(x, y, seed=s, **kw) for s in (1, 1, 2))
    assert not a.training and a.num_classes == 3 and a(x[:2]).shape == (2, 3)
    assert torch.equal(flat(a), flat(b)) and not torch.equal(flat(a), flat(c))


def test_transform_refuses_an_empty_batch():
    with pytest.raises(ValueError, match=r'^x: expected at least one image, got shape \(0, 1, 8, 8\)'):
        Disguise('aes-ecb', 4, seed=0).transform(torch.zeros(0, 1, 8, 8, dtype=torch.uint8))


def test_load_key_refuses_an_edited_label_map(tmp_path):
    "Labels swapped under a valid MAC: the label map no longer derives from the master secret, so the file is refused."
    import base64, json
    from privbook import disguise
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = Disguise('aes-ecb', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'k.key')
    f = json.loads(p.read_text())
    lab = np.frombuffer(base64.b64decode(f['labels']), '<i8').copy()
    lab[[0, 1]] = lab[[1, 0]]
    f['labels'] = base64.b64encode(lab.astype('<i8').tobytes()).decode()
    f['mac'] = disguise._mac(base64.b64decode(f['master']), f)
    (tmp_path/'bad.key').write_text(json.dumps(f)); (tmp_path/'bad.key').chmod(0o600)
    with pytest.raises(ValueError, match=r'^path: .*\(the stored label map do not derive from its master secret'): Disguise.load_key(tmp_path/'bad.key')


def test_regression_attack_names_known_y():
    from privbook.disguise import regression_attack
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r'^known_y: float images must lie in \[0,1\]'): regression_attack(x, x + 2, x, 4, perm=np.arange(1))


def test_train_classifier_uses_the_learning_rate_given():
    from privbook.disguise import train_classifier
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 16, 16, generator=g), torch.arange(8) % 2
    kw = dict(epochs=1, batch_size=4, num_classes=2, width=4, seed=0)
    flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()])
    assert not torch.equal(flat(train_classifier(x, y, lr=1e-2, **kw)), flat(train_classifier(x, y, lr=1e-4, **kw)))


def test_disguise_names_the_iv_modes_and_takes_two_classes():
    with pytest.raises(ValueError, match=r"^iv: expected one of \['fixed', 'random'\], got 'cbc'"): Disguise('aes-cbc', 4, iv='cbc', seed=0)
    d = Disguise('aes-ecb', 4, seed=0, num_classes=2)                          # two classes: the smallest label map
    assert d.num_classes == 2 and sorted(d.key.labels.tolist()) == [0, 1]
    with pytest.raises(ValueError, match='^num_classes: expected an int >= 2, got 1'): Disguise('aes-ecb', 4, seed=0, num_classes=1)


# --- covB: public functions the notebooks call and no test did ---

def _toy_classes(n, seed, classes=3, side=16):
    "Classes as bright squares at different places, on a little noise (uint8)."
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = (torch.rand(n, 1, side, side, generator=g) * 40).to(torch.uint8)
    for i, c in enumerate(y.tolist()): x[i, 0, 4*c:4*c + 4, 4*c:4*c + 4] = 230
    return x, y


def test_disguised_correct_scores_the_cloud_model_in_the_original_labels():
    from privbook import models
    from privbook.disguise import disguised_correct, disguised_accuracy, train_classifier, to_float
    (xtr, ytr), (xte, yte) = _toy_classes(12, 0), _toy_classes(6, 1)
    d = Disguise('rmt-orth', 8, seed=0, num_classes=3)
    assert not np.array_equal(d.key.labels, np.arange(3))                   # a real relabeling
    kw = dict(epochs=1, lr=1e-2, batch_size=4, seed=3, width=4)
    c = disguised_correct(d, xtr, ytr, xte, yte, **kw)
    m = train_classifier(d.transform(xtr), d.relabel_labels(ytr), num_classes=3, **kw)
    pred = d.restore_labels(models.predict(m, to_float(d.transform(xte))).argmax(1))
    assert c.dtype == np.float64 and c.shape == (6,) and c.tolist() == (pred == yte).float().tolist()
    assert disguised_accuracy(d, xtr, ytr, xte, yte, **kw) == pytest.approx(c.mean())
    assert disguised_accuracy(d, xtr, ytr, xte, yte, **dict(kw, seed=4)) == pytest.approx(disguised_correct(d, xtr, ytr, xte, yte, **dict(kw, seed=4)).mean())


def test_disguised_correct_defaults_are_train_classifiers():
    "Defaults: 3 epochs, lr 3e-3, batches of 64, seed 0, width 16 (as `train_classifier`)."
    from privbook.disguise import disguised_correct, disguised_accuracy
    (xtr, ytr), (xte, yte) = _toy_classes(9, 0), _toy_classes(6, 1)
    d = Disguise('rmt-orth', 8, seed=1, num_classes=3)
    c = disguised_correct(d, xtr, ytr, xte, yte)
    want = disguised_correct(d, xtr, ytr, xte, yte, epochs=3, lr=3e-3, batch_size=64, seed=0, width=16)
    assert c.tolist() == want.tolist() and disguised_accuracy(d, xtr, ytr, xte, yte) == pytest.approx(want.mean())


def test_direct_reidentification_examines_the_disguised_images():
    from privbook.disguise import direct_reidentification, examiner_success_rate
    x, y = _toy_classes(6, 0)
    examiner = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 3)).eval()
    with torch.no_grad():                                                   # class c: the mean brightness of its square
        examiner[1].bias.zero_()
        for c in range(3): w = torch.zeros(16, 16); w[4*c:4*c + 4, 4*c:4*c + 4] = 1 / 16; examiner[1].weight[c] = w.flatten()
    d = Disguise('aes-ecb', 4, seed=0, num_classes=3)
    assert examiner_success_rate(examiner, x, x, y) == pytest.approx(100.)
    r = direct_reidentification(examiner, d, x, y)
    assert r == pytest.approx(examiner_success_rate(examiner, d.transform(x), x, y)) and r < 90


def test_inversion_net_is_a_two_layer_mlp_into_the_unit_range():
    from privbook.disguise import inversion_net
    net = inversion_net((2, 4, 6), hidden=7)
    lin = [l for l in net if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in lin] == [(48, 7), (7, 48)]
    x = torch.rand(3, 2, 4, 6, generator=torch.Generator().manual_seed(0))
    out = net(x)
    assert out.shape == (3, 2, 4, 6) and (out > 0).all() and (out < 1).all() and out.std() > 0
    logit = lambda v: torch.logit(net(v).double())                         # a hidden nonlinearity: not an affine map before the sigmoid
    with torch.no_grad(): assert not torch.allclose(logit(x[:1]) + logit(x[1:2]), 2 * logit((x[:1] + x[1:2]) / 2), atol=1e-4)
    assert [l.out_features for l in inversion_net((1, 4, 4)) if isinstance(l, torch.nn.Linear)] == [1024, 16]   # default width 1024


def _palette_images(n, seed, H=4, W=16, r=2, s=8):
    "uint8 images whose r x s blocks come from 3 fixed patterns (pattern 0 in most places), so ECB units repeat across images."
    g = np.random.default_rng(seed)
    pats = g.integers(0, 256, (3, r, s), dtype=np.uint8)
    x = np.empty((n, 1, H, W), np.uint8)
    for i in range(n):
        for bi in range(H // r):
            for bj in range(W // s): x[i, 0, bi*r:(bi+1)*r, bj*s:(bj+1)*s] = pats[g.choice(3, p=[0.6, 0.2, 0.2])]
    return torch.from_numpy(x), pats


def test_build_codebook_decodes_every_known_unit_and_estimates_the_permutation():
    from privbook.disguise import build_codebook, codebook_attack
    x, pats = _palette_images(40, 0)
    d = Disguise('aes-ecb', (2, 8), seed=0)
    y = d.transform(x)
    assert not np.array_equal(d.key.perm, np.arange(4))
    cb = build_codebook(x, y, (2, 8))
    assert cb.block == (2, 8) and cb.unit == 16 and cb.shape == (1, 4, 16) and cb.L == 16
    assert np.array_equal(cb.perm, d.key.perm) and cb.mode.shape == (4, 1, 16)
    assert np.array_equal(cb.mode, np.broadcast_to(pats[0].reshape(1, 1, 16), (4, 1, 16)))   # pattern 0 is the most common everywhere
    xr, hit = codebook_attack(None, None, y[:5], (2, 8), codebook=cb)
    assert hit == 1.0 and torch.equal(xr, x[:5])                           # every unit of a known image is in the book
    assert len(cb.keys) == len(np.unique(cb.keys)) and (np.diff(cb.keys.astype(np.float64)) >= 0).all()
    cbf = build_codebook(x.float() / 255, y.float() / 255, (2, 8))        # float images: the same bytes
    assert np.array_equal(cbf.keys, cb.keys) and np.array_equal(cbf.plain, cb.plain)


def test_build_codebook_uses_a_given_permutation_and_smaller_units():
    from privbook.disguise import build_codebook, codebook_attack
    x, _ = _palette_images(30, 1)
    d = Disguise('aes-ecb', (2, 8), unit=4, seed=1)
    y = d.transform(x)
    cb = build_codebook(x, y, (2, 8), unit=4, perm=d.key.perm)
    assert cb.unit == 4 and cb.mode.shape == (4, 4, 4) and np.array_equal(cb.perm, d.key.perm)
    xr, hit = codebook_attack(None, None, y[:3], (2, 8), unit=4, codebook=cb)
    assert hit == 1.0 and torch.equal(xr, x[:3])
    wrong = build_codebook(x, y, (2, 8), unit=4, perm=np.arange(4))
    assert np.array_equal(wrong.perm, np.arange(4)) and not torch.equal(codebook_attack(None, None, y[:3], (2, 8), unit=4, codebook=wrong)[0], x[:3])


def test_build_codebook_names_its_bad_arguments():
    from privbook.disguise import build_codebook
    x, _ = _palette_images(4, 0)
    with pytest.raises(ValueError, match=r'^known_y: expected the shape of known_x \(4, 1, 4, 16\), got \(3, 1, 4, 16\)'): build_codebook(x, x[:3], (2, 8))
    with pytest.raises(TypeError, match='^known_x: expected a torch.Tensor'): build_codebook(x.tolist(), x, (2, 8))
    with pytest.raises(TypeError, match='^known_y: expected a torch.Tensor'): build_codebook(x, x.tolist(), (2, 8))
    with pytest.raises(ValueError, match=r'^unit: expected one of \(1, 2, 4, 8, 16\) pixels, got 3'): build_codebook(x, x, (2, 8), unit=3)
    with pytest.raises(ValueError, match=r'^block: 3 x 8 blocks do not tile images of 4 x 16 pixels'): build_codebook(x, x, (3, 8))
    with pytest.raises(ValueError, match=r'^block: 2 x 5 blocks do not tile images of 4 x 16 pixels'): build_codebook(x, x, (2, 5))


def test_disguise_key_derives_its_label_map_unless_given():
    from privbook.disguise import DisguiseKey
    k = DisguiseKey('aes-ecb', (4, 4), 16, 0., 7, True, True, bytes(32))
    assert sorted(k.labels.tolist()) == list(range(7)) and not np.array_equal(k.labels, np.arange(7))
    assert np.array_equal(k.derive_labels(), k.labels) and np.array_equal(DisguiseKey('aes-ecb', (4, 4), 16, 0., 7, True, True, bytes(32)).labels, k.labels)
    assert not np.array_equal(DisguiseKey('aes-ecb', (4, 4), 16, 0., 7, True, True, bytes(31) + b'\1').labels, k.labels)   # from the master secret
    assert np.array_equal(DisguiseKey('aes-ecb', (4, 4), 16, 0., 7, True, False, bytes(32)).labels, np.arange(7))          # relabel=False: identity
    given = np.array([1, 0, 2, 3, 4, 5, 6])
    assert DisguiseKey('aes-ecb', (4, 4), 16, 0., 7, True, True, bytes(32), labels=given).labels is given


@pytest.mark.parametrize('method', ['aes-ecb', 'aes-cbc', 'rmt-orth'])
def test_disguise_key_bind_makes_the_material_for_a_shape(method):
    from privbook.disguise import DisguiseKey
    k = DisguiseKey(method, (2, 4), 16, 0., 5, True, True, bytes(range(32)))
    assert k.bind((np.int64(1), 8, 16)) is k and k.shape == (1, 8, 16) and type(k.shape[0]) is int
    t = (8 // 2) * (16 // 4)
    assert k.t == t and sorted(k.perm.tolist()) == list(range(t)) and not np.array_equal(k.perm, np.arange(t))
    d = k.derive((1, 8, 16))
    assert set(d) == {'perm', 'aes', 'iv', 'R'} and np.array_equal(d['perm'], k.perm)
    if method.startswith('aes'):
        assert k.aes.dtype == np.uint8 and k.aes.shape == (t, 16) and len(np.unique(k.aes, axis=0)) == t and k.R is None
        assert np.array_equal(d['aes'], k.aes)
        if method == 'aes-cbc': assert k.iv.dtype == np.uint8 and k.iv.shape == (t, 16) and len(np.unique(k.iv, axis=0)) == t and not np.array_equal(k.iv, k.aes)
        else: assert k.iv is None
    else:
        assert k.aes is None and k.iv is None and k.R.shape == (t, 4, 4) and np.allclose(d['R'], k.R)
        assert np.allclose(k.R[0] @ k.R[0].T, np.eye(4), atol=1e-8) and not np.allclose(k.R[0], k.R[1])   # orthogonal, one per position
    other = k.derive((1, 16, 8))                                                # another shape: other material
    assert not np.array_equal(other['perm'], k.perm)
    if method.startswith('aes'): assert not np.array_equal(other['aes'], k.aes)
    else: assert not np.allclose(other['R'], k.R)
    unperm = DisguiseKey(method, (2, 4), 16, 0., 5, False, True, bytes(range(32))).bind((1, 8, 16))
    assert np.array_equal(unperm.perm, np.arange(t))


def test_disguise_key_material_is_stable_for_a_seed():
    "Key files store the material and `load_key` re-derives it from the master secret: the derivation of a seed's key must not drift."
    want_perm, want_labels = [12, 5, 14, 13, 11, 4, 15, 1, 8, 6, 0, 2, 3, 9, 10, 7], [3, 0, 2, 1, 4]
    fps = {'aes-ecb': 'b88964057f5855a4ed40c825f59efc1e', 'aes-cbc': '920e99c7a89081a2e4a2ab3700f18926',
           'rmt-orth': 'f8d208c12a2cf27a9cd566d1555b9dd7', 'rmt-proj': '952efce61a48247e79f535fb401c8143'}
    for method, fp in fps.items():
        k = Disguise(method, (2, 8), seed=0, num_classes=5, shape=(1, 8, 32)).key
        assert k.perm.tolist() == want_perm and k.labels.tolist() == want_labels and k.fingerprint == fp
        if method.startswith('aes'):
            assert k.aes[0].tolist() == [180, 160, 99, 32, 129, 91, 203, 148, 252, 254, 255, 174, 178, 30, 173, 73]
            assert k.aes[-1].tolist() == [151, 165, 32, 176, 242, 131, 11, 39, 252, 53, 241, 47, 133, 60, 88, 14]
        if method == 'aes-cbc': assert k.iv[0].tolist() == [136, 253, 121, 71, 235, 147, 95, 61, 96, 200, 163, 209, 224, 46, 21, 255]
        if method == 'rmt-orth':
            assert k.R.shape == (16, 8, 8) and np.allclose(k.R[0, 0], [0.200982, -0.87208, 0.007805, -0.092748, -0.014019, 0.287264, 0.265893, -0.192362], atol=1e-6)
        if method == 'rmt-proj':
            assert np.allclose(k.R[-1, -1], [-0.013835, 0.043225, -0.013297, 0.335979, 0.554731, 0.165183, 0.300821, 0.463809], atol=1e-6)
    k = Disguise('aes-ecb', (2, 8), seed=0, num_classes=5).key
    assert k.derive((1, 16, 16))['perm'].tolist() == [5, 14, 3, 9, 4, 11, 10, 12, 13, 7, 6, 15, 2, 1, 0, 8]


def test_alexnet_small_has_ten_classes_by_default():
    from privbook.disguise import alexnet_small
    assert alexnet_small()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_key_file_without_downscale_is_box(tmp_path):
    "Key files written before the downscale filter was a setting hold no 'downscale': they load as 'box', as they were made."
    import base64, json
    from privbook import disguise
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    d = Disguise('aes-ecb', 4, unit=2)
    y = d.transform(x)
    f = json.loads(d.save_key(tmp_path/'k.key').read_text())
    f.pop('downscale'); f['mac'] = disguise._mac(base64.b64decode(f['master']), f)
    (tmp_path/'old.key').write_text(json.dumps(f)); (tmp_path/'old.key').chmod(0o600)
    d2 = Disguise.load_key(tmp_path/'old.key')
    assert d2.key.downscale == 'box' and torch.equal(d2.transform(x), y)


def test_ecb_unit_table_keeps_the_exact_means():
    "`_unit_lut`'s first table is the unrounded mean of each plaintext's 16 / unit encrypted bytes (the codebook's soft values)."
    from privbook import disguise
    key = np.arange(16, dtype=np.uint8)
    mean, rnd, inv, cnt = disguise._unit_lut(key, 1)
    C = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    want = np.frombuffer(C.update(np.repeat(np.arange(256, dtype=np.uint8), 16).tobytes()), np.uint8).reshape(256, 16).mean(1)
    assert mean.dtype.kind == 'f' and np.allclose(mean[:, 0], want, atol=1e-4)
    assert np.array_equal(rnd[:, 0], np.rint(want).astype(np.uint8)) and cnt.sum() == 256


def test_frequency_attack_fills_unmapped_units_with_the_unmapped_public_mean():
    "Public images A, A, B: per position A's unit is the most frequent and gets mapped (top=1); B is the only unmapped one, so a disguised unit that matches no mapped one reads B."
    from privbook.disguise import frequency_attack
    A, B, Cc = (np.full((1, 1, 4, 4), v, np.uint8) for v in (40, 200, 120))
    pub = np.concatenate([A, A, B])
    d = Disguise('aes-ecb', 4, unit=2, permute=False, seed=0)
    dis = d.transform(torch.from_numpy(np.concatenate([A, Cc])))
    rec, mapped = frequency_attack(torch.from_numpy(pub), dis, 4, unit=2, perm=[0], top=1)
    assert torch.equal(rec[0], torch.from_numpy(A[0])) and torch.equal(rec[1], torch.from_numpy(B[0]))


# --- SEED=5 / SEED=6 survivors ---

def test_most_frequent_picks_each_keys_commonest_value():
    "`_most_frequent`: the sorted unique keys and, for each, the index of its most frequent value (as its docstring says)."
    from privbook.disguise import _most_frequent
    keys = np.array([1, 2, 1, 2, 1, 2, 1], np.uint64)
    vals = np.array([4, 9, 3, 3, 4, 9, 4], np.uint64)    # key 1: 4, 3, 4, 4 (mode 4); key 2: 9, 3, 9 (mode 9)
    k, idx = _most_frequent(keys, vals)
    assert k.tolist() == [1, 2] and vals[idx].tolist() == [4, 9] and keys[idx].tolist() == [1, 2]


def test_transform_names_nan_images():
    d = Disguise('aes-ecb', 4, seed=0)
    for bad in (float('nan'), float('inf')):
        with pytest.raises(ValueError, match='^x: contains NaN or infinite values'): d.transform(torch.full((1, 1, 8, 8), bad))


def test_disguise_refuses_a_key_made_for_other_settings():
    "A key passed in must match the disguise's method, block, ...: the error names the setting and both values."
    k = Disguise('aes-ecb', 4, seed=0).key
    with pytest.raises(ValueError, match=r"^key: made for method='aes-ecb', not 'rmt-orth'"): Disguise('rmt-orth', 4, key=k)
    with pytest.raises(ValueError, match=r"^key: made for block=\(4, 4\), not \(2, 4\)"): Disguise('aes-ecb', (2, 4), key=k)
    assert Disguise('aes-ecb', 4, key=k).key is k


def _remac(tmp_path, f, name='bad.key'):
    "Write the edited key-file dict `f` under a valid MAC (an attacker who knows the master secret, or another version's file)."
    import base64, json
    from privbook import disguise
    f['mac'] = disguise._mac(base64.b64decode(f['master']), f)
    p = tmp_path/name; p.write_text(json.dumps(f)); p.chmod(0o600)
    return p


def test_load_key_names_an_unknown_iv_mode(tmp_path):
    import json
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = Disguise('aes-cbc', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'k.key')
    f = json.loads(p.read_text()); f['iv_mode'] = 'bogus'
    with pytest.raises(ValueError, match=r"^path: .*\(unknown iv_mode 'bogus'\)"): Disguise.load_key(_remac(tmp_path, f))


def test_load_key_from_other_numpy_versions_warns_or_refuses_with_expected_fingerprint(tmp_path):
    "A file written with other numpy / scipy versions whose label map does not re-derive: the stored (MAC-checked) map is used with a warning, but with expected_fingerprint (which authenticates only what derives from the master secret) it is refused, saying why."
    import base64, json
    d = Disguise('aes-ecb', 4, seed=0, num_classes=3, shape=(1, 8, 8))
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = d.save_key(tmp_path/'k.key')
    f = json.loads(p.read_text())
    f['versions'] = {'numpy': '1.0.0', 'scipy': '1.0.0'}
    lab = d.key.labels[[1, 0, 2]]
    f['labels'] = base64.b64encode(lab.astype('<i8').tobytes()).decode()
    bad = _remac(tmp_path, f)
    with pytest.warns(UserWarning, match=r'the label map of .* do not re-derive .*using the stored'):
        assert Disguise.load_key(bad).key.labels.tolist() == lab.tolist()
    with pytest.raises(ValueError, match=r'^path: .*\(the stored label map do not re-derive with numpy/scipy .*expected_fingerprint authenticates only'):
        Disguise.load_key(bad, expected_fingerprint=d.fingerprint)


def test_load_key_reads_a_key_file_written_by_this_release(tmp_path):
    "Users keep key files across versions: a file `save_key` wrote (Disguise('aes-ecb', 4, seed=0, num_classes=3), format /3, text kept verbatim here) must still load, MAC and fingerprint included, as the same key."
    text = ('{"format": "privbook-disguise-key/3", "method": "aes-ecb", "block": [4, 4], "unit": 16, "noise": 0.0, "num_classes": 3, '
            '"permute": true, "relabel": true, "iv_mode": "fixed", "seeded": true, "downscale": "box", "fingerprint": "b4b3fa2efae9260f16ffea105bb6f28b", '
            '"master": "dZo3O79+C2j00j1Vpq+ssHA5zAc9TIsFVCQ3d1o85cw=", "shape": null, "labels": "AgAAAAAAAAABAAAAAAAAAAAAAAAAAAAA", "perm": null, '
            '"aes": null, "iv": null, "R": null, "versions": {"numpy": "2.4.6", "scipy": "1.17.1"}, '
            '"mac": "759c9b7bb669d5e442400bb11869cc2d0ad33267f4a9aa251bb1874f5a07d266"}')
    p = tmp_path/'old.key'; p.write_text(text); p.chmod(0o600)
    d = Disguise('aes-ecb', 4, seed=0, num_classes=3)
    got = Disguise.load_key(p, expected_fingerprint=d.fingerprint)
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert got.fingerprint == d.fingerprint and torch.equal(got.transform(x), d.transform(x))


def test_alignment_attack_names_disguised_y():
    from privbook.disguise import alignment_attack
    x = torch.rand(3, 1, 8, 8)
    with pytest.raises(ValueError, match=r'^disguised_y: float images must lie in \[0,1\]'): alignment_attack(x, x + 2, 4, perm=np.arange(4))
    with pytest.raises(ValueError, match=r'^disguised_y: expected images of shape \(1, 8, 8\) like public_x, got \(1, 8, 12\)$'):
        alignment_attack(x, torch.rand(2, 1, 8, 12), 4, perm=np.arange(4))


def test_alignment_attack_fills_constant_blocks_with_the_public_mean_rows():
    "A block position whose rows are all equal (rank 0, e.g. a blank border) is filled with the public mean row, pixel by pixel, not one grey level."
    from privbook.disguise import alignment_attack
    img = np.zeros((1, 4, 8), np.float32)
    img[0, :, :4] = [0, .25, .5, .75]                       # left block: every row the same ramp
    img[0, :, 4:] = [1, .5, .5, 0]                          # right block: another constant-row pattern
    public = torch.from_numpy(np.repeat(img[None], 5, 0))
    d = Disguise('rmt-orth', 4, permute=False, seed=0)
    rec = alignment_attack(public, d.transform(public[:2]), 4, perm=np.arange(2))
    assert rec.shape == (2, 1, 4, 8) and torch.allclose(rec, public[:2], atol=1e-6)


def test_estimate_permutation_names_known_x():
    from privbook.disguise import estimate_permutation
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(TypeError, match='^known_x: expected a torch.Tensor'): estimate_permutation(x.tolist(), x, 4)
    with pytest.raises(TypeError, match='^known_x: expected uint8 images'): estimate_permutation(x.int(), x, 4)


def test_inversion_attack_takes_int_counts_from_one():
    "steps, hidden and batch_size are ints >= 1: a float is refused naming the argument; 1 is allowed."
    from privbook.disguise import inversion_attack
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for name in ('steps', 'hidden', 'batch_size'):
        with pytest.raises(TypeError, match=f'^{name}: expected an int'): inversion_attack(x, x, x, **{name: 2.5})
    out = inversion_attack(x, x, x[:2], steps=1, hidden=1, batch_size=1)
    assert out.shape == (2, 1, 4, 4) and ((out >= 0) & (out <= 1)).all()


def test_regression_attack_inverts_noiseless_rmt_from_uint8_pairs():
    "Noise-free RMT is linear per position, so least squares on enough known pairs (with the true permutation) recovers every R_j: the targets come back exactly, as float32 images in [0,1], whether the known originals are uint8 or float."
    from privbook.disguise import regression_attack
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, 1, 8, 8), dtype=torch.uint8, generator=g)
    d = Disguise('rmt-orth', 4, seed=0)
    y = d.transform(x)
    rec = regression_attack(x[:20], y[:20], y[20:], 4, perm=d.key.perm)
    assert rec.dtype == torch.float32 and rec.shape == (4, 1, 8, 8)
    assert torch.allclose(rec, x[20:].float() / 255, atol=1e-4)
    assert torch.allclose(regression_attack(x[:20].float() / 255, y[:20], y[20:], 4, perm=d.key.perm), rec, atol=1e-5)


# --- SEED=7 / SEED=8 survivors ---

def test_load_key_refuses_an_edited_permutation_or_matrices(tmp_path):
    "A block permutation or RMT matrices edited under a valid MAC no longer derive from the master secret: refused, naming what."
    import base64, json
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = Disguise('aes-ecb', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'a.key')
    f = json.loads(p.read_text())
    perm = np.frombuffer(base64.b64decode(f['perm']), '<i8').copy(); perm[[0, 1]] = perm[[1, 0]]
    f['perm'] = base64.b64encode(perm.astype('<i8').tobytes()).decode()
    with pytest.raises(ValueError, match=r'^path: .*\(the stored block permutation do not derive from its master secret'): Disguise.load_key(_remac(tmp_path, f))
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = Disguise('rmt-orth', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'r.key')
    f = json.loads(p.read_text())
    R = np.frombuffer(base64.b64decode(f['R']), '<f8') * 2                      # every R_j doubled: still invertible
    f['R'] = base64.b64encode(R.astype('<f8').tobytes()).decode()
    with pytest.raises(ValueError, match=r'^path: .*\(the stored matrices R_j do not derive from its master secret'): Disguise.load_key(_remac(tmp_path, f, 'r2.key'))


def test_load_key_refusals_name_the_file_and_the_aes_key_count(tmp_path):
    "Edited or truncated AES keys under a valid MAC are refused with the file's path and the reason (the expected key count)."
    import base64, json, re
    with pytest.warns(UserWarning, match='reproducible, not secret'): p = Disguise('aes-ecb', 4, seed=0, shape=(1, 8, 8)).save_key(tmp_path/'k.key')
    f = json.loads(p.read_text())
    aes = bytearray(base64.b64decode(f['aes'])); aes[0] ^= 1
    f['aes'] = base64.b64encode(bytes(aes)).decode()
    bad = _remac(tmp_path, f)
    with pytest.raises(ValueError, match=rf'^path: {re.escape(str(bad))} is not a valid disguise key file \(the stored AES keys do not derive'): Disguise.load_key(bad)
    f['aes'] = base64.b64encode(bytes(aes[:48])).decode()                         # 3 keys for 4 block positions
    with pytest.raises(ValueError, match=r'^path: .*\(expected 4 AES-128 keys, got 48 bytes\)'): Disguise.load_key(_remac(tmp_path, f))


def test_frequency_attack_names_disguised_y():
    from privbook.disguise import frequency_attack, frequency_permutation
    x = torch.rand(3, 1, 8, 8)
    with pytest.raises(ValueError, match=r'^disguised_y: float images must lie in \[0,1\]'): frequency_attack(x, x + 2, 4, perm=np.arange(4))
    with pytest.raises(ValueError, match=r'^disguised_y: float images must lie in \[0,1\]'): frequency_permutation(x, x + 2, 4)


def test_regression_attack_auto_intercept_from_2_s_plus_1_rows():
    "intercept='auto' fits an intercept when there are >= 2(s+1) rows per position (docment): s = 2 needs 6 rows = 3 images of r = 2 rows; with 2 images it fits none."
    from privbook.disguise import regression_attack
    x = torch.rand(5, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    d = Disguise('rmt-orth', 2, noise=80, seed=0)                               # noise: the fits with and without intercept differ
    y = d.transform(x)
    fit = lambda m, b: regression_attack(x[:m], y[:m], y[3:], 2, perm=d.key.perm, intercept=b)
    assert not torch.equal(fit(3, True), fit(3, False))
    assert torch.equal(fit(3, 'auto'), fit(3, True))                            # exactly 2(s+1) = 6 rows
    assert torch.equal(fit(2, 'auto'), fit(2, False))                           # 4 rows


def test_disguise_says_only_small_aes_units_take_a_downscale_filter():
    for method, unit in (('rmt-orth', 16), ('aes-ecb', 16)):
        with pytest.raises(ValueError, match=rf'^downscale: only AES units smaller than 16 pixels are scaled, not {method} unit={unit}'):
            Disguise(method, 4, unit=unit, downscale='bilinear', seed=0)


def test_transform_refuses_a_block_that_tiles_only_one_side():
    "The block must tile both the height and the width; one side off is enough to refuse (naming the block)."
    for H, W in ((8, 10), (10, 8)):
        with pytest.raises(ValueError, match=rf'^block: image size {H}x{W} is not divisible by the block 4x4'):
            Disguise('aes-ecb', 4, seed=0).transform(torch.zeros(1, 1, H, W, dtype=torch.uint8))
        with pytest.raises(ValueError, match=rf'^block: image size {H}x{W} is not divisible by the block 4x4'):
            Disguise('rmt-orth', 4, seed=0, shape=(1, H, W))
