"""The wheel a user builds with `python -m build` and installs with `pip install dist/privbook-*.whl`: its
requirements match the code's imports, and it runs an experiment notebook from any folder in a fresh virtual
environment.

The fresh environment reuses the packages already installed in this one (a read-only overlay of symlinks, added
with a .pth line, without privbook itself; the Jupyter data files too), so the test costs seconds instead of re-installing torch; pip still
resolves every requirement of the wheel against it (`--no-index`: nothing is downloaded) and `pip check` must pass.
Set PRIVBOOK_WHEEL_TEST=full to install everything from scratch instead (minutes: torch is several GB).
"""
import ast, os, re, subprocess, sys, sysconfig, zipfile
from importlib.metadata import packages_distributions, distributions
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return next(out.glob('privbook-*.whl'))


def _requires(whl):
    meta = next(n for n in zipfile.ZipFile(whl).namelist() if n.endswith('.dist-info/METADATA'))
    lines = zipfile.ZipFile(whl).read(meta).decode().splitlines()
    reqs = [l.split(':', 1)[1].strip() for l in lines if l.startswith('Requires-Dist:')]
    runtime = [r for r in reqs if 'extra ==' not in r]
    return runtime, reqs


def _name(req): return re.split(r'[<>=!~;\[ ]', req, 1)[0].lower().replace('_', '-')


def _imports():
    "(module-level, function-level) third-party top-level imports of the package."
    top, lazy = set(), set()
    for f in (ROOT/'privbook').glob('*.py'):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for n in names:
                m = n.split('.')[0]
                if m in sys.stdlib_module_names or m == 'privbook' or m == '__future__': continue
                (lazy if node.col_offset else top).add(m)
    return top, lazy - top


def _dists(module):
    found = packages_distributions().get(module)
    if not found:  # a distribution whose top_level.txt does not name the module (dlib-bin declares only _dlib_pybind11): look at its files
        found = [d.metadata['Name'] for d in distributions() if any(f.parts and f.parts[0].split('.')[0] == module for f in d.files or [])]
    return {d.lower().replace('_', '-') for d in found or [module]}


def test_wheel_metadata_matches_the_imports(wheel):
    runtime, every = _requires(wheel)
    for r in runtime:
        if _name(r) in ('torch', 'torchvision'): assert '==' not in r, f'{r}: torch/torchvision must be a compatible range, not a pin'
    rt, anyreq = {_name(r) for r in runtime}, {_name(r) for r in every}
    top, lazy = _imports()
    for m in top: assert _dists(m) & rt, f'`import {m}` runs when privbook is imported, but no runtime requirement provides it'
    for m in lazy: assert _dists(m) & anyreq, f'`import {m}` (inside a function) is in no requirement or extra'
    for nb_only in ('papermill', 'nbconvert', 'ipykernel', 'ipywidgets', 'grad-cam', 'pycocotools', 'scikit-image', 'fastcore', 'nbdev'):
        assert nb_only not in rt, f'{nb_only} is a notebook or dev tool, not a runtime requirement'
    names = zipfile.ZipFile(wheel).namelist()
    assert 'privbook/notebooks/42_fakegrad_scaling.ipynb' in names, 'the experiment notebooks ship inside the package'
    recorded = sorted(p.relative_to(ROOT/'data'/'results').as_posix() for p in (ROOT/'data'/'results').glob('*/notebooks/*') if p.is_file())
    missing = [p for p in recorded if f'privbook/results/{p}' not in names]
    assert recorded and not missing, f'the recorded runs (executed notebooks and PENDING.txt) ship with their results; missing: {missing}'


def _fresh_env(path):
    subprocess.run([sys.executable, '-m', 'venv', str(path)], check=True, timeout=300)
    py = path/'bin'/'python'
    if os.environ.get('PRIVBOOK_WHEEL_TEST') == 'full': return py, []
    overlay = path.parent/'overlay'
    overlay.mkdir()
    here = Path(sysconfig.get_paths()['purelib'])
    for e in here.iterdir():
        if e.name.startswith(('privbook', '__editable__')) or e.suffix == '.pth': continue
        (overlay/e.name).symlink_to(e)
    site = Path(subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], capture_output=True, text=True, check=True).stdout.strip())
    (site/'_privbook_test_overlay.pth').write_text(f'{overlay}\n')
    subprocess.run([str(py), '-m', 'pip', 'uninstall', '-y', '-q', 'setuptools'], check=True, timeout=300)  # the overlay's newer one counts
    share = Path(sys.prefix)/'share'/'jupyter'  # data files (nbconvert templates) live beside site-packages
    if share.is_dir():
        (path/'share').mkdir(exist_ok=True)
        (path/'share'/'jupyter').symlink_to(share)
    return py, ['--no-index']


def test_wheel_runs_a_notebook_from_any_folder(wheel, tmp_path):
    py, flags = _fresh_env(tmp_path/'venv')
    r = subprocess.run([str(py), '-m', 'pip', 'install', '-q', *flags, f'{wheel}[notebooks]'], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), '-m', 'pip', 'check'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    work = tmp_path/'elsewhere'
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PRIVBOOK_RESULTS')}
    env.update(OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    where = subprocess.run([str(py), '-c', 'import privbook; print(privbook.__file__)'], capture_output=True, text=True, cwd=work, env=env)
    assert str(tmp_path/'venv') in where.stdout, f'the wheel, not the checkout, must be imported: {where.stdout}{where.stderr}'
    r = subprocess.run([str(tmp_path/'venv'/'bin'/'privbook'), 'run', '42_fakegrad_scaling', '--scale', 'smoke', '--no-progress'],
                       capture_output=True, text=True, cwd=work, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    run = next((work/'runs').iterdir())
    assert (run/'42_fakegrad_scaling.ipynb').exists() and any((run/'results').glob('*.jsonl'))


_OWN_DATA = r'''
import json, subprocess, sys, numpy as np, torch, torchvision
from pathlib import Path
from PIL import Image
from privbook import protect as P, hyperobf, midefense, fakegrad
torch.set_num_threads(1)
bin_ = Path(sys.executable).parent/'privbook'
photos = Path('photos'); photos.mkdir()
rng = np.random.default_rng(0)
for i in range(20):
    h, w = int(rng.integers(24, 72)), int(rng.integers(24, 72))
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(photos/f'p{i:02d}.jpg', quality=90)
(photos/'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
before = {f.name: f.read_bytes() for f in photos.iterdir()}
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), 'r18.pt')
P.Cloak(hyperobf.MaskNet(in_channels=1, image_size=16), steps=2, progress=False).save('masknet.pt')
def cli(*a):
    r = subprocess.run([str(bin_), 'protect', *a], capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, (a, r.stdout, r.stderr)            # 1: done, one file skipped and listed
    assert 'broken.jpg' in r.stderr and '%|' in r.stderr, r.stderr  # the corrupt file named, a progress bar shown
cli('fmd', '--model', 'resnet18', '--weights', 'r18.pt', '--in', 'photos', '--out', 'fmd', '--steps', '2', '--seed', '0')
cli('cloak', '--hypernet', 'masknet.pt', '--in', 'photos', '--out', 'cloak', '--seed', '0')
cli('disguise', '--key', 'k.json', '--in', 'photos', '--out', 'dis')
r = subprocess.run([str(bin_), 'protect', 'disguise', '--key', 'k.json', '--in', 'dis', '--out', 'back', '--reverse'], capture_output=True, text=True, timeout=900)
assert r.returncode == 0, r.stderr
ims, names, bad = P.read_images(photos)
assert len(ims) == 20 and [b for b in bad]
for out in ('fmd', 'cloak', 'dis', 'back'): assert len(P.read_images(Path(out))[0]) == 20 and (Path(out)/P.RECORD_NAME).is_file()
assert all(torch.equal(a, b) for a, b in zip(ims, P.read_images(Path('back'))[0])), 'the reverse is bit-exact'
assert {f.name: f.read_bytes() for f in photos.iterdir()} == before, 'inputs untouched'
net = torchvision.models.resnet18(num_classes=10).eval()
x = torch.rand(4, 3, 32, 32)
fg = P.FakeGradient(net, example=x[:1])
with torch.no_grad(): out, ref = fg(x), net(x)
assert torch.allclose(fg.decrypt(out), ref, rtol=1e-5, atol=1e-5) and torch.equal(fg.decrypt(out), out[:, fakegrad.real_indices(fg.key)])
probs = torch.softmax(torch.randn(64, 10) * 3, 1)
q = P.MIDefense(midefense.Classifier(10, 1, 32, ndf=4), midefense.Inversion(10, 1, 32, ngf=4), progress=False)(probs)
assert torch.equal(q.argmax(1), probs.argmax(1)), 'every label kept'
print('own data ok')
'''


def test_wheel_protects_a_folder_of_photos_from_an_empty_folder(wheel, tmp_path):
    "From the installed wheel, in an empty folder: `privbook protect` on 20 RGB JPEGs of mixed sizes and one corrupt file."
    py, flags = _fresh_env(tmp_path/'venv')
    r = subprocess.run([str(py), '-m', 'pip', 'install', '-q', *flags, str(wheel)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    work = tmp_path/'empty'
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PRIVBOOK_RESULTS')}
    env.update(OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    r = subprocess.run([str(py), '-c', _OWN_DATA], capture_output=True, text=True, cwd=work, env=env, timeout=1800)
    assert r.returncode == 0 and 'own data ok' in r.stdout, r.stdout[-2000:] + r.stderr[-4000:]
