"""The paper dry run's stand-ins load through the paper loaders, and its parameters name real notebook parameters.
(The dry run itself, `make paper-dry`, runs in CI after `make test`.)"""
import importlib.util, os
from pathlib import Path
import pytest, torch
from privbook import cli, core, data

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location('paper_dry', ROOT/'tools'/'paper_dry.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def standins(tmp_path_factory):
    tool, root = _tool(), tmp_path_factory.mktemp('dry')
    tool.image_folders(root)
    tool.digit_files(root)
    return tool, root


def test_params_are_notebook_parameters():
    tool = _tool()
    for name, params in tool.PARAMS.items():
        nb = cli.resolve_notebook(name, ROOT/'nbs')
        cli.check_params(nb, {k: v.replace('DATA', '/x') if isinstance(v, str) else v for k, v in params.items()})  # raises on a bad name or type


def test_imagefolders_have_the_dry_counts(standins):
    tool, root = standins
    small = core.DRY_SIZES
    for name in ('imagenet', 'celebahq', 'affectnet'):
        tr = data.load(f'imagefolder:{root/name}', 'train', stream=True)
        te = data.load(f'imagefolder:{root/name}', 'test', stream=True)
        assert len(tr) >= small['n_train'] and len(te) >= small['n_test'], name
        x, y = te.tensors(4)
        assert x.shape[1:] == (3, 224, 224) and y.max() < len(te.classes)
    assert len(data.load(f"imagefolder:{root/'celeba'}", 'all', stream=True)) > 0


def test_digit_files_load(standins):
    tool, root = standins
    for name in ('mnist', 'fashion_mnist'):
        x, y = data.load(name, 'train', root=root).tensors
        assert x.shape[1:] == (1, 28, 28) and len(x) > 1024 and set(y.tolist()) == set(range(10))
    x, y = data.load('qmnist', 'test', root=root).tensors
    assert len(x) > data.QMNIST_MNIST_TEST and x.shape[1:] == (1, 28, 28) and set(y.tolist()) == set(range(10))


def test_weight_file_names_match_the_loader(tmp_path, monkeypatch):
    "A random weight file written under torchvision's name is what `models.build(pretrained=True)` loads."
    import torchvision
    from privbook import models
    tool = _tool()
    monkeypatch.setattr(tool, 'DETECTORS', ())
    monkeypatch.setattr(models, 'ARCHS', ('resnet18',))
    tool.weight_files(tmp_path/'hub')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path/'hub'))
    m = models.build('resnet18', 1000, pretrained=True)
    f = tmp_path/'hub'/'checkpoints'/os.path.basename(torchvision.models.ResNet18_Weights.DEFAULT.url)
    w = torch.load(f, weights_only=True)['conv1.weight']
    assert w.dtype == torch.float16 and m.net.conv1.weight.dtype == torch.float32    # stored in half precision, loaded as float32
    assert torch.equal(m.net.conv1.weight, w.float())


@pytest.mark.parametrize('keep', [False, True])
def test_each_notebook_has_its_own_cache_removed_when_it_ends(tmp_path, monkeypatch, keep):
    "A notebook's trained models (its own `PRIVBOOK_CACHE`) are removed when it ends, unless kept: the dry run's disk stays bounded."
    import subprocess
    tool, seen = _tool(), {}
    def fake_run(cmd, env, **kw):
        seen['cache'] = c = Path(env['PRIVBOOK_CACHE'])
        c.mkdir(parents=True)
        (c/'model.pt').write_bytes(b'0' * 10)
        return subprocess.CompletedProcess(cmd, 0, 'ok', '')
    monkeypatch.setattr(tool.subprocess, 'run', fake_run)
    name, ok, _, _ = tool.run_one(ROOT/'nbs'/'31_disguise_utility.ipynb', tmp_path, tmp_path/'data', 10, keep_cache=keep)
    assert ok and seen['cache'] == tmp_path/'cache'/'31_disguise_utility'
    assert (seen['cache']/'model.pt').exists() == keep
