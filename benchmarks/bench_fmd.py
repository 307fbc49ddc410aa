"""Benchmark of FMD (`privbook.fmd.protect`) against torchattacks' PGD on the same model, batch and steps.

Both do one forward and one backward pass to the image per iteration; FMD adds a forward hook and an MSE
on one feature map. Prints the per-step time of each (median of repeats, alternating order), the ratio
(target <= 1.15x), images/s of a full N=100 protection, and peak memory (RSS on CPU, allocator peak on CUDA).

    python benchmarks/bench_fmd.py            # ~1-2 minutes on 2 CPU cores
    python benchmarks/bench_fmd.py --quick    # seconds
    python benchmarks/bench_fmd.py --device cuda --image-size 224 --channels 3 --batch 64
"""
import argparse, os, statistics, threading, time
import torch, torchattacks
from privbook import core, models, fmd


class PeakRSS:
    "Peak resident set size (MiB) of this process while the block runs, sampled every 2 ms from /proc."
    def __enter__(self):
        self.peak, self.run = self._rss(), True
        self.t = threading.Thread(target=self._poll, daemon=True); self.t.start(); return self
    def __exit__(self, *a): self.run = False; self.t.join()
    def _poll(self):
        while self.run: self.peak = max(self.peak, self._rss()); time.sleep(0.002)
    @staticmethod
    def _rss():
        try:
            with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
        except OSError: return float('nan')


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()


def step_times(m, fn, dev):
    "Steady-state seconds per iteration of fn(): median gap between consecutive gradient-enabled forwards of `m`."
    starts = []
    def pre(mod, inp):
        sync(dev); starts.append((time.perf_counter(), torch.is_grad_enabled()))
    h = m.register_forward_pre_hook(pre)
    try: fn(); sync(dev); end = time.perf_counter()
    finally: h.remove()
    ts = [t for t, g in starts if g] + [end]
    return statistics.median(b - a for a, b in zip(ts, ts[1:]))


def timed(fn, dev):
    "(seconds, peak MiB) of fn()."
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    sync(dev)
    with PeakRSS() as p:
        t0 = time.perf_counter(); fn(); sync(dev); s = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated() / 2**20 if dev.type == 'cuda' else p.peak
    return s, mem


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--image-size', type=int, default=28)
    ap.add_argument('--channels', type=int, default=1)
    ap.add_argument('--batch', type=int, default=32, help='images per batch for the per-step comparison')
    ap.add_argument('--steps', type=int, default=10, help='iterations timed per repeat')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--n100-batch', type=int, default=8, help='images protected with N=100 for images/s')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--quick', action='store_true', help='seconds-long run: small batch, few steps, N=100 extrapolated')
    a = ap.parse_args()
    if a.quick: a.batch, a.steps, a.repeats, a.n100_batch = 8, 5, 2, 4
    if a.threads: torch.set_num_threads(a.threads)
    dev = core.get_device(a.device)
    core.seed_everything(0)
    m = models.build(a.arch, 10, in_channels=a.channels, image_size=a.image_size).to(dev).eval()
    x = torch.rand(a.batch, a.channels, a.image_size, a.image_size, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    L = fmd.default_layer(m)
    eps, alpha = 16/255, 4/255
    atk = torchattacks.PGD(m, eps=eps, alpha=alpha, steps=a.steps, random_start=True)
    run_fmd = lambda: fmd.protect(m, x, y, L, eps, alpha, a.steps, 1.0, seed=0)
    run_pgd = lambda: atk(x, y)
    run_fmd(); run_pgd()  # warm-up
    t = {'fmd': [], 'pgd': []}; st = {'fmd': [], 'pgd': []}; mem = {'fmd': 0.0, 'pgd': 0.0}
    for r in range(a.repeats):
        for k in (('fmd', 'pgd') if r % 2 == 0 else ('pgd', 'fmd')):
            fn = run_fmd if k == 'fmd' else run_pgd
            s, pk = timed(fn, dev)
            t[k].append(s / a.steps); mem[k] = max(mem[k], pk)
            st[k].append(step_times(m, fn, dev))
    med = {k: statistics.median(v) for k, v in t.items()}
    stm = {k: statistics.median(v) for k, v in st.items()}
    ratio = stm['fmd'] / stm['pgd']
    print(f'{a.arch} {a.channels}x{a.image_size}x{a.image_size}, batch {a.batch}, {a.steps} steps x {a.repeats} repeats, '
          f'device {dev}, threads {torch.get_num_threads()}, FMD layer {L}')
    print(f'per step (steady state, median gap between iterations): FMD {1000*stm["fmd"]:.1f} ms, PGD (torchattacks) {1000*stm["pgd"]:.1f} ms, '
          f'ratio FMD/PGD {ratio:.3f}x (target <= 1.15x: {"met" if ratio <= 1.15 else "MISSED"})')
    print(f'per step incl. set-up (whole call / steps): FMD {1000*med["fmd"]:.1f} ms, PGD {1000*med["pgd"]:.1f} ms, '
          f'ratio {med["fmd"]/med["pgd"]:.3f}x (FMD also computes f_feat(x) once and finds the layer)')
    print(f'per image per step: FMD {1000*stm["fmd"]/a.batch:.2f} ms, PGD {1000*stm["pgd"]/a.batch:.2f} ms')
    xs, ys = x[:a.n100_batch], y[:a.n100_batch]
    if a.quick:
        s, pk = timed(lambda: fmd.protect(m, xs, ys, L, eps, alpha, 10, 1.0, seed=0), dev)
        ips, how = len(xs) / (s * 10), 'extrapolated from N=10'
    else:
        s, pk = timed(lambda: fmd.protect(m, xs, ys, L, eps, alpha, 100, 1.0, seed=0), dev)
        ips, how = len(xs) / s, f'measured, {s:.1f}s for {len(xs)} images'
    print(f'FMD N=100: {ips:.2f} images/s ({how})')
    unit = 'CUDA allocator peak' if dev.type == 'cuda' else 'peak RSS of the process'
    print(f'peak memory ({unit}): FMD {mem["fmd"]:.0f} MiB, PGD {mem["pgd"]:.0f} MiB, N=100 run {pk:.0f} MiB')


if __name__ == '__main__': main()
