import collections, os, pathlib, pytest

SHARED = pathlib.Path(__file__).resolve().parents[2]/'shared'/'data'

@pytest.fixture
def shared_data():
    "Root of the project's shared datasets; skips the test when it is absent."
    root = pathlib.Path(os.environ.get('PRIVBOOK_DATA') or SHARED)
    if not (root/'MNIST'/'raw').exists(): pytest.skip(f'no shared MNIST under {root}')
    return root


# the slowest test files first (their seconds are in `make test`'s --file-times lines), so that under `-n 2` neither
# worker is left alone with one of them at the end; the other files keep their order (`make test` passes
# --no-loadscope-reorder, or pytest-xdist would sort the files by their number of tests)
SLOW_FIRST = ('test_cli.py', 'test_wheel.py', 'test_readme.py', 'test_hyperobf.py', 'test_security.py', 'test_faces.py')

def pytest_collection_modifyitems(items):
    rank = {n: i for i, n in enumerate(SLOW_FIRST)}
    items.sort(key=lambda i: rank.get(i.path.name, len(SLOW_FIRST)))


# `make test` passes --file-times: one line per test file as it finishes, with its outcomes and seconds (also under
# pytest-xdist's `-n 2 --dist loadfile`, where workers run the tests and this process gets their reports)
def pytest_addoption(parser):
    parser.addoption('--file-times', action='store_true', help='print each test file as it finishes: its outcomes and seconds')

def pytest_configure(config):
    if config.getoption('--file-times') and not hasattr(config, 'workerinput'):   # not in an xdist worker
        config.pluginmanager.register(FileTimes(config), 'privbook-file-times')

def _file(nodeid:str)->str: return nodeid.split('::')[0]

class FileTimes:
    "Prints `tests/test_x.py: 3 passed, 1 skipped in 12 s` when the last test of a file has run (its wall time, first start to last stop)."
    def __init__(self, config): self.config, self.left, self.counts, self.span = config, None, {}, {}

    def pytest_collection_modifyitems(self, items):   # without xdist: this process collects and runs the tests
        self.left = collections.Counter(_file(i.nodeid) for i in items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):   # with xdist: each worker collects the same tests
        if self.left is None: self.left = collections.Counter(_file(i) for i in ids)

    def pytest_runtest_logreport(self, report):
        f = _file(report.nodeid)
        lo, hi = self.span.get(f, (report.start, report.stop))
        self.span[f] = (min(lo, report.start), max(hi, report.stop))
        if report.when == 'call' or report.skipped: k = 'skipped' if report.skipped else report.outcome
        elif report.failed: k = 'error'
        else: k = None
        if k: self.counts.setdefault(f, collections.Counter())[k] += 1
        if report.when != 'teardown' or self.left is None: return
        self.left[f] -= 1
        if self.left[f]: return
        outcomes = ', '.join(f'{n} {k}' for k, n in self.counts.get(f, {}).items()) or 'nothing run'
        tr = self.config.pluginmanager.get_plugin('terminalreporter')
        if tr._tw.width_of_current_line: tr.write('\n')  # after -q's progress dots
        tr.write_line(f'{f}: {outcomes} in {self.span[f][1] - self.span[f][0]:.0f} s')
