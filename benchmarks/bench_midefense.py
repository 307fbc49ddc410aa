"""Throughput and latency of the model-inversion defense of Wen, Yiu and Hui on CPU, beside the undefended forward.

    python benchmarks/bench_midefense.py            # digits and faces, 2 threads
    python benchmarks/bench_midefense.py --quick    # seconds

Defended = the classifier's forward + Algorithm 2 (steps x forward/backward of the defender's inversion model).
Target: >= 1,000 defended queries/s for the digit setting (32x32, 10 classes, 10 steps) on 2 cores.
Weights do not change the timing, so freshly initialised models of the cpu-scale widths are used.
Undefended and defended calls are interleaved (one of each per repeat), so on a loaded machine their ratio
(defended / undefended throughput) is measured under the same load; CPU seconds are reported beside wall seconds.
"""
import argparse, json, resource, statistics, time
import torch
from privbook import midefense as M

SETTINGS = dict(digits=dict(K=10, size=32, ndf=16, dgf=16, step_size=0.1, eps=5.0),   # midefense.SIZES[...]['cpu']: classifier and defender widths
                faces=dict(K=30, size=64, ndf=8, dgf=16, step_size=0.4, eps=60.0))

def interleaved(fa, fb, repeats, warmup=1):
    "Median wall and CPU seconds of `fa` and `fb`, called alternately `repeats` times."
    for _ in range(warmup): fa(); fb()
    ts = {k: [] for k in ('a', 'b', 'ca', 'cb')}
    for _ in range(repeats):
        for f, k in ((fa, 'a'), (fb, 'b')):
            t, c = time.perf_counter(), time.process_time(); f()
            ts[k].append(time.perf_counter() - t); ts['c' + k].append(time.process_time() - c)
    return {k: statistics.median(v) for k, v in ts.items()}

def bench(name, steps, batch, repeats, repeats1, p):
    s = SETTINGS[name]
    torch.manual_seed(0)
    clf = M.Classifier(s['K'], 1, s['size'], s['ndf']).eval()
    inv = M.Inversion(s['K'], 1, s['size'], s['dgf'], hidden=M.defender_hidden(s['size'])).eval()
    xb, x1 = torch.rand(batch, 1, s['size'], s['size']), torch.rand(1, 1, s['size'], s['size'])
    undefended = lambda x: torch.softmax(M.logits_of(clf, x), 1)
    defended = lambda x: M.defend(clf, x, inv, steps=steps, step_size=s['step_size'], eps=s['eps'], p=p)
    b = interleaved(lambda: undefended(xb), lambda: defended(xb), repeats)
    l = interleaved(lambda: undefended(x1), lambda: defended(x1), repeats1)
    assert torch.equal(defended(xb).argmax(1), undefended(xb).argmax(1))
    return dict(setting=name, steps=steps, batch=batch, undefended_qps=batch / b['a'], defended_qps=batch / b['b'],
                defended_cpu_qps=batch / b['cb'], ratio=b['a'] / b['b'], slowdown=b['b'] / b['a'],
                undefended_latency_ms=1e3 * l['a'], defended_latency_ms=1e3 * l['b'])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--p', default='1')
    ap.add_argument('--settings', default='digits,faces')
    ap.add_argument('--quick', action='store_true', help='3 repeats, digits only')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    p = a.p if a.p.lower() in ('inf', 'infinity') else float(a.p)
    names = ['digits'] if a.quick else a.settings.split(',')
    reps = 3 if a.quick else a.repeats
    rows = [bench(n, a.steps, a.batch, reps, 5 * reps, p) for n in names]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, {a.threads} thread(s), batch {a.batch}, {a.steps} steps, p={a.p}, median of {reps} repeats; peak RSS {peak:.0f} MiB")
    print(f"{'setting':8} {'undef q/s':>10} {'defended q/s':>13} {'def. q/CPU-s':>13} {'def/undef':>10} {'undef lat ms':>13} {'def lat ms':>11}")
    for r in rows:
        print(f"{r['setting']:8} {r['undefended_qps']:10.0f} {r['defended_qps']:13.0f} {r['defended_cpu_qps']:13.0f} {r['ratio']:10.4f} "
              f"{r['undefended_latency_ms']:13.2f} {r['defended_latency_ms']:11.2f}")
    for r in rows:
        if r['setting'] == 'digits':
            print(f"target >= 1000 defended queries/s (digits): {'met' if r['defended_qps'] >= 1000 else 'NOT met'} ({r['defended_qps']:.0f} wall, "
                  f"{r['defended_cpu_qps']:.0f} per CPU-second; defended / undefended throughput {r['ratio']:.4f}, measured interleaved)")
    if a.json: print(json.dumps(dict(rows=rows, peak_rss_mib=peak)))

if __name__ == '__main__':
    main()
