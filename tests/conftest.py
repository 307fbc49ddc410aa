import os, pathlib, time, pytest

SHARED = pathlib.Path(__file__).resolve().parents[2]/'shared'/'data'

@pytest.fixture
def shared_data():
    "Root of the project's shared datasets; skips the test when it is absent."
    root = pathlib.Path(os.environ.get('PRIVBOOK_DATA') or SHARED)
    if not (root/'MNIST'/'raw').exists(): pytest.skip(f'no shared MNIST under {root}')
    return root


# `make test` passes --file-times: one line per test file as it finishes, with its outcomes and seconds
def pytest_addoption(parser):
    parser.addoption('--file-times', action='store_true', help='print each test file as it finishes: its outcomes and seconds')

def pytest_configure(config):
    if config.getoption('--file-times'): config.pluginmanager.register(FileTimes(config), 'privbook-file-times')

class FileTimes:
    "Prints `tests/test_x.py: 3 passed, 1 skipped in 12 s` when the last test of a file has run."
    def __init__(self, config): self.config, self.t0, self.counts = config, None, {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.t0 is None: self.t0 = time.perf_counter()
        yield
        if nextitem is None or nextitem.path != item.path:
            outcomes = ', '.join(f'{n} {k}' for k, n in self.counts.items()) or 'nothing run'
            tr = self.config.pluginmanager.get_plugin('terminalreporter')
            if tr._tw.width_of_current_line: tr.write('\n')  # after -q's progress dots
            tr.write_line(f'{item.nodeid.split("::")[0]}: {outcomes} in {time.perf_counter() - self.t0:.0f} s')
            self.t0, self.counts = None, {}

    def pytest_runtest_logreport(self, report):
        if report.when == 'call' or report.skipped: k = 'skipped' if report.skipped else report.outcome
        elif report.failed: k = 'error'
        else: return
        self.counts[k] = self.counts.get(k, 0) + 1
