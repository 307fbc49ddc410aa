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
