"models.FaceDescriptor: dlib's pretrained face recognizer (the 'faces' extra, part of dev: it never skips for want of dlib)."
import importlib.util, sys
import pytest, torch
from privbook import data, metrics, models

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def rec(): return models.FaceDescriptor(batch_size=3)

@pytest.fixture
def xs(): return torch.rand(7, 1, 40, 30, generator=torch.Generator().manual_seed(0))


def test_weights_found_without_importing_the_package():
    had = 'face_recognition_models' in sys.modules
    p = models.face_model_file()
    assert p.is_file() and p.name == 'dlib_face_recognition_resnet_model_v1.dat' and p.stat().st_size > 1e6
    assert had or 'face_recognition_models' not in sys.modules  # its __init__ (pkg_resources) was not run


def test_descriptors_shapes_determinism_batching(rec, xs):
    d = rec(xs)
    assert d.shape == (7, 128) and d.dtype == torch.float32 and torch.isfinite(d).all()
    assert torch.equal(rec(xs), d)                                           # deterministic
    torch.testing.assert_close(models.FaceDescriptor(batch_size=64)(xs), d)  # batches of 3 or of 7: the same descriptors
    torch.testing.assert_close(rec(xs[4:5]), d[4:5])
    torch.testing.assert_close(rec(xs.expand(-1, 3, -1, -1)), d)             # grey = RGB with equal channels
    big = torch.rand(2, 3, 300, 200, generator=torch.Generator().manual_seed(1))  # any size: resized to the 150 px chip
    assert rec(big).shape == (2, 128) and rec.chips(big).shape == (2, 150, 150, 3)
    assert not torch.allclose(d[0], d[1])                                    # different images, different descriptors


def test_identify_gallery_images_or_descriptors(rec, xs):
    y = torch.tensor([5, 1, 2, 2, 9, 0, 3])
    test = xs[[6, 0, 3]]
    assert torch.equal(rec.identify(xs, y, test), torch.tensor([3, 5, 2]))
    assert torch.equal(rec.identify(rec(xs), y, rec(test)), torch.tensor([3, 5, 2]))
    g = torch.eye(4).view(4, 1, 2, 2)
    assert torch.equal(models.pixel_identify(g, torch.arange(4), g.flip(0)), torch.tensor([3, 2, 1, 0]))
    assert torch.equal(models.eigenfaces_identify(g, torch.arange(4), g.flip(0), n_components=3), torch.tensor([3, 2, 1, 0]))


def test_bad_input_names_the_argument(rec, xs):
    y = torch.arange(7)
    with pytest.raises(ValueError, match=r'^x:.*\[0,1\]'): rec(xs + 1)
    with pytest.raises(TypeError, match='^x:'): rec((xs*255).to(torch.uint8))
    with pytest.raises(ValueError, match='^x:.*4 dims'): rec(xs[0])
    with pytest.raises(ValueError, match='^x:.*channels'): rec(torch.rand(2, 2, 8, 8))
    with pytest.raises(ValueError, match='^gallery_labels:'): rec.identify(xs, y[:5], xs)
    with pytest.raises(TypeError, match='^gallery_labels:'): rec.identify(xs, y.float(), xs)
    with pytest.raises(ValueError, match='^probes:'): rec.identify(xs, y, torch.rand(2, 64))
    with pytest.raises(ValueError, match='^gallery:'): rec.identify(xs + 2, y, xs)
    with pytest.raises(ValueError, match='^probes:'): models.pixel_identify(xs, y, torch.rand(2, 1, 40, 31))
    with pytest.raises(ValueError, match='^gallery:'): models.eigenfaces_identify(xs[:1], y[:1], xs)
    with pytest.raises(ValueError, match='^n_components:'): models.eigenfaces_identify(xs, y, xs, n_components=0)
    with pytest.raises(ValueError, match='^batch_size:'): models.FaceDescriptor(batch_size=0)
    with pytest.raises(ValueError, match='^per_person:'): models.gallery_split(torch.tensor([0, 0, 1, 1]), per_person=2)
    with pytest.raises(ValueError, match='^name:'): models.face_model_file('../settings.ini')
    with pytest.raises(FileNotFoundError, match='^name:'): models.face_model_file('no_such_model.dat')


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'dlib', None)
    with pytest.raises(ImportError, match=r"privbook\[faces\]"): models.FaceDescriptor()
    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'face_recognition_models' else find(name, *a))
    with pytest.raises(ImportError, match=r"privbook\[faces\]"): models.face_model_file()


def test_gallery_split():
    y = torch.arange(5).repeat_interleave(4)
    g, p = models.gallery_split(y, per_person=3, seed=1)
    assert torch.equal(torch.bincount(y[g]), torch.full((5,), 3)) and len(p) == 5
    assert torch.equal(torch.cat([g, p]).sort().values, torch.arange(20))
    assert torch.equal(models.gallery_split(y, 3, seed=1)[0], g) and not torch.equal(models.gallery_split(y, 3, seed=2)[0], g)


# --- competence gate: on Olivetti (40 identities, 3 gallery faces each, 280 probes) dlib must beat eigenfaces
# and pixel nearest-neighbour on the same split, paired per probe. About 40 CPU-seconds; skipped without Olivetti.

def test_dlib_beats_eigenfaces_and_pixel_nn_on_olivetti():
    try: x, y = data.load('olivetti', 'all').tensors
    except FileNotFoundError as e: pytest.skip(f'no Olivetti faces: {e}')
    ok = models.face_identification(x, y, per_person=3, seed=0)
    assert len(ok) == 280
    for b in ('eigenfaces', 'pixel'):
        d = metrics.bootstrap_diff(ok['dlib'].to_numpy(float), ok[b].to_numpy(float))
        assert d.lo > 0, f'dlib does not beat {b}: dlib {ok["dlib"].mean():.3f}, {b} {ok[b].mean():.3f}, paired difference {d}'
