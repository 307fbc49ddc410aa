"""Hostile run folders and data roots: `record` writes only under `data/results/<scale>/`; every dataset reader opens
only regular files inside its root (a FIFO, a device, a link out of the root or a decompression bomb is a clear error,
never a hang, a memory blow-up or a file's bytes in a message); and clear errors for odd images, indices and run files."""
import gzip, json, os, resource, struct, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from privbook import cli, core, data
from test_reliability import write_idx, mnist_root, olivetti_root, cifar_batch, write_png
from test_cli import tiny_nb

SECRET = b'SECRET-CONTENT-0123456789' * 40

def secret_file(tmp_path)->Path:
    "A file outside every root whose bytes must never show up in an error."
    f = tmp_path/'outside'/'secret'
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(SECRET)
    return f

def plain_mnist(root:Path, n:int=12, folder='MNIST')->Path:
    "A tiny MNIST-layout test split of extracted (not gzip'd) idx files."
    raw = root/folder/'raw'
    write_idx(raw/'t10k-images-idx3-ubyte', np.random.default_rng(0).integers(0, 256, (n, 28, 28)), gz=False)
    write_idx(raw/'t10k-labels-idx1-ubyte', np.arange(n) % 10, gz=False)
    return raw

def assert_no_secret(msg:str):
    for leak in (SECRET[:4].hex(), '0x' + SECRET[:4].hex(), SECRET[:8].decode(), repr(SECRET[:2])):
        assert leak not in msg, f'file content echoed: {msg}'

def _limit_memory(gb=6):
    lim = gb << 30  # importing torch maps about 3.3 GB of address space; an endless read fails beyond this instead of eating the machine
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

def in_child(code:str, timeout:float=30)->dict:
    "Run `code` (with `data`, `cli`, `Path` imported) in a fresh interpreter under a memory cap; a hang fails the test instead of hanging it."
    prog = textwrap.dedent('''
        import json, resource, time, sys
        from pathlib import Path
        from privbook import data, cli
        import torchvision.datasets, PIL.Image  # what loading imports lazily, so it does not count as the read's memory
        def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10  # MiB
        before, t0 = peak(), time.perf_counter()
        out = dict(ok=True)
        try:
        {body}
        except BaseException as e: out = dict(ok=False, type=type(e).__name__, msg=str(e))
        out.update(seconds=time.perf_counter() - t0, grew_mib=peak() - before)
        print('RESULT' + json.dumps(out))
    ''').format(body=textwrap.indent(textwrap.dedent(code).strip(), ' ' * 4))
    try: r = subprocess.run([sys.executable, '-c', prog], capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired: pytest.fail(f'hung for {timeout} s: {code.strip()}')
    line = next((l for l in r.stdout.splitlines() if l.startswith('RESULT')), None)
    assert line, r.stdout + r.stderr
    return json.loads(line[len('RESULT'):])

def refused(res:dict, *names:str):
    "The child raised a ValueError (or subclass) naming every one of `names`, and echoed no file content."
    assert not res['ok'], res
    assert res['type'] in ('ValueError', 'DataFileError'), res
    for n in names: assert n in res['msg'], res
    assert_no_secret(res['msg'])

# ---------------------------------------------------------------- record writes only under data/results/<scale>/

def checkout(tmp_path)->Path:
    co = tmp_path/'co'
    (co/'nbs').mkdir(parents=True)
    (co/'settings.ini').write_text('[DEFAULT]\n')
    return co

def run_folder(tmp_path, scale, name='run')->Path:
    "A finished-looking run folder whose result rows claim `scale`."
    d = tmp_path/name
    (d/'results').mkdir(parents=True)
    row = dict(experiment='x', metric='m', value=1, params={}, scale=scale, device='cpu', revision='abc123', run_id='r', timestamp='2026-01-01T00:00:00+00:00')
    (d/'results'/'x.jsonl').write_text(json.dumps(row) + '\n')
    (d/'x.ipynb').write_text('{}')
    return d

@pytest.mark.parametrize('scale', ['../../../escaped', '/ABS/escaped', 'cpu/../../../escaped', '', 'nonsense', '.'])
def test_record_refuses_a_scale_that_is_not_a_scale(tmp_path, scale):
    co = checkout(tmp_path)
    scale = scale.replace('/ABS', str(tmp_path))
    with pytest.raises(ValueError, match='scale') as e: cli.record(run_folder(tmp_path, scale), co)
    assert str(e.value).startswith('run_dir:')
    assert not (tmp_path/'escaped').exists() and not (co/'data').exists()

@pytest.mark.parametrize('scale', ['cpu', 'smoke', 'paper', 'paper-dry'])
def test_record_writes_under_data_results(tmp_path, scale):
    co = checkout(tmp_path)
    out = cli.record(run_folder(tmp_path, scale), co)
    assert sorted(p.relative_to(co).as_posix() for p in out) == [f'data/results/{scale}/notebooks/x.ipynb', f'data/results/{scale}/x.jsonl']

@pytest.mark.parametrize('what', ['results', 'notebook'])
def test_record_refuses_files_linking_out_of_the_run(tmp_path, what):
    "A results file or executed notebook that links out of the run folder is never read nor copied in (a link inside is fine)."
    co, s = checkout(tmp_path), secret_file(tmp_path)
    run = run_folder(tmp_path, 'cpu')
    (run/'results'/'y.jsonl').symlink_to(run/'results'/'x.jsonl')
    if what == 'results': (run/'results'/'z.jsonl').symlink_to(s)
    else:
        (run/'x.ipynb').unlink()
        (run/'x.ipynb').symlink_to(s)
    with pytest.raises(ValueError, match='outside the run folder') as e: cli.record(run, co)
    assert str(e.value).startswith('run_dir:')
    assert_no_secret(str(e.value))
    assert not (co/'data').exists()

def test_cli_record_with_a_crafted_scale_is_refused(tmp_path, monkeypatch):
    "`privbook run --record`: the run folder's rows decide nothing about where files land."
    co = checkout(tmp_path)
    tiny_nb(co/'nbs'/'tiny.ipynb', body="run.rec.log('k', k)\nimport json, pathlib\n"
            "f = pathlib.Path(out_dir)/'tiny.jsonl'\nrows = [dict(json.loads(l), scale='../../../escaped', revision='abc') for l in f.read_text().splitlines()]\n"
            "f.write_text(''.join(json.dumps(r) + '\\n' for r in rows))")
    monkeypatch.chdir(co)
    rc = cli.main(['run', str(co/'nbs'/'tiny.ipynb'), '--out', str(tmp_path/'runs'), '--record', '--no-progress'])
    assert rc == 2 and not (tmp_path/'escaped').exists()

# ---------------------------------------------------------------- no hang: FIFOs

def test_fifo_image_in_imagefolder(tmp_path):
    write_png(tmp_path/'root'/'a'/'0.png')
    write_png(tmp_path/'root'/'b'/'0.png')
    os.mkfifo(tmp_path/'root'/'a'/'x.png')
    root = tmp_path/'root'
    refused(in_child(f"data.load('imagefolder:{root}', 'all', image_size=8)"), 'x.png', 'regular file')
    refused(in_child(f"st = data.ImageFolderStream('{root}', 'all', image_size=8)\n[st[i] for i in range(len(st))]"), 'x.png', 'regular file')

def test_fifo_idx_file(tmp_path):
    raw = mnist_root(tmp_path)
    (raw/'t10k-images-idx3-ubyte.gz').unlink()
    os.mkfifo(raw/'t10k-images-idx3-ubyte.gz')
    refused(in_child(f"data.load('mnist', 'test', root='{tmp_path}')"), 't10k-images-idx3-ubyte.gz', 'regular file')
    res = in_child(f"v = data.verify('{tmp_path}')\nprint(dict(zip(v.file, v.status)))\nraise SystemExit(dict(zip(v.file, v.status))['{raw/'t10k-images-idx3-ubyte.gz'}'])")
    assert res['msg'] == 'refused', res

def test_fifo_does_not_hang_privbook_datasets_verify(tmp_path):
    raw = mnist_root(tmp_path)
    (raw/'t10k-images-idx3-ubyte.gz').unlink()
    os.mkfifo(raw/'t10k-images-idx3-ubyte.gz')
    res = in_child(f"raise SystemExit(cli.main(['datasets', '--data-root', '{tmp_path}', '--verify']))")
    assert res['type'] == 'SystemExit' and res['msg'] == '1', res

@pytest.mark.parametrize('name', ['olivetti/olivetti_faces.npy', 'cifar-10-batches-py/test_batch'])
def test_fifo_npy_and_cifar(tmp_path, name):
    olivetti_root(tmp_path)
    for p in data._CIFAR_PARTS['test']: cifar_batch(tmp_path/'cifar-10-batches-py'/p)
    (tmp_path/name).unlink()
    os.mkfifo(tmp_path/name)
    ds = 'olivetti' if 'olivetti' in name else 'cifar10'
    refused(in_child(f"data.load('{ds}', 'test', root='{tmp_path}')"), Path(name).name, 'regular file')

# ---------------------------------------------------------------- no memory blow-up: endless and inflating files

def test_idx_linked_to_dev_zero(tmp_path):
    raw = plain_mnist(tmp_path)
    (raw/'t10k-images-idx3-ubyte').unlink()
    (raw/'t10k-images-idx3-ubyte').symlink_to('/dev/zero')
    res = in_child(f"data.load('mnist', 'test', root='{tmp_path}')")
    refused(res, 't10k-images-idx3-ubyte')
    assert res['seconds'] < 10 and res['grew_mib'] < 100, res

def test_gzip_bomb_is_not_inflated(tmp_path):
    "A 300 MB run of zeros (a few hundred KB compressed) behind a header announcing 10 images: an error, at once, in little memory."
    raw = mnist_root(tmp_path)
    with gzip.open(raw/'t10k-images-idx3-ubyte.gz', 'wb', compresslevel=1) as f:
        f.write(struct.pack('>4I', 0x803, 10, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(300): f.write(zeros)
    assert (raw/'t10k-images-idx3-ubyte.gz').stat().st_size < 2 << 20
    res = in_child(f"data.load('mnist', 'test', root='{tmp_path}')")
    refused(res, 't10k-images-idx3-ubyte.gz', 'more')
    assert res['seconds'] < 10 and res['grew_mib'] < 100, res

def test_plain_idx_size_checked_before_reading(tmp_path):
    raw = plain_mnist(tmp_path)
    f = raw/'t10k-images-idx3-ubyte'
    f.write_bytes(f.read_bytes() + bytes(1000))
    with pytest.raises(data.DataFileError, match='t10k-images-idx3-ubyte.*header announces'): data.load('mnist', 'test', root=tmp_path)

def test_header_announcing_more_than_gzip_can_hold(tmp_path):
    "A header announcing 10^9 images in a tiny .gz is refused before any inflating."
    raw = mnist_root(tmp_path)
    with gzip.open(raw/'t10k-images-idx3-ubyte.gz', 'wb') as f: f.write(struct.pack('>4I', 0x803, 10**9, 28, 28) + bytes(100))
    with pytest.raises(data.DataFileError, match='t10k-images-idx3-ubyte.gz.*announces'): data.load('mnist', 'test', root=tmp_path)

def test_valid_roots_still_load(tmp_path):
    mnist_root(tmp_path, n=12)
    plain_mnist(tmp_path, n=7, folder='FashionMNIST')
    olivetti_root(tmp_path)
    for p in data._CIFAR_PARTS['test']: cifar_batch(tmp_path/'cifar-10-batches-py'/p)
    for n, k in [('mnist', 12), ('fashion_mnist', 7), ('olivetti', 120), ('cifar10', 6)]: assert len(data.load(n, 'test', root=tmp_path)) == k

# ---------------------------------------------------------------- links out of the root: refused, nothing echoed

@pytest.mark.parametrize('name', ['MNIST/raw/t10k-images-idx3-ubyte', 'MNIST/raw/t10k-images-idx3-ubyte.gz', 'MNIST/raw/t10k-labels-idx1-ubyte.gz'])
def test_idx_linked_out_of_the_root(tmp_path, name):
    root = tmp_path/'root'
    (mnist_root if name.endswith('.gz') else plain_mnist)(root)
    (root/name).unlink()
    (root/name).symlink_to(secret_file(tmp_path))
    with pytest.raises(ValueError, match='outside the data root') as e: data.load('mnist', 'test', root=root)
    assert str(e.value).startswith('root:') and Path(name).name in str(e.value)
    assert_no_secret(str(e.value))
    reason = data.available(root).set_index('name').loc['mnist', 'reason']
    assert 'outside the data root' in reason
    assert_no_secret(reason)

def test_idx_folder_linked_out_of_the_root(tmp_path):
    "A dataset folder that is a link to data elsewhere is out of the root too: one rule, the resolved path."
    mnist_root(tmp_path/'elsewhere')
    (tmp_path/'root').mkdir()
    (tmp_path/'root'/'MNIST').symlink_to(tmp_path/'elsewhere'/'MNIST')
    with pytest.raises(ValueError, match='outside the data root'): data.load('mnist', 'test', root=tmp_path/'root')

def test_link_inside_the_root_is_fine(tmp_path):
    raw = mnist_root(tmp_path)
    (raw/'t10k-images-idx3-ubyte.gz').rename(tmp_path/'images.gz')
    (raw/'t10k-images-idx3-ubyte.gz').symlink_to(tmp_path/'images.gz')
    assert len(data.load('mnist', 'test', root=tmp_path)) == 12

@pytest.mark.parametrize('name', ['olivetti/olivetti_faces.npy', 'olivetti/olivetti_faces_target.npy', 'cifar-10-batches-py/test_batch'])
def test_npy_and_cifar_linked_out_of_the_root(tmp_path, name):
    root = tmp_path/'root'
    olivetti_root(root)
    for p in data._CIFAR_PARTS['test']: cifar_batch(root/'cifar-10-batches-py'/p)
    good = tmp_path/'outside'/Path(name).name  # a valid file, so only the link can be the reason
    good.parent.mkdir(parents=True, exist_ok=True)
    (root/name).rename(good)
    (root/name).symlink_to(good)
    ds = 'olivetti' if 'olivetti' in name else 'cifar10'
    with pytest.raises(ValueError, match='outside the data root') as e: data.load(ds, 'test', root=root)
    assert Path(name).name in str(e.value)

def test_verify_does_not_hash_files_out_of_the_root(tmp_path):
    root = tmp_path/'root'
    raw = mnist_root(root)
    (raw/'t10k-images-idx3-ubyte.gz').unlink()
    (raw/'t10k-images-idx3-ubyte.gz').symlink_to(secret_file(tmp_path))
    v = data.verify(root).set_index('file')
    r = v.loc[str(raw/'t10k-images-idx3-ubyte.gz')]
    assert r.status == 'refused' and r.actual == ''
    assert v.loc[str(raw/'t10k-labels-idx1-ubyte.gz')].status == 'mismatch'

@pytest.mark.parametrize('plain', [True, False])
@pytest.mark.parametrize('content', [SECRET, b'\x1f\x8b' + SECRET, b'\x93NUMPY' + SECRET, b'\x80\x02' + SECRET])
def test_errors_never_echo_file_bytes(tmp_path, content, plain):
    "Garbage in place of each dataset file: the error names the file, and none of its bytes."
    raw = (plain_mnist if plain else mnist_root)(tmp_path)
    olivetti_root(tmp_path)
    for p in data._CIFAR_PARTS['test']: cifar_batch(tmp_path/'cifar-10-batches-py'/p)
    for f in [raw/'t10k-images-idx3-ubyte.gz', tmp_path/'olivetti'/'olivetti_faces.npy', tmp_path/'cifar-10-batches-py'/'test_batch']: f.write_bytes(content)
    if plain: (raw/'t10k-images-idx3-ubyte').write_bytes(content)  # the extracted files are read first
    for ds in ('mnist', 'olivetti', 'cifar10'):
        with pytest.raises(ValueError) as e: data.load(ds, 'test', root=tmp_path)
        assert_no_secret(str(e.value))

# ---------------------------------------------------------------- images: real bit depth, one label per image

def test_16bit_png_is_scaled_by_its_bit_depth(tmp_path):
    (tmp_path/'r'/'a').mkdir(parents=True)
    (tmp_path/'r'/'b').mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 32896, np.uint16)).save(tmp_path/'r'/'a'/'0.png')  # 32896 / 65535 = 0.502
    write_png(tmp_path/'r'/'b'/'0.png', 128)
    assert Image.open(tmp_path/'r'/'a'/'0.png').mode.startswith('I;16')
    name = f'imagefolder:{tmp_path/"r"}'
    x = data.load(name, 'all', image_size=8).tensors[0]
    assert torch.allclose(x, torch.full_like(x, 128/255)), x.unique()
    st = data.load(name, 'all', image_size=8, stream=True)
    assert torch.allclose(st[0][0], torch.full((3, 8, 8), 128/255))

@pytest.mark.parametrize('mode', ['F', 'I'])
def test_float_or_32bit_tiff_is_refused(tmp_path, mode):
    write_png(tmp_path/'r'/'b'/'0.png')
    (tmp_path/'r'/'a').mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 0.5, np.float32) if mode == 'F' else np.full((8, 8), 70000, np.int32)).save(tmp_path/'r'/'a'/'0.tif')
    assert Image.open(tmp_path/'r'/'a'/'0.tif').mode == mode
    with pytest.raises(data.DataFileError, match=rf"0.tif.*mode {mode}\b"): data.load(f'imagefolder:{tmp_path/"r"}', 'all', image_size=8)

@pytest.mark.parametrize('link', ['b', 'a/up'])
def test_class_folder_linking_back_into_the_root(tmp_path, link):
    "`b -> .` (or a sub-folder linking to the root) would put every image under two labels."
    write_png(tmp_path/'r'/'a'/'0.png')
    write_png(tmp_path/'r'/'c'/'0.png')
    (tmp_path/'r'/link).symlink_to(tmp_path/'r')
    with pytest.raises(ValueError, match='links back') as e: data.load(f'imagefolder:{tmp_path/"r"}', 'all', image_size=8)
    assert str(e.value).startswith('name:') and str(tmp_path/'r'/link) in str(e.value)

@pytest.mark.parametrize('idx', [[0.7], np.array([1.5]), [True], ['0'], [[0, 1.2]]])
def test_take_refuses_non_integer_indices(tmp_path, idx):
    for c in 'ab': write_png(tmp_path/'r'/c/'0.png')
    st = data.load(f'imagefolder:{tmp_path/"r"}', 'all', image_size=8, stream=True)
    with pytest.raises(TypeError, match='indices'): st.take(idx)
    assert st.take(np.array([1, 0], dtype=np.int32))[1].tolist() == [1, 0]

# ---------------------------------------------------------------- command line: clear errors naming the file

def test_truncated_notebook_is_named(tmp_path):
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    nb.write_text(nb.read_text()[:200])
    for f in (cli.parameters, cli.has_parameters):
        with pytest.raises(ValueError, match='tiny.ipynb') as e: f(nb)
        assert str(e.value).startswith('notebook:')
    assert cli.main(['run', str(nb), '--dry-run']) == 2

def test_none_default_parameters_are_checked(tmp_path):
    "A default of None means 'per scale', not 'any value': sizes, counts, budgets and strengths are never negative."
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    src = json.loads(nb.read_text())
    src['cells'][0]['source'] = ("scale = 'smoke'\ndevice = 'auto'\ndata_root = None\nseed = 0\nout_dir = None\n"
                                 "n_attack = None  # None -> per scale\neps_sweep = None\ndatasets = None\nk = 1\nshift = -1")
    nb.write_text(json.dumps(src))
    for k, v in [('n_attack', -2), ('n_attack', -0.5), ('eps_sweep', [4, -8]), ('k', -1)]:
        with pytest.raises(ValueError, match=f'-p {k}: expected'): cli.check_params(nb, {k: v})
    for k, v in [('n_attack', 5), ('n_attack', 0), ('n_attack', None), ('eps_sweep', [4, 8]), ('datasets', ['mnist5k']), ('k', 2), ('shift', -3)]:
        assert cli.check_params(nb, {k: v}) == {k: v}
    assert cli.main(['run', str(nb), '--dry-run', '-p', 'n_attack', '-2']) == 2

def test_partial_last_line_of_done_is_skipped(tmp_path):
    ok = lambda k: json.dumps(dict(key=k, ok=True)) + '\n'
    (tmp_path/'done.jsonl').write_text(ok('a') + ok('b') + '{"key": "c", "ok": tr')
    with pytest.warns(UserWarning, match='done.jsonl'): assert cli._done(tmp_path) == {'a', 'b'}
    assert (tmp_path/'done.jsonl').read_text() == ok('a') + ok('b'), 'the partial line is dropped so the next line starts on its own'
    (tmp_path/'done.jsonl').write_text(ok('a') + '{"key": \n' + ok('b'))
    with pytest.raises(ValueError, match='done.jsonl.*line 2'): cli._done(tmp_path)

def test_run_dir_that_is_a_file(tmp_path):
    nbs = tmp_path/'nbs'
    nbs.mkdir()
    tiny_nb(nbs/'41_tiny.ipynb')
    (tmp_path/'afile').write_text('x')
    with pytest.raises(ValueError, match='run_dir') as e: cli.reproduce('smoke', nbs=nbs, run_dir=tmp_path/'afile')
    assert str(tmp_path/'afile') in str(e.value)
    assert cli.main(['reproduce', '--nbs', str(nbs), '--run-dir', str(tmp_path/'afile')]) == 2

def test_cifar_labels_are_not_echoed(tmp_path):
    "Labels that are not numbers: the error says so without quoting them."
    cifar_batch(tmp_path/'cifar-10-batches-py'/'test_batch', labels=[SECRET.decode()] * 6)
    with pytest.raises(data.DataFileError, match="test_batch.*'labels' are not integers") as e: data.load('cifar10', 'test', root=tmp_path)
    assert_no_secret(str(e.value))


# ---------------------------------------------------------------- QMNIST: the same reader and the same rules

def qmnist_root(root:Path, n:int=12, gz:bool=False)->Path:
    "A tiny QMNIST test split: idx3 images and the idx2 int32 labels (class, then seven other fields)."
    raw = root/'QMNIST'/'raw'
    write_idx(raw/'qmnist-test-images-idx3-ubyte', np.random.default_rng(0).integers(0, 256, (n, 28, 28)), gz=gz)
    lab = np.zeros((n, 8), '>i4')
    lab[:, 0], lab[:, 5] = np.arange(n) % 10, 70000  # field 5 (a global index) is above 255: it must not be read as the class
    head = struct.pack('>3I', 0x0C02, n, 8)
    f = raw/('qmnist-test-labels-idx2-int' + ('.gz' if gz else ''))
    if gz:
        with gzip.open(f, 'wb') as g: g.write(head + lab.tobytes())
    else: f.write_bytes(head + lab.tobytes())
    return raw

@pytest.mark.parametrize('gz', [False, True])
def test_qmnist_loads_through_the_checked_reader(tmp_path, gz):
    qmnist_root(tmp_path, n=12, gz=gz)
    x, y = data.load('qmnist', 'test', root=tmp_path).tensors
    assert x.shape == (12, 1, 28, 28) and y.tolist() == [i % 10 for i in range(12)]

def test_qmnist_labels_of_the_wrong_type_are_refused(tmp_path):
    raw = qmnist_root(tmp_path)
    write_idx(raw/'qmnist-test-labels-idx2-int', np.zeros((12, 8)), gz=False)  # unsigned bytes where int32 is expected
    with pytest.raises(data.DataFileError, match='qmnist-test-labels-idx2-int.*0x00000c02.*int32'): data.load('qmnist', 'test', root=tmp_path)

def test_qmnist_fifo_and_links_out_are_refused(tmp_path):
    raw = qmnist_root(tmp_path/'a')
    (raw/'qmnist-test-images-idx3-ubyte').unlink()
    os.mkfifo(raw/'qmnist-test-images-idx3-ubyte')
    refused(in_child(f"data.load('qmnist', 'test', root='{tmp_path/'a'}')"), 'qmnist-test-images-idx3-ubyte', 'regular file')
    raw = qmnist_root(tmp_path/'b')
    (raw/'qmnist-test-labels-idx2-int').unlink()
    (raw/'qmnist-test-labels-idx2-int').symlink_to(secret_file(tmp_path))
    with pytest.raises(ValueError, match='outside the data root') as e: data.load('qmnist', 'test', root=tmp_path/'b')
    assert_no_secret(str(e.value))
    raw = qmnist_root(tmp_path/'c')
    (raw/'qmnist-test-images-idx3-ubyte').unlink()
    (raw/'qmnist-test-images-idx3-ubyte').symlink_to('/dev/zero')
    res = in_child(f"data.load('qmnist', 'test', root='{tmp_path/'c'}')")
    refused(res, 'qmnist-test-images-idx3-ubyte')
    assert res['seconds'] < 10 and res['grew_mib'] < 100, res

def test_midefense_paper_auxiliary_reads_qmnist_through_data_load(tmp_path, monkeypatch):
    "The model-inversion defence's paper-scale auxiliary set is QMNIST's test50k (the digits after MNIST's test set), read by `data.load`."
    from privbook import midefense
    import torchvision.datasets as tvd
    monkeypatch.setattr(tvd, 'QMNIST', None)  # torchvision's reader (it follows links and blocks on FIFOs) must not be used
    raw = tmp_path/'MNIST'/'raw'
    write_idx(raw/'train-images-idx3-ubyte', np.random.default_rng(1).integers(0, 256, (20, 28, 28)))
    write_idx(raw/'train-labels-idx1-ubyte', np.arange(20) % 10)
    mnist_root(tmp_path, n=12)
    qmnist_root(tmp_path, n=data.QMNIST_MNIST_TEST + 6)
    _, (xa, ya), _, _, note = midefense._digits('paper', tmp_path, 0, dict(n_private=None, n_aux=None, n_eval=None))
    assert xa.shape == (6, 1, 32, 32) and ya.tolist() == [(data.QMNIST_MNIST_TEST + i) % 10 for i in range(6)] and 'QMNIST' in note
