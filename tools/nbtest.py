"""`nbdev_test` (same arguments) that prints each notebook as it finishes, with its time: `make test` runs it.

nbdev_test prints nothing until every notebook has run (`--timing` lists the times at the very end); this wraps
the function it runs per notebook so each worker says `ok NAME: N s` or `FAILED NAME: N s` when its notebook ends."""
import nbdev.test as _nbdev_test

_test_nb = _nbdev_test.test_nb

def test_nb(fn, *args, **kwargs):
    "nbdev's `test_nb`, then one line with the notebook's outcome and seconds."
    ok, secs = _test_nb(fn, *args, **kwargs)
    print(f"{'ok' if ok else 'FAILED':6} {fn.name}: {secs:.0f} s", flush=True)
    return ok, secs

if __name__ == '__main__':
    # the wrapper must be pickled by an importable name: a notebook run in a worker replaces that worker's __main__
    import nbtest
    _nbdev_test.test_nb = nbtest.test_nb  # nbdev_test looks test_nb up in its module when it runs
    _nbdev_test.nbdev_test()              # parses sys.argv like the nbdev_test console script
