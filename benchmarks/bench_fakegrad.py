"""Fake Gradient overhead (paper 003, Fig. 7-8): protected vs original inference time and model size.

Per architecture, the original model and its Fake-Gradient copy run side by side on the same inputs at each
batch size; calls alternate (original, protected, original, ...) so both see the same machine load, and the
median of `--repeats` timed calls is reported with the ratio protected / original. The model size growth is
checked to be exactly the added last-layer parameters (K x D weights + K biases).

    python benchmarks/bench_fakegrad.py             # the paper's seven architectures, 1 x 28 x 28 inputs, 10 classes
    python benchmarks/bench_fakegrad.py --quick     # two architectures, a few repeats: seconds
    python benchmarks/bench_fakegrad.py --image-size 224 --channels 3 --num-classes 1000   # ImageNet-shaped
"""
import argparse, time, statistics
import torch
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
    p.add_argument('--quick', action='store_true', help='resnet18 and mobilenet_v2, 5 repeats')
    a = p.parse_args(argv)
    if a.quick: a.archs, a.repeats = ['resnet18', 'mobilenet_v2'], 5
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
        assert n_bytes(pm) - n_bytes(m) == expect * fc.weight.element_size()
        for bs in a.batches:
            x = torch.rand(bs, a.channels, a.image_size, a.image_size)
            to, tp = paired_times(m, pm, x, a.repeats)
            if bs == max(a.batches): worst = max(worst, tp / to)
            print(f'{arch:<13}{bs:>6}{1e3*to:>10.2f}{1e3*tp:>10.2f}{tp/to:>8.3f}   {n_params(m):>12,}{added:>9,}{"yes":>9}'
                  f'{n_bytes(m)/2**20:>9.2f}{100*added/n_params(m):>9.3f}')
    print(f'worst time ratio at batch {max(a.batches)}: {worst:.3f} (target <= {a.target}): {"met" if worst <= a.target else "NOT met"}')
    return worst


if __name__ == '__main__':
    main()
