"""Fake Gradient overhead (Feng et al., MM '21, Fig. 7-8): protected vs original inference time and model size; DeepFool's memory.

Per architecture, the original model and its Fake-Gradient copy run side by side on the same inputs at each
batch size; calls alternate (original, protected, original, ...) so both see the same machine load, and the
median of `--repeats` timed calls is reported with the ratio protected / original. The model size growth is
checked to be exactly the added last-layer parameters (K x D weights + K biases).

DeepFool's peak memory is measured in the paper's setting: a protected ImageNet-shaped model (2K = 2000 outputs,
3 x 224 x 224 inputs) attacked on `--df-images` images, `--df-batch` at a time. The process's resident memory is
sampled every millisecond during the attack; the peak above the resident memory just before it is reported per
`--df-batch` images and checked against `--df-limit-gb` (2 GB per 8 images). DeepFool's memory does not grow with the
number of images or outputs (it linearises one batch at a time, one candidate class at a time), so the same batch
fits a 16 GB GPU in the paper's setting of 1000 images.

    python benchmarks/bench_fakegrad.py             # the paper's seven architectures, 1 x 28 x 28 inputs, 10 classes
    python benchmarks/bench_fakegrad.py --quick     # two architectures, a few repeats: seconds
    python benchmarks/bench_fakegrad.py --image-size 224 --channels 3 --num-classes 1000   # ImageNet-shaped
    python benchmarks/bench_fakegrad.py --no-deepfool     # overhead only
"""
import argparse, resource, threading, time, statistics
import psutil, torch
from privbook import models, fakegrad

ARCHS = ['resnet34', 'resnet18', 'densenet121', 'vgg19', 'vgg11', 'mobilenet_v2', 'googlenet']


def n_params(m): return sum(p.numel() for p in m.parameters())
def n_bytes(m): return sum(t.numel() * t.element_size() for t in m.state_dict().values())


@torch.no_grad()
def paired_times(a, b, x, repeats, warmup=2):
    "Median seconds per call of `a(x)` and `b(x)`, calls interleaved."
    for _ in range(warmup): a(x); b(x)
    ta, tb = [], []
    for i in range(repeats):
        for m, ts in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t = time.perf_counter(); m(x); ts.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


class PeakRSS:
    "Peak resident memory (bytes) of this process while the `with` block runs, sampled every `every` seconds."
    def __init__(self, every=1e-3): self.every, self.proc = every, psutil.Process()
    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.every)
    def __enter__(self):
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self
    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def deepfool_memory(arch='resnet18', n_outputs=2000, images=8, batch=8, steps=2, candidates=10):
    "(peak bytes above the pre-attack resident memory, CPU seconds, steps taken) of DeepFool on a protected ImageNet-shaped model."
    torch.manual_seed(0)
    m = models.build(arch, n_outputs // 2, in_channels=3, image_size=224)
    pm, _ = fakegrad.protect(m, seed=0)
    assert pm(torch.rand(1, 3, 224, 224)).shape[1] == n_outputs
    x = torch.rand(images, 3, 224, 224)
    with torch.no_grad(): lab = pm(x).argmax(1)
    atk = fakegrad.DeepFool(pm.eval(), steps=steps, candidates=candidates, batch=batch)
    t = time.process_time()
    with PeakRSS() as mem: atk(x, lab)
    return mem.peak - mem.start, time.process_time() - t, atk.n_steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--archs', nargs='+', default=ARCHS)
    p.add_argument('--batches', nargs='+', type=int, default=[1, 64])
    p.add_argument('--repeats', type=int, default=15)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--image-size', type=int, default=28)
    p.add_argument('--channels', type=int, default=1)
    p.add_argument('--num-classes', type=int, default=10)
    p.add_argument('--scale', type=float, default=2.0, help='S_a')
    p.add_argument('--target', type=float, default=1.03, help='target time ratio at the largest batch')
    p.add_argument('--quick', action='store_true', help='resnet18 and mobilenet_v2, 5 repeats, one DeepFool step')
    p.add_argument('--no-deepfool', action='store_true', help='skip the DeepFool memory measurement')
    p.add_argument('--df-arch', default='resnet18')
    p.add_argument('--df-outputs', type=int, default=2000, help='2K, outputs of the protected model')
    p.add_argument('--df-images', type=int, default=8)
    p.add_argument('--df-batch', type=int, default=8)
    p.add_argument('--df-steps', type=int, default=2, help='DeepFool steps (memory peaks within the first)')
    p.add_argument('--df-limit-gb', type=float, default=2.0, help='bound on the peak per df-batch images')
    a = p.parse_args(argv)
    if a.quick: a.archs, a.repeats, a.df_steps = ['resnet18', 'mobilenet_v2'], 5, 1
    torch.set_num_threads(a.threads)
    print(f'threads={torch.get_num_threads()} input={a.channels}x{a.image_size}x{a.image_size} K={a.num_classes} '
          f'S_a={a.scale} repeats={a.repeats} (median; original and protected interleaved)')
    head = f"{'arch':<13}{'batch':>6}{'orig ms':>10}{'prot ms':>10}{'ratio':>8}   {'params orig':>12}{'added':>9}{'= K*D+K':>9}{'size MB':>9}{'growth %':>9}"
    print(head); print('-' * len(head))
    worst = 0.0
    for arch in a.archs:
        torch.manual_seed(0)
        m = models.build(arch, a.num_classes, in_channels=a.channels, image_size=a.image_size)
        pm, _ = fakegrad.protect(m, scale=a.scale, seed=0)
        fc = fakegrad.find_fc(m)[1]
        added = n_params(pm) - n_params(m)
        expect = fc.weight.numel() + (fc.bias.numel() if fc.bias is not None else 0)
        assert added == expect, f'{arch}: size grew by {added} parameters, expected exactly {expect}'
        assert n_bytes(pm) - n_bytes(m) == expect * fc.weight.element_size() + pm.fakegrad_key_id.numel()  # + the 32-byte key id
        for bs in a.batches:
            x = torch.rand(bs, a.channels, a.image_size, a.image_size)
            to, tp = paired_times(m, pm, x, a.repeats)
            if bs == max(a.batches): worst = max(worst, tp / to)
            print(f'{arch:<13}{bs:>6}{1e3*to:>10.2f}{1e3*tp:>10.2f}{tp/to:>8.3f}   {n_params(m):>12,}{added:>9,}{"yes":>9}'
                  f'{n_bytes(m)/2**20:>9.2f}{100*added/n_params(m):>9.3f}')
    print(f'worst time ratio at batch {max(a.batches)}: {worst:.3f} (target <= {a.target}): {"met" if worst <= a.target else "NOT met"}')
    if a.no_deepfool: return worst
    peak, cpu, n = deepfool_memory(a.df_arch, a.df_outputs, a.df_images, a.df_batch, a.df_steps)
    gb = peak / 2**30
    print(f'DeepFool on protected {a.df_arch}: 2K = {a.df_outputs} outputs, {a.df_images} images of 3x224x224, {a.df_batch} per batch, '
          f'{int(n.max())} step(s), {cpu:.1f} CPU s: peak memory {gb:.2f} GB above the pre-attack resident memory '
          f'(bound {a.df_limit_gb} GB per {a.df_batch} images): {"met" if gb < a.df_limit_gb else "NOT met"}')
    return worst


if __name__ == '__main__':
    main()
