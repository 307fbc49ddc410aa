import os, pathlib, pytest

SHARED = pathlib.Path(__file__).resolve().parents[2]/'shared'/'data'

@pytest.fixture
def shared_data():
    "Root of the project's shared datasets; skips the test when it is absent."
    root = pathlib.Path(os.environ.get('PRIVBOOK_DATA') or SHARED)
    if not (root/'MNIST'/'raw').exists(): pytest.skip(f'no shared MNIST under {root}')
    return root
