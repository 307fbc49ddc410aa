"Behavioural tests of privbook.fmd written against the mutants that `make mutants` found surviving (docs/mutants.md)."
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np, pytest, torch, torch.nn as nn
from PIL import Image
from privbook import core, data, fmd, models

torch.set_num_threads(1)


def _net(seed, w=4):
    "A tiny untrained CNN on 1 x 8 x 8 images, 3 conv layers (default FMD layer 1), 10 classes; no `input_shape` attribute."
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10)).eval()

@pytest.fixture(scope='module')
def xy():
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 1, 8, 8, generator=g), torch.randint(0, 10, (6,), generator=g)

@pytest.fixture(scope='module')
def pair(): return _net(0), _net(1)

def _acc(m, x, y): return 100 * (models.predict(m, x).argmax(1) == y).float().mean().item()


# ---------------------------------------------------------------------------------------------- scores
def test_scores_exact_small_example():
    "protected = % of the authorized models right on their own images, unauthorized = % of the off-diagonal pairs right."
    c = np.zeros((2, 2, 3), bool)
    c[0, 0] = [1, 1, 0]; c[1, 1] = [1, 0, 0]   # diagonal: the authorized model on its own images
    c[0, 1] = [1, 0, 0]; c[1, 0] = [0, 0, 0]   # off-diagonal: the other model
    s = fmd.scores(c)
    assert s.protected.tolist() == [100., 50., 0.] and s.unauthorized.tolist() == [50., 0., 0.]
    one = fmd.scores(np.ones((1, 1, 2), bool))    # one model: no unauthorized pair
    assert one.protected.tolist() == [100., 100.] and one.unauthorized.isna().all()


# ---------------------------------------------------------------------------------------------- show / explorer
def test_show_draws_both_models_predictions_and_reports_them(pair, xy, monkeypatch):
    monkeypatch.setattr(plt, 'show', lambda *a, **k: None)
    plt.close('all')
    auth, other = pair
    x, y = xy
    line = fmd.show(auth, other, x, y, eps=8/255, layer=0, lam=0.5, steps=3, seed=1, n=4)
    xs = fmd.protect(auth, x[:4], y[:4], 0, 8/255, 4/255, 3, 0.5, 1)
    pa, pu = models.predict(auth, xs).argmax(1), models.predict(other, xs).argmax(1)
    assert line == (f"eps=8/255 layer=0 lam=0.5: authorized {_acc(auth, xs, y[:4]):.0f}%, "
                    f"unauthorized {_acc(other, xs, y[:4]):.0f}% (A: authorized, U: unauthorized prediction)")
    axs = plt.gcf().axes
    assert len(axs) == 3 * 4                                   # original / protected / difference rows, 4 images each
    assert [a.get_title() for a in axs[:4]] == [f'y={int(t)} A:{int(a)} U:{int(u)}' for t, a, u in zip(y[:4], pa, pu)]
    drawn = axs[4].get_images()[0].get_array()                 # the protected row shows the protected images
    assert np.allclose(np.asarray(drawn).squeeze(), xs[0, 0].numpy(), atol=1e-6)
    plt.close('all')


def test_show_default_layer_is_the_papers(pair, xy, monkeypatch):
    monkeypatch.setattr(plt, 'show', lambda *a, **k: None)
    auth, other = pair
    x, y = xy
    assert fmd.default_layer(auth, (1, 8, 8)) == 1
    assert fmd.show(auth, other, x, y, steps=2, n=2).startswith('eps=16/255 layer=1 lam=1.0: ')
    plt.close('all')


def test_explorer_sliders_and_run(pair, xy, monkeypatch, capsys):
    "The explorer works for a model without `input_shape` (the shape comes from x); its run protects with the slider values."
    monkeypatch.setattr(plt, 'show', lambda *a, **k: None)
    auth, other = pair
    x, y = xy
    w = fmd.explorer(auth, other, x[:2], y[:2], steps=2, seed=0)
    s = {c.description: c for c in w.children if hasattr(c, 'min')}
    eps, layer, lam = s['eps x255'], s['layer'], s['lambda']
    assert (eps.min, eps.max, eps.value) == (1, 32, 16)
    assert (layer.min, layer.max, layer.value) == (0, fmd.n_layers(auth, (1, 8, 8)) - 1, 1)
    assert (lam.min, lam.max, lam.value) == (0, 5, 1.0)
    w.f(eps255=3, layer=2, lam=0.25)
    assert capsys.readouterr().out.startswith('eps=3/255 layer=2 lam=0.25: authorized ')
    plt.close('all')


# ---------------------------------------------------------------------------------------------- preprocessed_scores
def test_preprocessed_scores_match_the_models_on_preprocessed_images(pair, xy):
    zoo = dict(zip('ab', pair))
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, layers=0, steps=2, baselines=('uniform',), progress=False, keep_images=True)
    out = fmd.preprocessed_scores(df, zoo, y, kinds=('none', 'bits4'))
    assert set(out) == {(m, k) for m in ('fmd', 'uniform') for k in ('none', 'bits4')}
    for m in ('fmd', 'uniform'): assert np.array_equal(out[(m, 'none')], df.attrs['correct'][m])   # 'none' = the matrix itself
    imgs = df.attrs['images']['fmd']
    want = np.stack([np.stack([(models.predict(zoo[u], data.preprocess(imgs[a], 'bits4')).argmax(1) == y).numpy() for u in 'ab']) for a in 'ab'])
    assert np.array_equal(out[('fmd', 'bits4')], want)


# ---------------------------------------------------------------------------------------------- finetune
def test_finetune_fits_a_copy_on_the_images(xy):
    x, y = xy
    torch.manual_seed(2)
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    before = torch.get_rng_state()
    ft = fmd.finetune(m, x, y, epochs=30, lr=3e-2, batch_size=3, seed=0)
    assert torch.equal(torch.get_rng_state(), before)                                  # the caller's RNG is untouched
    assert ft is not m and all(torch.equal(v, m.state_dict()[k]) for k, v in sd.items())  # the given model is unchanged
    assert _acc(ft, x, y) == 100 > _acc(m, x, y)                                       # the copy learned (x, y)
    again = fmd.finetune(m, x, y, epochs=30, lr=3e-2, batch_size=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(ft.state_dict().values(), again.state_dict().values()))
    other = fmd.finetune(m, x, y, epochs=1, lr=3e-2, batch_size=6, seed=0)            # one step over the whole batch
    three = fmd.finetune(m, x, y, epochs=1, lr=3e-2, batch_size=2, seed=0)            # three steps of 2
    assert not all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), three.state_dict().values()))


# ---------------------------------------------------------------------------------------------- train_pool
def _rows(t): return {tuple(r) for r in t.flatten(1).mul(255).round().int().tolist()}

def test_train_pool_draws_seeded_training_images():
    tr, te = data.load('digits', 'train'), data.load('digits', 'test')
    p = fmd.train_pool('digits', 20, 8, seed=0)
    x, y = p.tensors
    assert x.shape == (20, 1, 8, 8) and y.shape == (20,)
    idx = [next(i for i, t in enumerate(tr.tensors[0]) if torch.equal(t, xi)) for xi in x]  # every image is a training image
    assert idx == sorted(idx) and torch.equal(tr.tensors[1][idx], y)                      # in training order, with its label
    assert torch.equal(fmd.train_pool('digits', 20, 8, seed=0).tensors[0], x)
    assert not torch.equal(fmd.train_pool('digits', 20, 8, seed=1).tensors[0], x)


def test_train_pool_of_an_imagefolder_reads_only_its_train_split(tmp_path):
    root = tmp_path/'root'
    for split, vals in (('train', range(10, 70, 10)), ('test', range(150, 250, 25))):
        for i, v in enumerate(vals):
            (root/split/'ab'[i % 2]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((10, 10, 3), v, np.uint8)).save(root/split/'ab'[i % 2]/f'{v}.png')
    name = f'imagefolder:{root}'
    p = fmd.train_pool(name, 4, 8, seed=0)
    x, y = p.tensors
    assert x.shape == (4, 3, 8, 8)
    vals = (x[:, 0, 0, 0] * 255).round().int().tolist()
    assert set(vals) <= set(range(10, 70, 10)) and len(set(vals)) == 4           # distinct training images, no test image
    assert all(int(c) == (v // 10 - 1) % 2 for v, c in zip(vals, y))              # each with its class
    assert len(fmd.train_pool(name, 100, 8, seed=0).tensors[1]) == 6              # at most the whole training split


# ---------------------------------------------------------------------------------------------- protect's checks
def test_protect_refuses_a_step_above_one_and_images_of_the_wrong_shape(xy):
    x, y = xy
    m = _net(3)
    with pytest.raises(ValueError, match='^alpha: expected at most 1'): fmd.protect(m, x, y, 0, alpha=1.5, steps=1)
    m.input_shape = (1, 8, 8)
    big = torch.rand(2, 1, 10, 10)
    with pytest.raises(ValueError, match=r'^x: expected images of shape \(1, 8, 8\)'): fmd.protect(m, big, y[:2], 0, steps=1)


# ---------------------------------------------------------------------------------------------- transfer_matrix
class _Spy(nn.Module):
    "A classifier that records the size of every batch it gets with gradients (the attack's batches)."
    def __init__(self, net): super().__init__(); self.net, self.sizes = net, []
    def forward(self, x):
        if x.requires_grad: self.sizes.append(len(x))
        return self.net(x)

def test_transfer_matrix_attacks_in_batches_and_times_each_pair(xy):
    x, y = xy
    zoo = {'a': _Spy(_net(0)), 'b': _Spy(_net(1))}
    df = fmd.transfer_matrix(zoo, x, y, layers=0, steps=2, baselines=('pgd', 'uniform'), batch_size=4, progress=False)
    assert sorted(set(zoo['a'].sizes)) == sorted(set(zoo['b'].sizes)) == [2, 4]          # 6 images: a batch of 4, then 2
    secs, long = df.attrs['seconds'], df.attrs['long']
    assert set(secs) == {(a, m) for a in 'ab' for m in ('fmd', 'pgd', 'uniform')} and all(v >= 0 for v in secs.values())
    assert all(secs[(r.authorized, r.method)] == r.seconds for r in long.itertuples())


# ---------------------------------------------------------------------------------------------- setting / load_zoo
def test_setting_smoke_scale_keeps_200_seeded_test_images():
    _, te = fmd.setting('digits', archs=(), scale='smoke', seed=0)
    x, y = te.tensors
    full = data.load('digits', 'test')
    assert len(y) == 200 < len(full.tensors[1])
    assert _rows(x) <= _rows(full.tensors[0])                                           # test images only
    assert not torch.equal(fmd.setting('digits', archs=(), scale='smoke', seed=1)[1].tensors[0], x)
    assert len(fmd.setting('digits', archs=(), scale='cpu')[1].tensors[1]) == len(full.tensors[1])   # cpu: the whole test set


def test_load_zoo_imagenet_puts_the_models_on_the_device(monkeypatch):
    "ImageNet's zoo is torchvision's pretrained models (stubbed here: no download), moved to the requested device."
    monkeypatch.setattr(models, 'build', lambda arch, num_classes, pretrained: _net(0).train())
    zoo = fmd.load_zoo('imagenet', archs=('m1', 'm2'), device='meta')
    assert list(zoo) == ['m1', 'm2']
    assert all(p.device.type == 'meta' for m in zoo.values() for p in m.parameters()) and not any(m.training for m in zoo.values())


# ---------------------------------------------------------------------------------------------- feature_layer / perturb / uniform_noise
def test_feature_layer_refuses_an_index_out_of_range_naming_the_valid_ones(pair):
    auth, _ = pair                                                                       # 3 conv layers: 0..2
    for bad in (3, -1):
        with pytest.raises(ValueError, match=rf'^layer: expected an index in 0\.\.2 \(3 conv layers\), got {bad}$'):
            fmd.feature_layer(auth, bad, (1, 8, 8))


def test_perturb_none_is_an_unchanged_copy_with_the_same_checks(pair, xy):
    auth, _ = pair
    x, y = xy
    xs = fmd.perturb('none', auth, x, y, steps=1)
    assert torch.equal(xs, x) and xs.data_ptr() != x.data_ptr()
    with pytest.raises(ValueError, match='^eps: '): fmd.perturb('none', auth, x, y, eps=2.0, steps=1)     # a budget above 1 is no budget


def test_uniform_noise_is_seeded_and_within_the_budget(xy):
    x, _ = xy
    a, b = fmd.uniform_noise(x, 8/255, seed=0), fmd.uniform_noise(x, 8/255, seed=1)
    assert torch.equal(a, fmd.uniform_noise(x, 8/255, seed=0)) and not torch.equal(a, b)   # the seed decides the noise
    assert (a - x).abs().max() <= 8/255 + 1e-6 and a.min() >= 0 and a.max() <= 1
    assert torch.equal(fmd.perturb('uniform', _net(0), x, xy[1], eps=8/255, steps=1, seed=0), a)


# ---------------------------------------------------------------------------------------------- best_layer
def test_best_layer_tries_every_conv_layer_by_default(pair, xy):
    "Sec. 8.1: among the layers whose protected accuracy reaches `min_protected`, the one the others do worst on."
    auth, other = pair
    x, _ = xy
    y = models.predict(auth, x).argmax(1)                                                # the authorized model is right on x
    kw = dict(eps=8/255, alpha=4/255, steps=2, lam=1.0, seed=0)
    best, df = fmd.best_layer(auth, {'u': other}, x, y, **kw)
    assert df.index.tolist() == [0, 1, 2]                                               # every conv layer of the 3
    for L in range(3):
        xs = fmd.protect(auth, x, y, L, **kw)
        assert df.loc[L].tolist() == pytest.approx([_acc(auth, xs, y), _acc(other, xs, y)])
    ok = df[df.protected >= 99]
    assert best == (ok.others.idxmin() if len(ok) else df.protected.idxmax())
    best0, df0 = fmd.best_layer(auth, [other], x, y, min_protected=0.0, **kw)        # every layer qualifies
    assert df0.equals(df) and best0 == df.others.idxmin()


# ---------------------------------------------------------------------------------------------- transfer_matrix rows
def test_transfer_matrix_rows_count_the_images(pair, xy):
    zoo = dict(zip('ab', pair))
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, layers=0, steps=1, baselines=('none',), progress=False)
    long = df.attrs['long']
    assert len(long) == 2 * 2 * 2 and (long.n == len(x)).all()                          # 2 methods x 2 authorized x 2 models
    none = df.attrs['baselines']['none']                                                # clean images: each model's own accuracy
    assert [none.loc[a, u] for a in 'ab' for u in 'ab'] == pytest.approx([_acc(zoo[u], x, y) for a in 'ab' for u in 'ab'])


# ---------------------------------------------------------------------------------------------- zoo_scale / load_zoo / setting
def test_zoo_scale_caps_a_large_training_set_at_cpu_scale(monkeypatch):
    S, size = fmd.zoo_scale('digits', 'cpu')
    assert S == core.get_scale('cpu') and size is None                              # digits is small: the cpu scale unchanged
    monkeypatch.setattr(fmd, 'ZOO_MAX_TRAIN', 100)                                       # digits is then a large training set
    S, size = fmd.zoo_scale('digits', 'cpu')
    assert S == core.get_scale('cpu', n_train=100, n_test=1000) and size is None
    assert fmd.zoo_scale('digits', 'smoke')[0] == core.get_scale('smoke')          # only the cpu scale is capped


def test_zoo_is_pretrained_for_imagenet_and_loaded_quietly_by_default(monkeypatch):
    got = []
    monkeypatch.setattr(models, 'build', lambda arch, num_classes, pretrained: got.append((arch, num_classes, pretrained)) or _net(0))
    fmd.load_zoo('imagenet', archs=('m1',), device='cpu')
    assert got == [('m1', 1000, True)]                                                   # torchvision's ImageNet weights
    quiet = []
    monkeypatch.setattr(models, 'pretrained_or_trained', lambda arch, *a, progress, **k: quiet.append((arch, progress)) or _net(0))
    fmd.load_zoo('digits', archs=('m1', 'm2'))
    zoo, te = fmd.setting('digits', archs=('m1',))
    assert list(zoo) == ['m1'] and len(te.tensors[1]) == 200
    fmd.setting('digits', archs=('m2',), progress=True)
    assert quiet == [('m1', False), ('m2', False), ('m1', False), ('m2', True)]


# ---------------------------------------------------------------------------------------------- sample SEED=2's survivors
def test_bad_arguments_are_named_in_the_error(pair, xy):
    "finetune, train_pool, transfer_matrix and perturb('uniform') refuse bad input with an error that starts with the argument."
    x, y = xy
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ValueError, match=r'^y: expected 6 labels'): fmd.finetune(m, x, y[:3])
    with pytest.raises(ValueError, match=r'^epochs: '): fmd.finetune(m, x, y, epochs=0)
    with pytest.raises(ValueError, match=r'^n: '): fmd.train_pool('digits', 0, 8)
    with pytest.raises(TypeError, match=r'^models: .* got list$'): fmd.transfer_matrix([m], x, y)
    auth = _net(0)
    auth.num_classes = 5                                                                 # the model's labels: 0..4
    bad = torch.full_like(y, 7)
    for method in ('uniform', 'none'):                                                 # model-free methods check labels against the model too
        with pytest.raises(ValueError, match=r'^y: '): fmd.perturb(method, auth, x, bad, steps=1)


def test_protect_runs_exactly_the_given_iterations(pair, xy):
    "Algorithm 1 runs N iterations: the callback sees i = 1..N, and the last one's images are the result."
    auth, _ = pair
    x, y = xy
    for steps in (1, 2, 5):
        seen = []
        xs = fmd.protect(auth, x, y, 1, 8/255, 2/255, steps, 1.0, seed=0, callback=lambda i, xi, sl: seen.append((i, xi.clone())))
        assert [i for i, _ in seen] == list(range(1, steps + 1))
        assert torch.equal(seen[-1][1], xs)
    assert not torch.equal(fmd.protect(auth, x, y, 1, 8/255, 2/255, 1, 1.0, seed=0), fmd.uniform_noise(x, 8/255, seed=0))   # one step moves the start


def test_transfer_matrix_default_layer_from_the_images_and_steps_in_rows(pair, xy):
    "Models without `input_shape` get the paper's default layer for the images' shape; each row records its own steps."
    zoo = dict(zip('ab', pair))                                                          # _net: no input_shape attribute
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, steps=2, pgd_steps=3, baselines=('pgd', 'uniform'), progress=False)
    assert df.attrs['layers'] == {'a': fmd.default_layer(zoo['a'], (1, 8, 8)), 'b': fmd.default_layer(zoo['b'], (1, 8, 8))} == {'a': 1, 'b': 1}
    long = df.attrs['long']
    assert long.groupby('method').steps.unique().map(list).to_dict() == {'fmd': [2], 'pgd': [3], 'uniform': [2]}


def test_setting_trains_the_zoo_with_its_recipe(monkeypatch):
    "A dataset's ZOO_RECIPES entry sets the zoo's image size at every scale and its epochs / batch at cpu; `setting` hands both to the zoo."
    monkeypatch.setitem(fmd.ZOO_RECIPES, 'digits', dict(image_size=16, epochs=40, batch_size=32))
    assert fmd.zoo_scale('digits', 'smoke') == (core.get_scale('smoke'), 16)
    assert fmd.zoo_scale('digits', 'cpu') == (core.get_scale('cpu', epochs=40, batch_size=32), 16)
    got = []
    monkeypatch.setattr(models, 'pretrained_or_trained', lambda arch, name, scale, image_size, **k: got.append((core.get_scale(scale), image_size)) or _net(0))
    zoo, te = fmd.setting('digits', archs=('m1',), scale='cpu')
    assert got == [(core.get_scale('cpu', epochs=40, batch_size=32), 16)] and te.tensors[0].shape[-2:] == (16, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: on a CPU the device RNG is not involved')
def test_pgd_leaves_the_callers_cuda_rng_alone(xy):
    "pgd seeds its random start in a forked RNG: the caller's CUDA generator is the same afterwards."
    x, y = xy
    m = _net(0).cuda()
    before = torch.cuda.get_rng_state()
    fmd.pgd(m, x, y, 8/255, 2/255, 2, seed=0)
    assert torch.equal(torch.cuda.get_rng_state(), before)


# ---------------------------------------------------------------------------------------------- public functions no test called (covA)
def test_image_scores_reads_the_methods_correctness():
    import pandas as pd
    c = np.zeros((2, 2, 3), bool); c[0, 0] = [1, 1, 0]; c[1, 1] = [1, 0, 0]; c[0, 1] = [1, 0, 0]
    df = pd.DataFrame({'a': [1]}); df.attrs['correct'] = {'fmd': c, 'shuffle': np.ones((2, 2, 3), bool)}
    s = fmd.image_scores(df)                                          # default: FMD's own scores
    assert s.protected.tolist() == [100., 50., 0.] and s.unauthorized.tolist() == [50., 0., 0.]
    assert fmd.image_scores(df, 'shuffle').protected.tolist() == [100.] * 3
    with pytest.raises(ValueError, match=r"^method: expected one of \['fmd', 'shuffle'\], got 'noise'"): fmd.image_scores(df, 'noise')
    with pytest.raises(ValueError, match=r"^method: expected one of \[\], got 'fmd'"): fmd.image_scores(pd.DataFrame({'a': [1]}))


class _Lookup(nn.Module):
    "A classifier that answers `pred[i]` for image i (image i holds i / 100 everywhere)."
    def __init__(self, pred): super().__init__(); self.pred, self.w = torch.tensor(pred), nn.Parameter(torch.zeros(()))
    def forward(self, x): return nn.functional.one_hot(self.pred[(x[:, 0, 0, 0] * 100).round().long()], 10).float() + 0 * self.w


def _pool(n=10):
    x = (torch.arange(n) / 100.).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()
    y = torch.arange(n) % 10
    wrong = lambda bad: [(v + 1) % 10 if i in bad else v for i, v in enumerate(y.tolist())]
    return x, y, {'a': _Lookup(wrong({1, 4})), 'b': _Lookup(wrong({4, 7}))}   # 1, 4, 7 wrong for some model: 7 of 10 correct


def _ids(x): return (x[:, 0, 0, 0] * 100).round().long().tolist()


def test_eval_set_takes_disjoint_sorted_images_all_models_get_right():
    x, y, zoo = _pool()
    xe, ye, xs, ys, note = fmd.eval_set(zoo, x, y, 4, n_select=3)
    e, s = _ids(xe), _ids(xs)
    assert len(e) == 4 and len(s) == 3 and not set(e) & set(s) and set(e) | set(s) == {0, 2, 3, 5, 6, 8, 9}
    assert e == sorted(e) and s == sorted(s) and torch.equal(ye, y[e]) and torch.equal(ys, y[s])
    assert note == '7 of 10 test images are classified correctly by all 2 models'
    xe0, _, xs0, _, _ = fmd.eval_set(zoo, x, y, 4)                    # defaults: no selection images, seed 0
    assert len(xs0) == 0 and torch.equal(xe0, fmd.eval_set(zoo, x, y, 4, seed=0)[0])
    picks = {tuple(_ids(fmd.eval_set(zoo, x, y, 3, seed=s)[0])) for s in range(6)}
    assert len(picks) > 1 and picks == {tuple(_ids(fmd.eval_set(zoo, x, y, 3, seed=s)[0])) for s in range(6)}   # seeded, reproducible


def test_eval_set_strict_needs_enough_correct_images():
    x, y, zoo = _pool()
    assert len(fmd.eval_set(zoo, x, y, 5, n_select=2)[0]) == 5        # exactly the 7 correct ones: enough
    with pytest.raises(ValueError, match=r'^n_eval: only 7 images are correct by all models, asked 5 \+ 3'): fmd.eval_set(zoo, x, y, 5, n_select=3)
    with pytest.raises(ValueError, match=r'^n_eval: only 7 images'): fmd.eval_set(zoo, x, y, 8)
    xe, _, xs, _, note = fmd.eval_set(zoo, x, y, 6, n_select=4, strict=False)   # fall back: every image once
    assert sorted(_ids(xe) + _ids(xs)) == list(range(10))
    assert note.startswith('7 of 10 test images') and '; too few for 6+4: falling back' in note


def test_dataset_name_maps_paper_datasets_to_image_folders(tmp_path):
    assert fmd.dataset_name('mnist5k') == 'mnist5k' and fmd.dataset_name('olivetti', tmp_path) == 'olivetti'
    for name in ('imagenet', 'celebahq', 'affectnet'):
        assert fmd.dataset_name(name, tmp_path) == f'imagefolder:{tmp_path.resolve() / name}'


def _constant(cls, d=64):
    "A model that predicts class `cls` for every 1 x 8 x 8 image."
    m = nn.Sequential(nn.Flatten(), nn.Linear(d, 10))
    with torch.no_grad(): m[1].weight.zero_(); m[1].bias.zero_(); m[1].bias[cls] = 1.
    return m.eval()


def test_show_reports_a_right_model_as_100_percent(pair, xy, monkeypatch):
    monkeypatch.setattr(plt, 'show', lambda *a, **k: None)
    x, y = xy
    line = fmd.show(pair[0], _constant(3), x, torch.full_like(y, 3), eps=8/255, layer=0, steps=2, n=2)
    assert 'unauthorized 100% ' in line
    plt.close('all')


def test_summary_means_of_the_diagonal_and_the_rest():
    import pandas as pd
    df = pd.DataFrame([[90, 10, 20], [30, 80, 0], [5, 25, 70]])
    df.attrs['baselines'] = {'noise': pd.DataFrame([[60, 50], [40, 70]]), 'alone': pd.DataFrame([[99]])}
    s = fmd.summary(df)
    assert s.loc['fmd'].tolist() == [80., 15.] and s.loc['noise'].tolist() == [65., 45.]
    assert s.loc['alone', 'protected'] == 99 and np.isnan(s.loc['alone', 'unauthorized'])


def test_train_pool_of_one_image():
    p = fmd.train_pool('digits', 1, 8, seed=0)
    assert len(p.tensors[1]) == 1 and p.tensors[0].shape[1:] == (1, 8, 8)


def test_finetune_checks_labels_against_the_models_classes(xy):
    x, y = xy
    m = _net(0)
    m.num_classes = 10
    with pytest.raises(ValueError, match='^y'): fmd.finetune(m, x, torch.full_like(y, 10), epochs=1)
    m.num_classes = 4
    with pytest.raises(ValueError, match='^y'): fmd.finetune(m, x, torch.full_like(y, 5), epochs=1)


def test_finetune_prints_no_progress(xy, capsys):
    x, y = xy
    fmd.finetune(_net(0), x, y, epochs=1)
    out = capsys.readouterr()
    assert out.out == '' and out.err == ''


# ---------------------------------------------------------------------------------------------- sample survivors (fmd review)
def test_check_error_reports_the_images_shape(xy):
    "A model with `input_shape` refuses images of another shape, and the error names the images' own (C, H, W)."
    _, y = xy
    m = _net(3)
    m.input_shape = (1, 8, 8)
    with pytest.raises(ValueError, match=r'^x: expected images of shape \(1, 8, 8\) for this model, got \(1, 10, 10\)$'):
        fmd.protect(m, torch.rand(2, 1, 10, 10), y[:2], 0, steps=1)
    with pytest.raises(ValueError, match=r'got \(3, 8, 8\)$'): fmd.perturb('none', m, torch.rand(2, 3, 8, 8), y[:2], layer=0)


def test_setting_paper_scale_keeps_a_seeded_pool_of_test_images(tmp_path, monkeypatch):
    "At paper scale a paper dataset's test split is streamed and `setting` keeps a seeded subset of `PAPER_TEST_POOL` images."
    test = tmp_path/'celebahq'/'test'
    for v in range(10, 60, 10):                                                          # 5 test images, one grey level each
        (test/'ab'[v % 20 // 10]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((6, 6, 3), v, np.uint8)).save(test/'ab'[v % 20 // 10]/f'{v}.png')
    monkeypatch.setattr(fmd, 'PAPER_TEST_POOL', 3)                                       # a pool smaller than the split
    _, te = fmd.setting('celebahq', archs=(), scale='paper', data_root=tmp_path, seed=0)
    x, y = te.tensors
    assert x.shape == (3, 3, 224, 224) and len(y) == 3                                  # the pool, at the paper's size
    vals = (x[:, 0, 0, 0] * 255).round().int().tolist()
    assert len(set(vals)) == 3 and set(vals) <= set(range(10, 60, 10))                  # distinct test images
    assert torch.equal(fmd.setting('celebahq', archs=(), scale='paper', data_root=tmp_path, seed=0)[1].tensors[0], x)


def test_perturb_feature_only_is_fmd_with_lambda_zero(pair, xy):
    "The feature_only baseline is FMD with lambda = 0 (the MSE term alone), whatever `lam` is passed, from the same seeded start."
    auth, _ = pair
    x, y = xy
    xs = fmd.perturb('feature_only', auth, x, y, layer=0, eps=8/255, alpha=2/255, steps=2, lam=3.0, seed=0)
    assert torch.equal(xs, fmd.protect(auth, x, y, 0, 8/255, 2/255, 2, 0.0, seed=0))
    assert torch.equal(xs, fmd.perturb('fmd', auth, x, y, layer=0, eps=8/255, alpha=2/255, steps=2, lam=0.0, seed=0))
    assert (xs - x).abs().max() <= 8/255 + 1e-6 and xs.min() >= 0 and xs.max() <= 1


class _Count(nn.Module):
    "A classifier that counts the images it classifies without gradients."
    def __init__(self, net): super().__init__(); self.net, self.seen = net, 0
    def forward(self, x):
        if not x.requires_grad: self.seen += len(x)
        return self.net(x)

def test_preprocessed_scores_classifies_model_free_images_once(xy):
    "nbs/10_fmd: model-free methods' images are the same in every row, so each model classifies them once per preprocessing."
    x, y = xy
    zoo = {'a': _Count(_net(0)), 'b': _Count(_net(1)), 'c': _Count(_net(2))}
    df = fmd.transfer_matrix(zoo, x, y, layers=0, steps=1, baselines=('uniform', 'none'), progress=False, keep_images=True)
    for m in zoo.values(): m.seen = 0
    out = fmd.preprocessed_scores(df, zoo, y, kinds=('none', 'bits4'), methods=['uniform', 'none'])
    assert all(m.seen == 2 * 2 * len(x) for m in zoo.values())                          # 2 methods x 2 kinds, once each
    for k in ('none', 'bits4'):
        for meth in ('uniform', 'none'):
            c = out[(meth, k)]
            assert all(np.array_equal(c[i], c[0]) for i in range(3))                     # the same images in every row
    assert np.array_equal(out[('uniform', 'none')], df.attrs['correct']['uniform'])


def test_transfer_matrix_long_table_records_each_runs_settings(pair, xy):
    "Each measurement row records eps, alpha and lambda; lambda is the CE weight for FMD and 0 for the baselines (no CE term)."
    zoo = dict(zip('ab', pair))
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, layers=0, eps=8/255, alpha=2/255, steps=1, lam=0.5,
                             baselines=('uniform', 'feature_only'), progress=False)
    long = df.attrs['long']
    assert (long.eps == 8/255).all() and (long.alpha == 2/255).all()
    assert long.groupby('method').lam.unique().map(list).to_dict() == {'fmd': [0.5], 'feature_only': [0.0], 'uniform': [0.0]}


def test_transfer_matrix_correctness_is_a_boolean_mask(pair, xy):
    "attrs['correct'][method] is a bool A x U x n array (as `scores` documents), usable as a mask, matching the accuracies."
    zoo = dict(zip('ab', pair))
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, layers=0, steps=1, baselines=('none',), progress=False)
    for meth, c in df.attrs['correct'].items():
        assert c.dtype == bool and c.shape == (2, 2, len(x))
        mat = df if meth == 'fmd' else df.attrs['baselines'][meth]
        assert [100 * len(y[c[i, j]]) / len(y) for i in range(2) for j in range(2)] == pytest.approx(mat.to_numpy().flatten().tolist())


# ---------------------------------------------------------------------------------------------- sample 78's survivors (fmd review)
def test_best_layer_tries_the_given_layers_and_needs_models_and_layers(pair, xy):
    "`layers` restricts the Sec. 8.1 search to those candidates; no other model or no candidate is an error naming the argument."
    auth, other = pair
    x, _ = xy
    y = models.predict(auth, x).argmax(1)
    kw = dict(eps=8/255, alpha=4/255, steps=1, seed=0)
    best, df = fmd.best_layer(auth, [other], x, y, layers=[2, 0], **kw)
    assert df.index.tolist() == [2, 0] and best in (0, 2)                              # only the candidates, in the given order
    for L in (0, 2):
        xs = fmd.protect(auth, x, y, L, **kw)
        assert df.loc[L].tolist() == pytest.approx([_acc(auth, xs, y), _acc(other, xs, y)])
    with pytest.raises(ValueError, match='^others: expected at least one model$'): fmd.best_layer(auth, {}, x, y, **kw)
    with pytest.raises(ValueError, match='^layers: expected at least one candidate layer$'): fmd.best_layer(auth, [other], x, y, layers=[], **kw)


def test_feature_layer_type_error_names_the_type_given(pair):
    "A layer that is neither an int index nor a module name is refused with a TypeError naming the type received."
    auth, _ = pair
    for bad, kind in ((1.0, 'float'), (True, 'bool'), (None, 'NoneType'), ([0], 'list')):
        with pytest.raises(TypeError, match=rf'^layer: expected an int index into models\.conv_layers\(model\) or a module name, got {kind}$'):
            fmd.feature_layer(auth, bad, (1, 8, 8))


def test_protect_refuses_an_empty_batch_naming_it(pair, xy):
    "batch_size must be an int >= 1; 0 (or less) is refused with an error that names `batch_size`."
    auth, _ = pair
    x, y = xy
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf'^batch_size: expected an int >= 1, got {bad}$'): fmd.protect(auth, x, y, 0, steps=1, batch_size=bad)
    assert torch.equal(fmd.protect(auth, x, y, 0, steps=1, seed=0, batch_size=1), fmd.protect(auth, x, y, 0, steps=1, seed=0))  # 1 is fine


def test_perturb_fmd_defaults_to_the_papers_lambda(pair, xy):
    "perturb('fmd') is `protect` with the same defaults: lambda = 1, the paper's weight of the CE term (nbs/11_fmd_transfer)."
    auth, _ = pair
    x, y = xy
    xs = fmd.perturb('fmd', auth, x, y, layer=0, eps=8/255, alpha=2/255, steps=2, seed=0)
    assert torch.equal(xs, fmd.protect(auth, x, y, 0, 8/255, 2/255, 2, 1.0, seed=0))
    assert not torch.equal(xs, fmd.protect(auth, x, y, 0, 8/255, 2/255, 2, 2.0, seed=0))   # lambda matters on these images


def test_load_zoo_builds_the_models_on_the_requested_device(monkeypatch):
    "Trained (or cached) zoo models come on `device`, as ImageNet's do."
    got = []
    def fake(arch, name, device=None, **k):
        got.append(device)
        return _net(0).to(core.get_device(device))                                    # as pretrained_or_trained: trained on `device`
    monkeypatch.setattr(models, 'pretrained_or_trained', fake)
    zoo = fmd.load_zoo('digits', archs=('m1', 'm2'), device='meta')
    assert got == ['meta', 'meta'] and all(p.device.type == 'meta' for m in zoo.values() for p in m.parameters())


def _olivetti_root(root, n_ids=2, photos=10):
    "A fake Olivetti under `root`: identity c's photo k is a constant image of grey level (10 c + k + 1) / 255."
    f = root/'olivetti'
    f.mkdir(parents=True)
    y = np.repeat(np.arange(n_ids), photos).astype(np.int64)
    v = np.array([10 * c + k + 1 for c in range(n_ids) for k in range(photos)], np.float32) / 255
    np.save(f/'olivetti_faces.npy', np.broadcast_to(v[:, None, None], (len(v), 64, 64)).copy())
    np.save(f/'olivetti_faces_target.npy', y)


def test_train_pool_and_setting_read_the_data_root(tmp_path, monkeypatch):
    "`data_root` wins over $PRIVBOOK_DATA (data.data_root): train_pool and setting (cpu scale) read the dataset there."
    _olivetti_root(tmp_path/'root')
    monkeypatch.setenv('PRIVBOOK_DATA', str(tmp_path/'empty'))                          # nothing there: only data_root holds the data
    x, y = fmd.train_pool('olivetti', 5, 8, seed=0, data_root=tmp_path/'root').tensors
    vals = (x[:, 0, 0, 0] * 255).round().int().tolist()
    assert x.shape == (5, 1, 8, 8) and len(set(vals)) == 5
    assert all((v - 1) % 10 < 7 and (v - 1) // 10 == c for v, c in zip(vals, y.tolist()))   # training photos 0-6, with their identity
    zoo, te = fmd.setting('olivetti', archs=(), scale='cpu', data_root=tmp_path/'root')
    tv = (te.tensors[0][:, 0, 0, 0] * 255).round().int().tolist()
    assert zoo == {} and sorted(tv) == [10 * c + k + 1 for c in range(2) for k in range(7, 10)]   # the test photos 7-9


def test_transfer_matrix_pgd_steps_apply_to_pgd_only(pair, xy):
    "`pgd_steps` sets the PGD baseline's iterations; FMD and the other baselines run `steps` (same seeded images as alone)."
    zoo = dict(zip('ab', pair))
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, layers=0, eps=8/255, alpha=2/255, steps=1, pgd_steps=3, baselines=('pgd',),
                             seed=0, progress=False, keep_images=True)
    im = df.attrs['images']
    for a, m in zoo.items():
        assert torch.equal(im['fmd'][a], fmd.protect(m, x, y, 0, 8/255, 2/255, 1, 1.0, seed=0))
        assert torch.equal(im['pgd'][a], fmd.pgd(m, x, y, 8/255, 2/255, 3, seed=0))
        assert not torch.equal(im['pgd'][a], fmd.pgd(m, x, y, 8/255, 2/255, 1, seed=0))


def test_transfer_matrix_seed_fixes_every_methods_images(pair, xy):
    "With a seed (default 0) a run is reproducible: each method's images are those the method makes alone with that seed."
    zoo = dict(zip('ab', pair))
    x, y = xy
    df = fmd.transfer_matrix(zoo, x, y, layers=0, eps=8/255, alpha=2/255, steps=1, baselines=('uniform', 'feature_only'),
                             progress=False, keep_images=True)
    im = df.attrs['images']
    for a, m in zoo.items():
        assert torch.equal(im['uniform'][a], fmd.uniform_noise(x, 8/255, seed=0))
        assert torch.equal(im['fmd'][a], fmd.protect(m, x, y, 0, 8/255, 2/255, 1, 1.0, seed=0))
        assert torch.equal(im['feature_only'][a], fmd.protect(m, x, y, 0, 8/255, 2/255, 1, 0.0, seed=0))


def test_transfer_matrix_names_unknown_layer_keys(pair, xy):
    "A `layers` dict with names that are not models is refused with a ValueError listing them, sorted."
    zoo = dict(zip('ab', pair))
    x, y = xy
    with pytest.raises(ValueError, match=r"^layers: names \['c', 'z'\] are not in models$"):
        fmd.transfer_matrix(zoo, x, y, layers={'z': 0, 'a': 1, 'c': 0}, steps=1, progress=False)
