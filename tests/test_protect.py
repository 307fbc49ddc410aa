"The user-facing protection layer (`privbook.protect`) and `privbook protect`: folders in, folders out, keys and artefacts saved safely."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch, torchvision
from PIL import Image
from privbook import protect as P, midefense, hyperobf, fakegrad
from privbook.cli import main

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SIZES = [(32, 32), (40, 48), (64, 36), (33, 50), (48, 64), (36, 36)]  # (H, W), some not multiples of the disguise block


@pytest.fixture
def photos(tmp_path):
    "Six RGB JPEGs of mixed sizes and one corrupt file."
    d = tmp_path/'photos'
    d.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(SIZES):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(d/f'p{i}.jpg', quality=90)
    (d/'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    return d


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    torch.manual_seed(0)
    f = tmp_path_factory.mktemp('weights')/'resnet18.pt'
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), f)
    return f


def _snapshot(d:Path)->dict: return {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in sorted(d.iterdir())}
def _record(d:Path)->dict: return json.loads((d/P.RECORD_NAME).read_text())


def test_cli_fmd_protects_a_folder(photos, weights, tmp_path, capsys):
    before, out = _snapshot(photos), tmp_path/'protected'
    args = ['protect', 'fmd', '--model', 'resnet18', '--weights', str(weights), '--in', str(photos), '--out', str(out),
            '--eps', '8/255', '--steps', '2', '--no-progress', '--seed', '0']
    assert main(args) == 1  # everything readable was protected; one file was skipped
    assert 'broken.jpg' in capsys.readouterr().err
    assert _snapshot(photos) == before, "the input folder is untouched"
    rec = _record(out)
    assert rec['method'] == 'fmd' and rec['model'] == 'resnet18' and rec['eps'] == pytest.approx(8/255) and rec['steps'] == 2
    assert [s['file'] for s in rec['skipped']] == ['broken.jpg']
    ims, names, _ = P.read_images(photos)
    outs, onames, bad = P.read_images(out)
    assert names == [f'p{i}.jpg' for i in range(6)] and onames == [f'p{i}.png' for i in range(6)] and not bad
    for a, b, r in zip(ims, outs, rec['images']):
        assert a.shape == b.shape and (r['height'], r['width']) == tuple(a.shape[-2:])
        linf = (a - b).abs().max().item()
        assert linf <= 8/255 + 1e-6 and r['linf'] == pytest.approx(linf, abs=1e-6) and 0 < r['ssim'] <= 1
    assert any(r['linf'] > 0 for r in rec['images'])
    written = _snapshot(out)
    assert main(args) == 2, "a second run into the same folder is refused"
    assert _snapshot(out) == written
    assert main([*args[:9], str(photos), *args[10:]]) == 2, "the input folder is refused as the output"
    assert _snapshot(photos) == before


def test_cli_disguise_and_reverse_bit_exact(photos, tmp_path, capsys):
    before, key = _snapshot(photos), tmp_path/'k.json'
    dis, back = tmp_path/'disguised', tmp_path/'restored'
    assert main(['protect', 'disguise', '--key', str(key), '--in', str(photos), '--out', str(dis), '--no-progress']) == 1
    assert 'broken.jpg' in capsys.readouterr().err
    assert key.is_file() and key.stat().st_mode & 0o777 == 0o600
    kb = key.read_bytes()
    rec = _record(dis)
    assert rec['method'] == 'disguise' and rec['key_fingerprint'] == P.Disguise.load(key).fingerprint
    ims, names, _ = P.read_images(photos)
    d_ims, _, _ = P.read_images(dis)
    assert all((a - b[:, :a.shape[1], :a.shape[2]]).abs().mean() > 0.1 for a, b in zip(ims, d_ims))
    assert main(['protect', 'disguise', '--key', str(key), '--in', str(dis), '--out', str(back), '--reverse', '--no-progress']) == 0
    r_ims, r_names, _ = P.read_images(back)
    assert r_names == [f'p{i}.png' for i in range(6)]
    for a, b in zip(ims, r_ims): assert torch.equal(a, b), "the reverse is bit-exact, at the original size"
    dis2 = tmp_path/'disguised2'
    assert main(['protect', 'disguise', '--key', str(key), '--in', str(photos), '--out', str(dis2), '--no-progress']) == 1
    assert key.read_bytes() == kb, "an existing key is reused, never overwritten"
    assert all((dis/f).read_bytes() == (dis2/f).read_bytes() for f in r_names)
    other = tmp_path/'other.json'
    P.Disguise(progress=False).save(other)
    assert main(['protect', 'disguise', '--key', str(other), '--in', str(dis), '--out', str(tmp_path/'bad'), '--reverse']) == 2
    assert 'another key' in capsys.readouterr().err and not (tmp_path/'bad').exists()
    assert _snapshot(photos) == before


def test_cli_cloak(photos, tmp_path, capsys):
    assert main(['protect', 'cloak', '--in', str(photos), '--out', str(tmp_path/'c')]) == 2
    err = capsys.readouterr().err
    assert 'HyperNet' in err and '.fit' in err and 'Cloak' in err and not (tmp_path/'c').exists()
    torch.manual_seed(0)
    P.Cloak(hyperobf.MaskNet(in_channels=1, image_size=16), steps=2, progress=False).save(tmp_path/'mine.pt')
    assert main(['protect', 'cloak', '--hypernet', str(tmp_path/'mine.pt'), '--in', str(photos), '--out', str(tmp_path/'c'), '--no-progress', '--seed', '0']) == 1
    ims, _, _ = P.read_images(photos)
    outs, _, _ = P.read_images(tmp_path/'c')
    assert all(a.shape == b.shape and (a - b).abs().max() <= 8/255 + 1e-6 for a, b in zip(ims, outs))


def test_python_m_privbook(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, '-m', 'privbook', 'protect', 'cloak', '--in', '.', '--out', 'x'], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 2 and 'HyperNet' in r.stderr


def test_fakegradient_decrypts_a_torchvision_model():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.rand(4, 3, 32, 32)
    fg = P.FakeGradient(net, example=x[:1])
    with torch.no_grad(): out, ref = fg(x), net(x)
    assert out.shape == (4, 20)
    dec = fg.decrypt(out)
    assert torch.equal(dec, out[:, fakegrad.real_indices(fg.key)])
    assert torch.allclose(dec, ref, rtol=1e-5, atol=1e-5) and torch.equal(dec.argmax(1), ref.argmax(1))
    other = P.FakeGradient(net, example=x[:1])
    with pytest.raises(ValueError, match='not the key'): fakegrad.decrypt(out, other.key, model=fg.protected)


def test_midefense_keeps_every_label():
    torch.manual_seed(0)
    clf = midefense.Classifier(num_classes=10, in_channels=1, image_size=16).eval()
    inv = midefense.Inversion(10, 1, 16)
    d = P.MIDefense(clf, inv, steps=3, eps=2.0, progress=False, seed=0)
    logits = torch.randn(64, 10) * 3
    logits[:8, 1] = logits[:8, 0] + 1e-6  # near-ties
    probs = torch.softmax(logits, 1)
    q = d(probs)
    assert torch.equal(q.argmax(1), probs.argmax(1)) and not torch.allclose(q, probs)
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad(): p0 = torch.softmax(clf(x), 1)
    assert torch.equal(d(x).argmax(1), p0.argmax(1))


IMG = torch.randint(0, 256, (1, 3, 8, 8), generator=torch.Generator().manual_seed(0)).float() / 255

def _fmd():
    return P.FMD(torchvision.models.resnet18(num_classes=3), steps=1, normalize=P.IMAGENET_NORMALIZE, progress=False)

def _cloak():
    hn = hyperobf.HyperNet(num_classes=3, in_channels=1, image_size=16)
    hn.epochs_trained += 1  # stands in for a trained HyperNet: only the files are checked here
    return P.Cloak(hn, steps=1, progress=False)

def _fakegrad(): return P.FakeGradient(torchvision.models.resnet18(num_classes=3), example=torch.rand(1, 3, 32, 32))

def _midefense(): return P.MIDefense(midefense.Classifier(3, 1, 16), midefense.Inversion(3, 1, 16), steps=4, eps=0.5, progress=False)

def _same_state(a:torch.nn.Module, b:torch.nn.Module)->bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

CASES = {
    'FMD': (_fmd, lambda p, f: P.FMD.load(f, p.model), lambda a, b: a.settings() == b.settings()),
    'Disguise': (lambda: P.Disguise(progress=False), lambda p, f: P.Disguise.load(f, progress=False),
                 lambda a, b: a.fingerprint == b.fingerprint and torch.equal(a(IMG), b(IMG))),
    'Cloak': (_cloak, lambda p, f: P.Cloak.load(f), lambda a, b: _same_state(a.masknet, b.masknet) and _same_state(a.hypernet, b.hypernet)),
    'FakeGradient': (_fakegrad, lambda p, f: P.FakeGradient.load(f, torchvision.models.resnet18(num_classes=3)),
                     lambda a, b: a.key == b.key and _same_state(a.protected, b.protected)),
    'MIDefense': (_midefense, lambda p, f: P.MIDefense.load(f, p.classifier, midefense.Inversion(3, 1, 16)),
                  lambda a, b: _same_state(a.inversion, b.inversion) and (b.steps, b.eps) == (4, 0.5)),
}

@pytest.mark.parametrize('name', list(CASES))
def test_save_load_round_trip_never_overwrites(name, tmp_path):
    make, load, same = CASES[name]
    torch.manual_seed(0)
    p, f = make(), tmp_path/f'{name}.saved'
    p.save(f)
    assert same(p, load(p, f))
    snap = {q: q.read_bytes() for q in ([f] if f.is_file() else sorted(f.iterdir()))}
    with pytest.raises(FileExistsError, match='overwrite=True'): p.save(f)
    assert {q: q.read_bytes() for q in snap} == snap, "a refused save leaves the file as it was"
    p.save(f, overwrite=True)
    assert same(p, load(p, f))
