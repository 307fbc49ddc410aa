"Streaming ImageFolder (`data.load(..., stream=True)`), training from a streamed Dataset, and the paper path's pretrained fine-tuning."
import math, os
from pathlib import Path
import numpy as np, pytest, torch, torch.nn.functional as F, torchvision
from PIL import Image
from torch.utils.data import TensorDataset
from privbook import core, data, models, fmd, hyperobf as ho

torch.set_num_threads(1)

def write_tree(root:Path, classes=3, per_class=4, size=(40, 50), separable=False, seed=0):
    "A class-per-folder tree of PNGs, every other image grayscale (mode L); `separable`: class k is bright in channel k."
    rng = np.random.default_rng(seed)
    for c in range(classes):
        for i in range(per_class):
            a = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            if separable: a = (a // 4 + np.eye(3, dtype=np.uint8)[c % 3] * 180).astype(np.uint8)
            img = Image.fromarray(a)
            if i % 2 and not separable: img = img.convert('L')
            (root/f'c{c}').mkdir(parents=True, exist_ok=True)
            img.save(root/f'c{c}'/f'{i}.png')
    return root

@pytest.fixture
def tree(tmp_path): return write_tree(tmp_path/'tree')

def same_items(st, mem):
    x, y = mem.tensors
    assert len(st) == len(y) and st.classes == mem.classes and torch.equal(st.targets, y)
    for i in range(len(st)):
        xi, yi = st[i]
        assert xi.dtype == torch.float32 and torch.equal(xi, x[i]) and int(yi) == int(y[i])

@pytest.mark.parametrize('split', data.SPLITS)
@pytest.mark.parametrize('kw', [dict(), dict(image_size=16), dict(image_size=(12, 20)), dict(channels=1, image_size=16),
                                dict(channels=3, image_size=16), dict(image_size=16, size=5, seed=3)])
def test_stream_equals_memory(tree, split, kw):
    if kw.get('size') and split == 'test': kw = dict(kw, size=2)
    name = f'imagefolder:{tree}'
    same_items(data.load(name, split, stream=True, **kw), data.load(name, split, **kw))

def test_stream_with_split_folders(tmp_path):
    write_tree(tmp_path/'r'/'train', per_class=3)
    write_tree(tmp_path/'r'/'val', per_class=2, seed=1)
    name = f'imagefolder:{tmp_path/"r"}'
    for split in ('train', 'test'):
        st = data.load(name, split, image_size=8, stream=True)
        assert len(st) == (9 if split == 'train' else 6)
        same_items(st, data.load(name, split, image_size=8))

def test_subset_helper_is_seeded(tree):
    name = f'imagefolder:{tree}'
    st = data.load(name, 'all', image_size=16, stream=True)
    x1, y1 = st.tensors(5, seed=1)
    x2, _ = st.tensors(5, seed=1)
    x3, _ = st.tensors(5, seed=2)
    mem = data.load(name, 'all', image_size=16, size=5, seed=1)
    assert torch.equal(x1, x2) and not torch.equal(x1, x3)
    assert torch.equal(x1, mem.tensors[0]) and torch.equal(y1, mem.tensors[1])
    sub = st.subset(5, seed=1)
    assert isinstance(sub, TensorDataset) and sub.classes == st.classes and torch.equal(sub.tensors[0], x1)
    assert torch.equal(st.tensors()[0], data.load(name, 'all', image_size=16).tensors[0])
    with pytest.raises(ValueError, match='^n:'): st.tensors(100)

def test_stream_errors(tree):
    name = f'imagefolder:{tree}'
    with pytest.raises(ValueError, match='stream'): data.load('digits', stream=True)
    with pytest.raises(TypeError, match='stream'): data.load(name, stream='yes')
    (tree/'c0'/'9.png').write_bytes(b'not a png')
    st = data.load(name, 'all', image_size=8, stream=True)  # the file list only: nothing decoded yet
    bad = [i for i, p in enumerate(st.files) if p.name == '9.png'][0]
    with pytest.raises(data.DataFileError, match='9.png'): st[bad]
    st[bad + 1]

# ---------------------------------------------------------------- fit on a streamed Dataset

def old_fit(model, train, epochs, lr, batch_size, weight_decay=5e-4, seed=0):
    "`models.fit`'s TensorDataset loop before streaming was added (the reference)."
    x, y = train.tensors
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    g = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(len(x)/batch_size)
    warm = max(1, steps//5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: (i+1)/warm if i < warm else 0.5*(1+math.cos(math.pi*(i-warm)/max(1, steps-warm))))
    for ep in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()

def trained(ds, fitter=models.fit, **kw):
    core.seed_everything(0)
    m = models.build('resnet18', 3, in_channels=3, image_size=16)
    return fitter(m, ds, **kw)

def test_tensor_path_unchanged():
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.rand(22, 3, 16, 16, generator=g), torch.randint(0, 3, (22,), generator=g))
    new = trained(ds, epochs=2, lr=2e-3, batch_size=8, seed=5, progress=False)
    ref = trained(ds, old_fit, epochs=2, lr=2e-3, batch_size=8, seed=5)
    for (k, a), b in zip(new.state_dict().items(), ref.state_dict().values()): assert torch.equal(a, b), k

def test_fit_stream_equals_memory_and_learns(tmp_path):
    name = f'imagefolder:{write_tree(tmp_path/"sep", per_class=8, separable=True)}'
    st, mem = data.load(name, 'all', image_size=16, stream=True), data.load(name, 'all', image_size=16)
    kw = dict(epochs=3, batch_size=6, seed=1, progress=False)
    a, b = trained(st, **kw), trained(mem, **kw)
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()): assert torch.equal(p, q), k
    w = trained(st, num_workers=2, **kw)  # worker processes decode: the same batches, the same weights
    for (k, p), q in zip(a.state_dict().items(), w.state_dict().values()): assert torch.equal(p, q), k
    assert torch.equal(st.tensors(7, seed=2, num_workers=2)[0], st.tensors(7, seed=2)[0])
    core.seed_everything(0)
    before = models.accuracy(models.build('resnet18', 3, in_channels=3, image_size=16), st, batch_size=5)
    after = models.accuracy(a, st, batch_size=5)
    assert after == models.accuracy(a, mem) and after > max(before, 0.6)
    assert torch.equal(models.predict(a, st, batch_size=7), models.predict(a, mem.tensors[0], batch_size=7))
    with pytest.raises(ValueError, match='y:'): models.accuracy(a, st, mem.tensors[1])

# ---------------------------------------------------------------- the paper path: pretrained weights, streamed training

@pytest.fixture
def paper_dry(tmp_path, monkeypatch):
    "A paper dry run: random ResNet-18 'torchvision weights' in a temporary hub cache, a temporary privbook cache; returns the weights."
    hub = tmp_path/'hub'
    (hub/'checkpoints').mkdir(parents=True)
    torch.manual_seed(123)
    sd = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(sd, hub/'checkpoints'/os.path.basename(torchvision.models.ResNet18_Weights.DEFAULT.url))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    monkeypatch.setenv('PRIVBOOK_PAPER_DRY', '1')
    monkeypatch.setenv('PRIVBOOK_CACHE', str(tmp_path/'cache'))
    yield sd
    torch.hub.set_dir(old)

@pytest.fixture
def built(monkeypatch):
    "Every model `models.build` makes, with its first convolution's weights at build time."
    out, build = [], models.build
    def spy(*a, **kw):
        m = build(*a, **kw)
        out.append((kw.get('pretrained', False), m.net.conv1.weight.detach().clone()))
        return m
    monkeypatch.setattr(models, 'build', spy)
    return out

def test_fmd_paper_zoo_finetunes_pretrained_on_a_stream(tmp_path, paper_dry, built, monkeypatch):
    root = tmp_path/'data'
    write_tree(root/'celebahq'/'train', per_class=4, separable=True)
    write_tree(root/'celebahq'/'test', per_class=2, separable=True, seed=1)
    seen, fit = [], models.fit
    monkeypatch.setattr(models, 'fit', lambda m, train, **kw: seen.append(train) or fit(m, train, **kw))
    S = core.get_scale('paper', n_train=9, n_test=4)   # smoke's 256 / 128 images are more than the tiny tree holds
    assert S.dry and S.name == 'paper' and S.epochs == 1
    zoo, te = fmd.setting('celebahq', ('resnet18',), scale=S, data_root=root, device='cpu')
    m = zoo['resnet18']
    assert built and all(p is True for p, _ in built) and all(torch.equal(w, paper_dry['conv1.weight']) for _, w in built)
    assert len(seen) == 1 and isinstance(seen[0], data.ImageFolderStream) and len(seen[0]) == 9
    assert m.num_classes == 3 and m.net.fc.out_features == 3 and m.info['pretrained'] == 'True' and m.info['n_train'] == 9
    w = m.net.conv1.weight.detach()
    assert not torch.equal(w, paper_dry['conv1.weight']) and torch.allclose(w, paper_dry['conv1.weight'], atol=0.05)  # fine-tuned
    assert isinstance(te, TensorDataset) and len(te.tensors[1]) == 6 and te.tensors[0].shape[-1] == 224
    assert list((tmp_path/'cache').glob('*-pt.pt'))
    n = len(built)
    fmd.load_zoo('celebahq', ('resnet18',), scale=S, data_root=root, device='cpu', image_size=224)  # from the cache: no training
    assert len(seen) == 1 and len(built) == n + 1

def test_smoke_zoo_is_not_pretrained(tmp_path, built, monkeypatch):
    monkeypatch.setenv('PRIVBOOK_CACHE', str(tmp_path/'cache'))
    fmd.load_zoo('digits', ('resnet18',), scale=core.get_scale('smoke', n_train=20, n_test=20), device='cpu')
    assert built and all(p is False for p, _ in built)
    assert not list((tmp_path/'cache').glob('*-pt.pt'))

def test_hyperobf_paper_recognizer_starts_pretrained(tmp_path, paper_dry, built):
    root = write_tree(tmp_path/'faces', classes=11, per_class=8, separable=True)
    faces = ho.faces_for_scale('paper', f'imagefolder:{root}', seed=0)
    assert faces.pretrained is True and faces.image_size == 64 and faces.num_classes == 6
    assert len(faces.train_x) == 6*5 and len(faces.test_x) == 6*3 and len(faces.public_x) == 4*8
    # the streamed split holds the images of the in-memory one
    x, y = data.load(f'imagefolder:{root}', 'all', image_size=64).tensors
    pub = torch.isin(y, y.unique()[torch.randperm(11, generator=torch.Generator().manual_seed(0))[:4]])
    assert torch.equal(faces.public_x, x[pub])
    ext = ho.pretrain_extractor(faces, seed=0, epochs=1)
    assert built[-1][0] is True and torch.equal(built[-1][1], paper_dry['conv1.weight'])
    w = ext.net.conv1.weight.detach()
    assert not torch.equal(w, paper_dry['conv1.weight']) and ext.num_classes == 4
    smoke = ho.load_faces('mnist5k', n_public=4, n_private=4, n_train=4, n_test=2)
    assert smoke.pretrained is False
    ho.pretrain_extractor(smoke, seed=0, epochs=1)
    assert built[-1][0] is False
