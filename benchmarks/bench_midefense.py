"""Throughput and latency of the model-inversion defense of Wen, Yiu and Hui on CPU, beside the undefended forward
and beside the same defense at an earlier revision of privbook.

    python benchmarks/bench_midefense.py                    # digits and faces, 2 threads, against revision 940a03d
    python benchmarks/bench_midefense.py --quick            # seconds
    python benchmarks/bench_midefense.py --against none     # no side-by-side

Defended = the classifier's forward + Algorithm 2 (steps x forward/backward of the defender's inversion model).
Target: >= 1,000 defended queries/s for the digit setting (32x32, 10 classes, 10 steps) on 2 cores.
Weights do not change the timing, so freshly initialised models of the cpu-scale widths are used.

The machine this runs on is usually shared, so every number is measured interleaved: one call of each function
(undefended, defended today, defended at `--against`) per repeat, medians over the repeats; the ratios
(defended / undefended, today / earlier revision) are then taken under the same load. CPU seconds are reported
beside wall seconds. The earlier revision's `privbook` is extracted with `git archive` into a temporary folder and
imported under another name, and runs with its own `Classifier` and `Inversion` (built from the same seed).

Where the time goes (torch.profiler and per-part CPU timing, 1 thread, digits, batch 256, 2026-12-02): the
defended call is the classifier's forward (~1/3) plus 10 forward/backward passes of the defender's inversion model
(~2/3); the defense's own work (input checks, float64 logits and softmax, label modifier, norms, tie breaking) is
~2% (~5 ms of ~270 ms), the same at 940a03d and today. The slowdown since 940a03d is the defender's last layers:
940a03d up-sampled 4x4 -> 32x32 with a 1x1 convolution + pixel shuffle, today's defender up-samples bilinearly to
16x16 and applies the attacker's stride-2 transposed convolution, and PyTorch's CPU kernels for those two
(upsample_bilinear2d backward, conv_transpose2d with one output channel) take ~5x the time of the whole old
inversion model (185 vs 36 ms CPU for 10 steps at batch 256). `Inversion.forward` now computes those two layers as
per-axis matrix products (the same function of the same parameters), and `defend` runs the classifier in chunks of
at most `LOGITS_CHUNK` = 128 queries (~5k instead of ~2.8k queries per CPU-second for the digit classifier).

Recorded side by side (2026-12-02, the shared 2-core AMD EPYC build machine, torch 2.14.1, load average 3.5-7.7
from other jobs; batch 256, 10 steps, p=1; medians of 9 interleaved repeats, each run once per `--against`):

    threads  setting  defended q/s   q/CPU-s   vs 940a03d (CPU)   vs main f9ac011 (CPU)
    1        digits   915-2927       1844-2941 1.14-1.18 (1.09-1.15)  2.53-2.80 (2.47-2.67)
    1        faces    346-404        670-751   1.05 (1.03)        3.70 (3.27)
    2        digits   163-1037       346-1056  0.64-0.99 (0.66-1.02)  2.02 (2.00)
    2        faces    90-115         165-202   0.80 (0.73)        1.89 (2.43)

With one thread the defense is back at 940a03d's speed (~1.1x) and 2.5-3.7x main's; the defend-path change alone
(`LOGITS_CHUNK`, without the `Inversion` change) measured 0.95x wall, 1.11x CPU against main. With two threads on a
machine whose load average exceeded its 2 cores, every OpenMP barrier waits for a descheduled thread (one query's
10 steps took 58-220 ms instead of ~9): runs of the same code spread 6x, so the target
(>= 1,000 defended queries/s on 2 threads) was met in two runs (1,012, 1,037) and missed in another (163) of the same code;
one thread gave 2,483-2,927 queries/s when the load allowed. Rerun on a quiet machine for the 2-thread number.
"""
import argparse, atexit, importlib, io, json, os, resource, shutil, statistics, subprocess, sys, tarfile, tempfile, time
from pathlib import Path
import torch
from privbook import midefense as M

SETTINGS = dict(digits=dict(K=10, size=32, ndf=16, dgf=16, step_size=0.1, eps=5.0),   # midefense.SIZES[...]['cpu']: classifier and defender widths
                faces=dict(K=30, size=64, ndf=8, dgf=16, step_size=0.4, eps=60.0))
AGAINST = '940a03d'  # the revision the slowdown was measured against (2,078 vs 583 defended queries/s, digits, 2 threads)

def interleaved(fs:dict, repeats, warmup=1):
    "Median wall and CPU seconds of each function in `fs`, called in turn `repeats` times."
    for _ in range(warmup):
        for f in fs.values(): f()
    wall, cpu = {k: [] for k in fs}, {k: [] for k in fs}
    for _ in range(repeats):
        for k, f in fs.items():
            t, c = time.perf_counter(), time.process_time()
            f()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return {k: statistics.median(v) for k, v in wall.items()}, {k: statistics.median(v) for k, v in cpu.items()}

def module_at(rev:str):
    "`privbook.midefense` as of git revision `rev` (imported as `privbook_<rev>`), or None when git or the revision is not there."
    root = Path(__file__).resolve().parents[1]
    try: tar = subprocess.run(['git', '-C', str(root), 'archive', rev, 'privbook'], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): return None
    tmp = Path(tempfile.mkdtemp(prefix='bench-midefense-'))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as t: t.extractall(tmp, filter='data')
    name = f"privbook_{rev.replace('-', '_').replace('.', '_')}"
    (tmp / 'privbook').rename(tmp / name)
    sys.path.insert(0, str(tmp))
    return importlib.import_module(f'{name}.midefense')

def _setup(mod, s):
    torch.manual_seed(0)
    clf = mod.Classifier(s['K'], 1, s['size'], s['ndf']).eval()
    inv = mod.Inversion(s['K'], 1, s['size'], s['dgf'], hidden=mod.defender_hidden(s['size'])).eval()
    return clf, inv

def bench(name, steps, batch, repeats, repeats1, p, old=None):
    s = SETTINGS[name]
    clf, inv = _setup(M, s)
    xb, x1 = torch.rand(batch, 1, s['size'], s['size']), torch.rand(1, 1, s['size'], s['size'])
    undefended = lambda x: torch.softmax(M.logits_of(clf, x, M.LOGITS_CHUNK), 1)   # the classifier in the same chunks as in `defend`
    defended = lambda x: M.defend(clf, x, inv, steps=steps, step_size=s['step_size'], eps=s['eps'], p=p)
    fs = lambda x: dict(undefended=lambda: undefended(x), defended=lambda: defended(x))
    if old is not None:
        oclf, oinv = _setup(old, s)
        before = lambda x: old.defend(oclf, x, oinv, steps=steps, step_size=s['step_size'], eps=s['eps'], p=p)
        fs = lambda x, f=fs: {**f(x), 'before': lambda: before(x)}
    b, cb = interleaved(fs(xb), repeats)
    l, _ = interleaved(fs(x1), repeats1)
    assert torch.equal(defended(xb).argmax(1), undefended(xb).argmax(1))
    row = dict(setting=name, steps=steps, batch=batch, undefended_qps=batch / b['undefended'], defended_qps=batch / b['defended'],
               defended_cpu_qps=batch / cb['defended'], ratio=b['undefended'] / b['defended'], slowdown=b['defended'] / b['undefended'],
               undefended_latency_ms=1e3 * l['undefended'], defended_latency_ms=1e3 * l['defended'])
    if old is not None:
        row.update(before_qps=batch / b['before'], before_cpu_qps=batch / cb['before'], speedup=b['before'] / b['defended'],
                   cpu_speedup=cb['before'] / cb['defended'], before_latency_ms=1e3 * l['before'])
    return row

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--p', default='1')
    ap.add_argument('--settings', default='digits,faces')
    ap.add_argument('--against', default=AGAINST, help=f"git revision to time side by side ('none': skip); default {AGAINST}")
    ap.add_argument('--quick', action='store_true', help='3 repeats, digits only')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    p = a.p if a.p.lower() in ('inf', 'infinity') else float(a.p)
    names = ['digits'] if a.quick else a.settings.split(',')
    reps = 3 if a.quick else a.repeats
    old = None if a.against.lower() == 'none' else module_at(a.against)
    if old is None and a.against.lower() != 'none': print(f"revision {a.against} not available (no git checkout?): no side-by-side")
    rows = [bench(n, a.steps, a.batch, reps, 5 * reps, p, old) for n in names]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, {a.threads} thread(s), batch {a.batch}, {a.steps} steps, p={a.p}, median of {reps} interleaved repeats; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; peak RSS {peak:.0f} MiB")
    print(f"{'setting':8} {'undef q/s':>10} {'defended q/s':>13} {'def. q/CPU-s':>13} {'def/undef':>10} {'undef lat ms':>13} {'def lat ms':>11}"
          + (f" {a.against + ' q/s':>13} {'today/' + a.against:>15} {'(CPU)':>7}" if old else ''))
    for r in rows:
        print(f"{r['setting']:8} {r['undefended_qps']:10.0f} {r['defended_qps']:13.0f} {r['defended_cpu_qps']:13.0f} {r['ratio']:10.4f} "
              f"{r['undefended_latency_ms']:13.2f} {r['defended_latency_ms']:11.2f}"
              + (f" {r['before_qps']:13.0f} {r['speedup']:15.2f} {r['cpu_speedup']:7.2f}" if old else ''))
    for r in rows:
        if r['setting'] == 'digits':
            print(f"target >= 1000 defended queries/s (digits): {'met' if r['defended_qps'] >= 1000 else 'NOT met'} ({r['defended_qps']:.0f} wall, "
                  f"{r['defended_cpu_qps']:.0f} per CPU-second; defended / undefended throughput {r['ratio']:.4f}, measured interleaved)")
    if a.json: print(json.dumps(dict(rows=rows, peak_rss_mib=peak, against=a.against if old else None)))

if __name__ == '__main__':
    main()
