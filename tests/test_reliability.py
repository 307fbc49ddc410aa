"Regression tests for hostile data roots, corrupt data and model caches, and bad arguments to the data and models layers."
import gzip, os, pickle, struct, warnings
from pathlib import Path
import numpy as np, pytest, torch
from torch.utils.data import TensorDataset
from privbook import data, models, core

# ---------------------------------------------------------------- helpers

class Payload:
    "A pickle that creates the folder `target` when it is unpickled: proof that code ran."
    def __init__(self, target): self.target = str(target)
    def __reduce__(self): return (os.mkdir, (self.target,))

def payload_bytes(target)->bytes:
    return pickle.dumps(Payload(target))

def test_payload_really_runs(tmp_path):
    "The payload used below does execute when unpickled, so the tests that it did not run can fail."
    pickle.loads(payload_bytes(tmp_path/'ran'))
    assert (tmp_path/'ran').is_dir()

def write_idx(path:Path, arr:np.ndarray, magic:int|None=None, gz:bool=True):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = struct.pack('>I', 0x800 + arr.ndim if magic is None else magic) + struct.pack(f'>{arr.ndim}I', *arr.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(f'{path}.gz', 'wb') as f: f.write(head + arr.tobytes())
    else: path.write_bytes(head + arr.tobytes())

def mnist_root(root:Path, n:int=12, labels=None, folder='MNIST', **kw)->Path:
    "A tiny MNIST-layout test split under `root`."
    raw = root/folder/'raw'
    write_idx(raw/'t10k-images-idx3-ubyte', np.random.default_rng(0).integers(0, 256, (n, 28, 28)), **kw)
    write_idx(raw/'t10k-labels-idx1-ubyte', np.arange(n) % 10 if labels is None else np.asarray(labels))
    return raw

def cifar_batch(path:Path, n:int=6, labels=None, protocol:int=2):
    d = {'batch_label': 'testing batch 1 of 1', 'labels': list(np.arange(n) % 10) if labels is None else labels,
         'data': np.random.default_rng(0).integers(0, 256, (n, 3072), dtype=np.uint8), 'filenames': [f'{i}.png' for i in range(n)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(d, protocol=protocol))

def olivetti_root(root:Path, x=None, y=None)->Path:
    f = root/'olivetti'
    f.mkdir(parents=True, exist_ok=True)
    np.save(f/'olivetti_faces.npy', np.random.default_rng(0).random((400, 64, 64), dtype=np.float32) if x is None else x)
    np.save(f/'olivetti_faces_target.npy', np.repeat(np.arange(40), 10) if y is None else y)
    return f

def unavailable_reason(root, name)->str:
    av = data.available(root).set_index('name')
    assert not av.loc[name, 'available'], av.loc[name]
    return av.loc[name, 'reason']

# ---------------------------------------------------------------- 1. no code execution from a data root

@pytest.mark.parametrize('names', [['olivetti_py3.pkz'], ['olivetti.pkz'], ['olivetti.pkz', 'olivetti_py3.pkz']])
def test_olivetti_pickle_cache_is_never_loaded(tmp_path, names):
    for n in names: (tmp_path/n).write_bytes(payload_bytes(tmp_path/'pwned'))
    with pytest.raises(FileNotFoundError, match='does not load pickles') as e: data.load('olivetti', root=tmp_path)
    assert 'root' in str(e.value) and names[0] in str(e.value)
    assert 'not found' in unavailable_reason(tmp_path, 'olivetti')
    assert not (tmp_path/'pwned').exists()

def test_privbook_datasets_only_lists(tmp_path, capsys):
    "`privbook datasets --data-root DIR` over a root full of pickle payloads runs none of them."
    from privbook import cli
    for n in ('olivetti_py3.pkz', 'olivetti.pkz'): (tmp_path/n).write_bytes(payload_bytes(tmp_path/'pwned'))
    (tmp_path/'MNIST'/'processed').mkdir(parents=True)
    (tmp_path/'MNIST'/'processed'/'test.pt').write_bytes(payload_bytes(tmp_path/'pwned'))
    (tmp_path/'cifar-10-batches-py').mkdir()
    (tmp_path/'cifar-10-batches-py'/'test_batch').write_bytes(payload_bytes(tmp_path/'pwned'))
    np.save(tmp_path/'x.npy', np.array([Payload(tmp_path/'pwned')], dtype=object), allow_pickle=True)
    assert cli.main(['datasets', '--data-root', str(tmp_path)]) == 0
    assert not (tmp_path/'pwned').exists()
    assert 'olivetti' in capsys.readouterr().out

def test_pickled_npy_is_refused(tmp_path):
    f = olivetti_root(tmp_path)
    np.save(f/'olivetti_faces_target.npy', np.array([Payload(tmp_path/'pwned')]*400, dtype=object), allow_pickle=True)
    with pytest.raises(data.DataFileError, match='olivetti_faces_target.npy') as e: data.load('olivetti', root=tmp_path)
    assert str(e.value).startswith('root:')
    assert 'olivetti_faces_target.npy' in unavailable_reason(tmp_path, 'olivetti')
    (f/'olivetti_faces.npy').write_bytes(payload_bytes(tmp_path/'pwned'))  # a raw pickle named .npy
    with pytest.raises(data.DataFileError, match='olivetti_faces.npy'): data.load('olivetti', root=tmp_path)
    assert not (tmp_path/'pwned').exists()

def test_cifar_batch_payload_is_refused(tmp_path):
    folder = tmp_path/'cifar-10-batches-py'
    cifar_batch(folder/'test_batch')
    test = data.load('cifar10', 'test', root=tmp_path)  # a well-formed batch loads
    assert test.tensors[0].shape == (6, 3, 32, 32) and test.tensors[1].tolist() == list(range(6))
    (folder/'test_batch').write_bytes(payload_bytes(tmp_path/'pwned'))
    data._raw.cache_clear()
    with pytest.raises(data.DataFileError, match='test_batch') as e: data.load('cifar10', 'test', root=tmp_path)
    assert 'never runs code' in str(e.value)
    assert 'test_batch' in unavailable_reason(tmp_path, 'cifar10')
    assert not (tmp_path/'pwned').exists()

def test_cifar_object_array_is_refused(tmp_path):
    folder = tmp_path/'cifar-10-batches-py'
    folder.mkdir()
    d = {'data': np.array([1, 2], dtype=object), 'labels': [0, 1]}
    (folder/'test_batch').write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(data.DataFileError, match='object arrays'): data.load('cifar10', 'test', root=tmp_path)

def test_cifar_batches_of_any_protocol(tmp_path):
    cifar_batch(tmp_path/'cifar-10-batches-py'/'test_batch', protocol=5)
    assert len(data.load('cifar10', 'test', root=tmp_path)) == 6

def test_mnist_legacy_processed_file_is_not_read(tmp_path):
    mnist_root(tmp_path)
    (tmp_path/'MNIST'/'processed').mkdir()
    for n in ('test.pt', 'training.pt'): (tmp_path/'MNIST'/'processed'/n).write_bytes(payload_bytes(tmp_path/'pwned'))
    assert len(data.load('mnist', 'test', root=tmp_path)) == 12
    assert not (tmp_path/'pwned').exists()

# ---------------------------------------------------------------- 3. roots resolved once, absolute

def test_data_root_is_absolute_from_the_callers_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('PRIVBOOK_DATA', 'rel/root')
    assert data.data_root() == tmp_path.resolve()/'rel'/'root'
    assert data.data_root('other') == tmp_path.resolve()/'other'
    monkeypatch.delenv('PRIVBOOK_DATA')
    assert data.data_root() == tmp_path.resolve()/'data'
    with pytest.raises(FileNotFoundError) as e: data.load('mnist', root='nowhere')
    assert str(tmp_path.resolve()/'nowhere') in str(e.value)

def test_relative_root_loads_like_absolute(tmp_path, monkeypatch):
    mnist_root(tmp_path/'r')
    monkeypatch.chdir(tmp_path)
    a, b = data.load('mnist', 'test', root='r'), data.load('mnist', 'test', root=tmp_path/'r')
    assert torch.equal(a.tensors[0], b.tensors[0])

@pytest.mark.parametrize('root', [3, b'/x', ''])
def test_bad_root(root):
    with pytest.raises((TypeError, ValueError), match='root'): data.data_root(root)

# ---------------------------------------------------------------- 4. corrupt data: named, and never escaping available()

def test_truncated_gz(tmp_path):
    raw = mnist_root(tmp_path)
    f = raw/'t10k-images-idx3-ubyte.gz'
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(data.DataFileError, match='t10k-images-idx3-ubyte.gz') as e: data.load('mnist', 'test', root=tmp_path)
    assert 'truncated' in str(e.value) and str(e.value).startswith('root:')
    assert 't10k-images-idx3-ubyte.gz' in unavailable_reason(tmp_path, 'mnist')

def test_not_gzip(tmp_path):
    raw = mnist_root(tmp_path)
    (raw/'t10k-labels-idx1-ubyte.gz').write_bytes(b'not a gzip file at all')
    with pytest.raises(data.DataFileError, match='t10k-labels-idx1-ubyte.gz'): data.load('mnist', 'test', root=tmp_path)

@pytest.mark.parametrize('gz', [True, False])
def test_wrong_magic(tmp_path, gz):
    raw = tmp_path/'FashionMNIST'/'raw'
    write_idx(raw/'t10k-images-idx3-ubyte', np.zeros((4, 28, 28)), magic=2049, gz=gz)
    write_idx(raw/'t10k-labels-idx1-ubyte', np.zeros(4), gz=gz)
    with pytest.raises(data.DataFileError, match='magic number') as e: data.load('fashion_mnist', 'test', root=tmp_path)
    assert 't10k-images-idx3-ubyte' in str(e.value)

@pytest.mark.parametrize('shape', [(4, 32, 32), (4, 28, 14)])
def test_wrong_image_shape(tmp_path, shape):
    raw = tmp_path/'MNIST'/'raw'
    write_idx(raw/'t10k-images-idx3-ubyte', np.zeros(shape))
    write_idx(raw/'t10k-labels-idx1-ubyte', np.zeros(4))
    with pytest.raises(data.DataFileError, match='t10k-images-idx3-ubyte.gz.*expected 28x28'): data.load('mnist', 'test', root=tmp_path)

def test_header_announces_more_than_the_file_holds(tmp_path):
    raw = tmp_path/'MNIST'/'raw'
    raw.mkdir(parents=True)
    with gzip.open(raw/'t10k-images-idx3-ubyte.gz', 'wb') as f: f.write(struct.pack('>4I', 0x803, 10**6, 28, 28) + bytes(100))
    write_idx(raw/'t10k-labels-idx1-ubyte', np.zeros(4))
    with pytest.raises(data.DataFileError, match='header announces'): data.load('mnist', 'test', root=tmp_path)

def test_label_count_mismatch(tmp_path):
    mnist_root(tmp_path, n=12, labels=np.zeros(11))
    with pytest.raises(data.DataFileError, match='t10k-labels-idx1-ubyte.gz.*11 labels'): data.load('mnist', 'test', root=tmp_path)

def test_labels_out_of_range(tmp_path):
    mnist_root(tmp_path, labels=[200]*12)
    with pytest.raises(data.DataFileError, match=r't10k-labels-idx1-ubyte.gz.*labels in \[200, 200\], expected 0..9'): data.load('mnist', 'test', root=tmp_path)
    assert 'labels in [200, 200]' in unavailable_reason(tmp_path, 'mnist')

def test_cifar_corrupt_folder(tmp_path):
    folder = tmp_path/'cifar-10-batches-py'
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match='test_batch'): data.load('cifar10', 'test', root=tmp_path)
    (folder/'test_batch').write_bytes(os.urandom(500))
    with pytest.raises(data.DataFileError, match='test_batch'): data.load('cifar10', 'test', root=tmp_path)
    assert 'test_batch' in unavailable_reason(tmp_path, 'cifar10')
    cifar_batch(folder/'test_batch', labels=[0, 1, 2, 3, 4, 200])
    with pytest.raises(data.DataFileError, match=r'labels in \[0, 200\]'): data.load('cifar10', 'test', root=tmp_path)
    (folder/'test_batch').write_bytes(pickle.dumps({'data': np.zeros((3, 100), np.uint8), 'labels': [0, 1, 2]}, protocol=2))
    with pytest.raises(data.DataFileError, match='N x 3072'): data.load('cifar10', 'test', root=tmp_path)
    (folder/'test_batch').write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(data.DataFileError, match="'data' and 'labels'"): data.load('cifar10', 'test', root=tmp_path)

@pytest.mark.parametrize('x, y, what', [
    (np.zeros((400, 32, 32), np.float32), None, 'olivetti_faces.npy: shape'),
    (np.full((400, 64, 64), np.nan, np.float32), None, 'olivetti_faces.npy: values outside'),
    (np.full((400, 64, 64), 2., np.float32), None, 'olivetti_faces.npy: values outside'),
    (None, np.repeat(np.arange(40), 10) + 5, 'olivetti_faces_target.npy: labels in'),
    (None, np.zeros(399, np.int64), 'olivetti_faces_target.npy'),
    (None, np.zeros(400, np.float32), 'olivetti_faces_target.npy'),
])
def test_olivetti_bad_arrays(tmp_path, x, y, what):
    olivetti_root(tmp_path, x, y)
    with pytest.raises(data.DataFileError, match=what.replace('.', r'\.')): data.load('olivetti', root=tmp_path)
    assert 'olivetti' in unavailable_reason(tmp_path, 'olivetti')

def test_olivetti_good_arrays(tmp_path):
    olivetti_root(tmp_path)
    tr, te = data.load('olivetti', 'train', root=tmp_path), data.load('olivetti', 'test', root=tmp_path)
    assert tr.tensors[0].shape == (280, 1, 64, 64) and te.tensors[0].shape == (120, 1, 64, 64)

def test_available_never_raises(tmp_path):
    "Every kind of wreck at once: `available` still returns one row per dataset."
    raw = mnist_root(tmp_path)
    (raw/'t10k-images-idx3-ubyte.gz').write_bytes(b'\x1f\x8b' + os.urandom(50))
    mnist_root(tmp_path, folder='FashionMNIST', labels=[99]*12)
    (tmp_path/'cifar-10-batches-py').mkdir()
    (tmp_path/'cifar-10-batches-py'/'test_batch').write_bytes(b'')
    (tmp_path/'olivetti').mkdir()
    (tmp_path/'olivetti'/'olivetti_faces.npy').write_bytes(b'\x93NUMPY garbage')
    (tmp_path/'olivetti'/'olivetti_faces_target.npy').write_bytes(b'')
    av = data.available(tmp_path).set_index('name')
    assert set(av.index) == set(data.DATASETS)
    assert not av.loc[['mnist', 'fashion_mnist', 'cifar10', 'olivetti'], 'available'].any()
    for n, f in [('mnist', 't10k-images'), ('fashion_mnist', 't10k-labels'), ('cifar10', 'test_batch'), ('olivetti', 'olivetti_faces')]:
        assert f in av.loc[n, 'reason'], (n, av.loc[n, 'reason'])

def test_verify(tmp_path):
    raw = mnist_root(tmp_path)
    v = data.verify(tmp_path)
    assert list(v.columns) == ['dataset', 'file', 'status', 'expected', 'actual']
    got = v.set_index('file').status
    assert got[str(raw/'t10k-images-idx3-ubyte.gz')] == 'mismatch' and got[str(raw/'train-images-idx3-ubyte.gz')] == 'missing'
    assert set(v.status) == {'mismatch', 'missing'}
    assert set(data.verify(tmp_path, 'olivetti').dataset) == {'olivetti'}
    with pytest.raises(ValueError, match='names'): data.verify(tmp_path, ['imagenet'])

def test_verify_shared_data(shared_data):
    v = data.verify(shared_data, ['mnist', 'fashion_mnist', 'olivetti'])
    assert (v.status != 'mismatch').all(), v[v.status == 'mismatch']
    assert (v.status == 'ok').sum() >= 4

def test_checksums_file_matches_the_library():
    lines = (Path(__file__).resolve().parents[1]/'data'/'checksums.md5').read_text().split('\n')
    listed = {l.split()[1]: l.split()[0] for l in lines if l.strip() and not l.startswith('#')}
    assert listed == {f: m for d in data.CHECKSUMS.values() for f, m in d.items()}

# ---------------------------------------------------------------- 9. imagefolder stays inside its root

def write_png(path:Path, value:int=128):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 10, 3), value, np.uint8)).save(path)

def test_imagefolder_reads_a_tree(tmp_path):
    for c in 'ab':
        for i in range(5): write_png(tmp_path/'root'/c/f'{i}.png', 10*i)
    (tmp_path/'root'/'b'/'inner').symlink_to(tmp_path/'root'/'a')  # a link that stays inside is fine
    ds = data.load(f'imagefolder:{tmp_path/"root"}', 'all', image_size=8)
    assert ds.classes == ['a', 'b'] and ds.tensors[0].shape == (15, 3, 8, 8) and ds.tensors[1].tolist() == [0]*5 + [1]*10

@pytest.mark.parametrize('where', ['class', 'subfolder', 'file'])
def test_imagefolder_refuses_links_leaving_the_root(tmp_path, where):
    write_png(tmp_path/'root'/'a'/'0.png')
    write_png(tmp_path/'secret'/'0.png')
    link = {'class': tmp_path/'root'/'b', 'subfolder': tmp_path/'root'/'a'/'sub', 'file': tmp_path/'root'/'a'/'1.png'}[where]
    link.symlink_to(tmp_path/'secret'/'0.png' if where == 'file' else tmp_path/'secret')
    with pytest.raises(ValueError, match='outside the imagefolder root') as e: data.load(f'imagefolder:{tmp_path/"root"}', 'all', image_size=8)
    assert str(e.value).startswith('name:') and str(link) in str(e.value)

def test_imagefolder_link_cycle_terminates(tmp_path):
    write_png(tmp_path/'root'/'a'/'0.png')
    (tmp_path/'root'/'a'/'loop').symlink_to(tmp_path/'root'/'a')
    assert len(data.load(f'imagefolder:{tmp_path/"root"}', 'all', image_size=8)) == 1

def test_imagefolder_bad_trees(tmp_path):
    (tmp_path/'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='name: no class folders'): data.load(f'imagefolder:{tmp_path/"empty"}')
    (tmp_path/'noimg'/'a').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"name: no images.*\['a'\]"): data.load(f'imagefolder:{tmp_path/"noimg"}')
    write_png(tmp_path/'bad'/'a'/'0.png')
    (tmp_path/'bad'/'a'/'1.png').write_bytes(b'not a png')
    with pytest.raises(data.DataFileError, match='1.png'): data.load(f'imagefolder:{tmp_path/"bad"}', 'all')
    with pytest.raises(ValueError, match='name'): data.load('imagefolder:')

# ---------------------------------------------------------------- 5. corrupt model cache: warn, name the file, retrain

TINY = core.get_scale('smoke', n_train=20, n_test=20, batch_size=20)

def cached(**kw):
    return models.pretrained_or_trained('resnet18', 'digits', scale=TINY, device='cpu', progress=False, **kw)

@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    "A private model cache holding one good tiny checkpoint; yields (folder, its file, the checkpoint's bytes)."
    d = tmp_path_factory.mktemp('cache')
    mp = pytest.MonkeyPatch()
    mp.setenv('PRIVBOOK_CACHE', str(d))
    m = cached()
    f = next(d.glob('v*-resnet18-*.pt'))
    yield d, f, f.read_bytes(), m.info
    mp.undo()

def _state_of(arch):
    m = models.build(arch, 10, in_channels=1, image_size=28)
    return {'state_dict': m.state_dict(), 'info': {'arch': arch}}

def _save(obj, path):
    torch.save(obj, path)
    return path.read_bytes()

@pytest.mark.parametrize('kind', ['empty', 'truncated', 'no info', 'no state_dict', 'not a dict', 'other arch', 'pickle payload'])
def test_corrupt_model_cache_retrains(cache, kind, monkeypatch, tmp_path):
    d, f, good, info = cache
    monkeypatch.setenv('PRIVBOOK_CACHE', str(d))
    bad = {'empty': lambda: b'', 'truncated': lambda: good[:len(good)//3],
           'no info': lambda: _save({'state_dict': torch.load(d/f.name, weights_only=True)['state_dict']}, tmp_path/'x.pt'),
           'no state_dict': lambda: _save({'info': {}}, tmp_path/'x.pt'),
           'not a dict': lambda: _save([1, 2], tmp_path/'x.pt'),
           'other arch': lambda: _save(_state_of('vgg11'), tmp_path/'x.pt'),
           'pickle payload': lambda: payload_bytes(tmp_path/'pwned')}[kind]()
    f.write_bytes(bad)
    with pytest.warns(RuntimeWarning, match='model cache .*' + f.name.replace('.', r'\.') + '.*retraining') : m = cached()
    assert m.info['test_accuracy'] == info['test_accuracy'] and not (tmp_path/'pwned').exists()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the replaced file now loads silently
        assert cached().info == m.info

# ---------------------------------------------------------------- 9. models: clear errors for bad arguments

@pytest.fixture(scope='module')
def tiny():
    return models.build('resnet18', 10, in_channels=1, image_size=28)

X = torch.rand(4, 1, 28, 28)
Y = torch.tensor([0, 1, 2, 3])

@pytest.mark.parametrize('call, err, arg', [
    (lambda m: models.predict(m, X.double()), TypeError, 'x'),
    (lambda m: models.predict(m, X.half()), TypeError, 'x'),
    (lambda m: models.predict(m, X.expand(-1, 3, -1, -1)), ValueError, 'x'),
    (lambda m: models.predict(m, X, batch_size=0), ValueError, 'batch_size'),
    (lambda m: models.predict('resnet18', X), TypeError, 'model'),
    (lambda m: models.accuracy(m, X.double(), Y), TypeError, 'x'),
    (lambda m: models.fit(m, TensorDataset(X, Y), batch_size=0), ValueError, 'batch_size'),
    (lambda m: models.fit(m, TensorDataset(X, Y), batch_size=2.5), ValueError, 'batch_size'),
    (lambda m: models.fit(m, TensorDataset(X, Y), epochs=0), ValueError, 'epochs'),
    (lambda m: models.fit(m, TensorDataset(X, Y), epochs=-1), ValueError, 'epochs'),
    (lambda m: models.fit(m, TensorDataset(X, Y), lr=float('nan')), ValueError, 'lr'),
    (lambda m: models.fit(m, TensorDataset(X, Y), weight_decay=-1.), ValueError, 'weight_decay'),
    (lambda m: models.fit(m, TensorDataset(X, torch.tensor([0, 1, 2, 200]))), ValueError, 'train labels'),
    (lambda m: models.fit(m, TensorDataset(X.double(), Y)), TypeError, 'train'),
    (lambda m: models.fit(m, TensorDataset(X.expand(-1, 3, -1, -1), Y)), ValueError, 'train'),
    (lambda m: models.pretrained_or_trained('resnet18', 'digits', epochs=0), ValueError, 'epochs'),
    (lambda m: models.pretrained_or_trained('resnet18', 7), TypeError, 'dataset'),
    (lambda m: models.build('resnet18', 10, image_size=np.float64(28.)), ValueError, 'image_size'),
    (lambda m: models.build('resnet18', True), ValueError, 'num_classes'),
    (lambda m: models.build(['resnet18'], 10), ValueError, 'arch'),
])
def test_models_bad_arguments(tiny, call, err, arg):
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    with pytest.raises(err) as e: call(tiny)
    assert str(e.value).startswith(arg) or f'{arg}:' in str(e.value), str(e.value)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items()), 'a failed call changed the model'

def test_build_accepts_numpy_ints():
    m = models.build('resnet18', num_classes=np.int64(10), in_channels=np.int32(1), image_size=np.int64(28))
    assert m.num_classes == 10 and type(m.num_classes) is int and m.input_shape == (1, 28, 28)
    assert m(torch.rand(1, 1, 28, 28)).shape == (1, 10)

def test_predict_matches_model(tiny):
    out = models.predict(tiny, X, batch_size=3)
    with torch.no_grad(): ref = tiny.eval()(X)
    assert out.shape == (4, 10) and torch.allclose(out, ref, atol=1e-5)

# build(pretrained=PATH): every error names the file and what was expected, never the file's contents
def _pretrained_cases(tmp_path):
    import torchvision
    vgg = tmp_path/'vgg11.pth'; torch.save(torchvision.models.vgg11(weights=None).state_dict(), vgg)
    junk = tmp_path/'notes.pth'; junk.write_bytes(b'SECRET-TEXT not a checkpoint at all\n' * 10)
    lst = tmp_path/'list.pth'; torch.save([torch.zeros(2)], lst)
    (tmp_path/'adir').mkdir()
    return [(tmp_path/'missing.pth', FileNotFoundError), (tmp_path/'adir', FileNotFoundError),
            (junk, ValueError), (lst, ValueError), (vgg, ValueError)]

def test_build_pretrained_errors_name_the_file(tmp_path):
    for path, err in _pretrained_cases(tmp_path):
        with pytest.raises(err) as e: models.build('resnet18', 10, pretrained=path)
        msg = str(e.value)
        assert msg.startswith('pretrained:') and str(path) in msg, msg
        assert 'SECRET' not in msg and len(msg) < 400, msg
    with pytest.raises(ValueError, match='resnet18'): models.build('resnet18', 10, pretrained=tmp_path/'vgg11.pth')
