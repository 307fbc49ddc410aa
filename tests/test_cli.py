"The privbook console script: --version, datasets, run (with papermill), reproduce filters and errors."
import json, subprocess, sys, pathlib
import nbformat, pytest
import privbook
from privbook import cli, core

ROOT = pathlib.Path(__file__).resolve().parents[1]

def sh(*args, cwd=ROOT):
    exe = pathlib.Path(sys.executable).parent/'privbook'  # the installed console script
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=300)

def tiny_nb(path, body="run.rec.log('k', k)"):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("scale = 'smoke'\ndevice = 'auto'\ndata_root = None\nseed = 0\nout_dir = None\nk = 1\neps = 0.1", metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell(f"from privbook import core\nrun = core.setup_run('tiny', scale, 'cpu', seed, out_dir)\n{body}")])
    nbformat.write(nb, path); return path

def test_version():
    r = sh('--version')
    assert r.returncode == 0 and privbook.__version__ in r.stdout

def test_console_script_entry_point():
    from importlib.metadata import entry_points
    eps = [e for e in entry_points(group='console_scripts') if e.name == 'privbook']
    assert eps and eps[0].value == 'privbook.cli:main'

def test_datasets_lists_every_dataset(tmp_path):
    r = sh('datasets', '--data-root', str(tmp_path))
    assert r.returncode == 0
    for name in ('mnist5k', 'digits', 'mnist', 'fashion_mnist', 'cifar10', 'olivetti'): assert name in r.stdout
    assert str(tmp_path) in r.stdout

def test_datasets_with_shared_root(shared_data):
    r = sh('datasets', '--data-root', str(shared_data))
    line = next(l for l in r.stdout.splitlines() if l.strip().startswith('mnist '))
    assert 'True' in line

def test_run_writes_notebook_html_and_results(tmp_path):
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    r = sh('run', str(nb), '--scale', 'smoke', '--out', str(tmp_path/'runs'), '-p', 'k', '5')
    assert r.returncode == 0, r.stderr
    run_dir = next((tmp_path/'runs').iterdir())
    assert (run_dir/'tiny.ipynb').exists() and (run_dir/'tiny.html').exists()
    df = core.read_results(run_dir/'results')
    assert df.value.tolist() == [5] and df.scale.tolist() == ['smoke']
    # the kernel runs in the run folder (outside any checkout); rows still carry the running code's revision
    assert df.revision.tolist() == [core.code_revision()] and core.code_revision() != 'unknown'

def test_failing_notebook_points_at_executed_copy(tmp_path):
    nb = tiny_nb(tmp_path/'boom.ipynb', body="raise RuntimeError('boom')")
    r = sh('run', str(nb), '--scale', 'smoke', '--out', str(tmp_path/'runs'))
    assert r.returncode == 2
    assert 'boom' in r.stderr and 'executed copy' in r.stderr and str(tmp_path/'runs') in r.stderr

def test_bad_scale_and_unknown_notebook(tmp_path):
    r = sh('run', 'no_such_notebook', '--scale', 'smoke')
    assert r.returncode == 2 and 'notebook' in r.stderr
    r = sh('reproduce', '--scale', 'gigantic')
    assert r.returncode == 2 and 'scale' in r.stderr

def test_reproduce_only_filters(tmp_path):
    (tmp_path/'settings.ini').write_text('[DEFAULT]\n'); nbs = tmp_path/'nbs'; nbs.mkdir()
    tiny_nb(nbs/'11_fmd_demo.ipynb'); tiny_nb(nbs/'41_fakegrad_demo.ipynb')
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]), nbs/'00_core.ipynb')
    assert [p.name for p in cli.experiment_notebooks(nbs)] == ['11_fmd_demo.ipynb', '41_fakegrad_demo.ipynb']
    assert [p.name for p in cli.experiment_notebooks(nbs, 'fmd')] == ['11_fmd_demo.ipynb']
    r = sh('reproduce', '--scale', 'smoke', '--only', 'fakegrad', '--out', str(tmp_path/'runs'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'tiny' in r.stdout and 'fmd' not in r.stdout.split('run folder')[-1].split('\n')[0]
    r = sh('reproduce', '--scale', 'smoke', '--only', 'nothing-matches', cwd=tmp_path)
    assert r.returncode == 2 and 'only' in r.stderr

def test_every_experiment_notebook_has_standard_parameters():
    for p in cli.experiment_notebooks(ROOT/'nbs'):
        nb = json.loads(p.read_text())
        src = ''.join(next(c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', []))['source'])
        for name in ('scale', 'device', 'data_root', 'seed', 'out_dir'):
            assert f'{name} =' in src or f'{name}=' in src, f'{p.name}: parameters cell lacks {name}'
        assert "scale = 'smoke'" in src, f'{p.name}: default scale must be smoke'

def test_papermill_reads_every_parameter():
    "papermill must parse each parameters-cell line (an '=' in a comment made it drop the parameter with a warning)."
    from papermill.translators import PythonTranslator
    for p in cli.experiment_notebooks(ROOT/'nbs'):
        cell = next(c for c in nbformat.read(p, 4).cells if 'parameters' in c.metadata.get('tags', []))
        names = [l.split('=')[0].strip() for l in cell.source.splitlines() if '=' in l and not l.lstrip().startswith('#')]
        got = [q.name for q in PythonTranslator.inspect(cell)]
        assert got == names, f'{p.name}: papermill reads {got}, the cell assigns {names}'

def test_parameters_are_checked_before_a_kernel_starts(tmp_path):
    nb = tiny_nb(tmp_path/'tiny.ipynb')
    for args, word in [(['-p', 'kk', '5'], 'kk'), (['-p', 'out_dir', 'x'], '--out'), (['-p', 'scale', 'cpu'], '--scale'),
                       (['-p', 'k', "'five'"], '-p k'), (['-y', '[1, 2]'], '-y')]:
        r = sh('run', str(nb), '--out', str(tmp_path/'runs'), *args)
        assert r.returncode == 2 and word in r.stderr, (args, r.stderr)
    assert not (tmp_path/'runs').exists() or not any((tmp_path/'runs').iterdir()), 'no run folder for a rejected command'
    (tmp_path/'afile').write_text('')
    r = sh('run', str(nb), '--out', str(tmp_path/'afile'/'runs'))
    assert r.returncode == 2 and 'is a file' in r.stderr
    r = sh('reproduce', '--only', '', '--nbs', str(tmp_path))
    assert r.returncode == 2 and 'only' in r.stderr
    r = sh('run', str(nb), '--dry-run', '-p', 'eps', '1/255')
    assert r.returncode == 0 and '0.0039' in r.stdout

def test_arithmetic_yaml_and_relative_root_reach_the_notebook(tmp_path):
    nb = tiny_nb(tmp_path/'tiny.ipynb', body="run.rec.log('eps', eps)\nrun.rec.log('root', 0, root=data_root)")
    (tmp_path/'rel').mkdir()
    r = sh('run', str(nb), '--out', 'runs', '--data-root', 'rel', '-p', 'eps', '1/255', '--no-progress', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    df = core.read_results(next((tmp_path/'runs').iterdir())/'results')
    assert df.value.iloc[0] == pytest.approx(1/255)
    assert df.root.iloc[1] == str(tmp_path/'rel'), 'a relative root means the caller\'s folder, as for privbook datasets'
    r = sh('run', str(nb), '--out', str(tmp_path/'y'), '-y', '{eps: 0.5}', '--no-progress')
    assert r.returncode == 0 and core.read_results(tmp_path/'y').value.tolist()[0] == 0.5

def test_two_runs_into_one_out_keep_every_row(tmp_path):
    nb = tiny_nb(tmp_path/'tiny.ipynb', body="for i in range(200): run.rec.log('i', i)")
    exe = pathlib.Path(sys.executable).parent/'privbook'
    procs = [subprocess.Popen([str(exe), 'run', str(nb), '--out', str(tmp_path/'runs'), '--no-progress'], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    runs = list((tmp_path/'runs').iterdir())
    assert len(runs) == 2, 'each run gets its own folder'
    assert all(len(core.read_results(r/'results')) == 200 for r in runs)

def test_summary_averages_nothing(tmp_path):
    rec = core.Recorder(tmp_path, 'demo')
    rec.log('layer', 3, arch='vgg16')
    rec.log('layer', 11, arch='resnet18')
    s = cli.summarize(tmp_path)
    assert 'mean' not in s.columns and s[['n', 'min', 'max']].values.tolist() == [[2, 3, 11]]

def test_sigterm_stops_the_kernel(tmp_path):
    import signal, time
    nb = tiny_nb(tmp_path/'slow.ipynb', body="import time\nfor i in range(600):\n    run.rec.log('i', i)\n    time.sleep(0.05)")
    exe = pathlib.Path(sys.executable).parent/'privbook'
    p = subprocess.Popen([str(exe), 'run', str(nb), '--out', str(tmp_path/'runs'), '--no-progress'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res = None
    for _ in range(1200):  # two minutes: a loaded machine starts kernels slowly
        time.sleep(0.1)
        res = next((tmp_path/'runs').glob('*/results/tiny.jsonl'), None) if (tmp_path/'runs').exists() else None
        if res is not None and len(res.read_text().splitlines()) >= 5: break
    assert res is not None, 'the notebook never started logging'
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 130
    n = len(res.read_text().splitlines())
    time.sleep(2)
    assert len(res.read_text().splitlines()) == n, 'the kernel kept running after privbook was terminated'

def _tiny_checkout(tmp_path):
    (tmp_path/'settings.ini').write_text('[DEFAULT]\n'); nbs = tmp_path/'nbs'; nbs.mkdir()
    tiny_nb(nbs/'41_fakegrad_a.ipynb', body="run = core.setup_run('a', scale, 'cpu', seed, out_dir)\nfor i in range(50): run.rec.log('i', i*k)")
    tiny_nb(nbs/'42_fakegrad_b.ipynb', body="run = core.setup_run('b', scale, 'cpu', seed, out_dir)\nfor i in range(50): run.rec.log('i', -i*k)")
    git = ['git', '-c', 'user.name=t', '-c', 'user.email=t@example.org']
    for c in (['init', '-q'], ['add', '-A'], ['commit', '-qm', 'tiny']): subprocess.run(git + c, cwd=tmp_path, check=True, capture_output=True)
    return nbs

def test_ray_executor_gives_the_sequential_results_and_reruns_skip(tmp_path):
    pytest.importorskip('ray')
    nbs = _tiny_checkout(tmp_path)
    seq, _, f1 = cli.reproduce('smoke', only='fakegrad', nbs=nbs, out_root=tmp_path/'runs', progress=False)
    ray_, _, f2 = cli.reproduce('smoke', only='fakegrad', nbs=nbs, out_root=tmp_path/'runs', executor='ray')
    assert f1 == f2 == []
    names = lambda d: sorted(p.name for p in (d/'results').glob('*.jsonl'))
    assert names(seq) == names(ray_) == ['a.jsonl', 'b.jsonl']
    for n in names(seq):
        a, b = core.read_results(seq/'results'/n), core.read_results(ray_/'results'/n)
        assert a.value.tolist() == b.value.tolist() and len(a) == 50
    # a failing notebook is reported and the others go on; a rerun into the same folder runs only what did not succeed
    tiny_nb(nbs/'43_fakegrad_c.ipynb', body="raise RuntimeError('boom')")  # untracked: the revision stays clean
    _, _, f3 = cli.reproduce('smoke', only='fakegrad', nbs=nbs, executor='ray', run_dir=ray_)
    assert len(f3) == 1 and 'boom' in f3[0]
    done = [json.loads(l) for l in (ray_/'done.jsonl').read_text().splitlines()]
    assert [d['notebook'] for d in done].count('41_fakegrad_a.ipynb') == 1, 'a notebook that already succeeded is skipped'
    assert len(core.read_results(ray_/'results'/'a.jsonl')) == 50

def test_datasets_verify_flags_a_changed_file(tmp_path):
    raw = tmp_path/'olivetti'
    raw.mkdir()
    import numpy as np
    np.save(raw/'olivetti_faces.npy', np.zeros((400, 64, 64), np.float32))
    np.save(raw/'olivetti_faces_target.npy', np.repeat(np.arange(40), 10))
    r = sh('datasets', '--data-root', str(tmp_path), '--verify')
    assert r.returncode == 1 and 'mismatch' in r.stdout, r.stdout + r.stderr


def test_recorded_notebooks_carry_no_machine_paths(tmp_path, monkeypatch):
    from privbook.cli import portable_paths
    checkout, run = tmp_path/'clone', tmp_path/'clone'/'runs'/'20261202-x'
    run.mkdir(parents=True)
    monkeypatch.setenv('PRIVBOOK_DATA', str(tmp_path/'data'))
    text = f'out_dir = "{run}/results"; data_root = "{tmp_path}/data"; nb = "{checkout}/nbs/51.ipynb"'
    out = portable_paths(text, run, checkout)
    assert str(tmp_path) not in out
    assert out == 'out_dir = "runs/20261202-x/results"; data_root = "$PRIVBOOK_DATA"; nb = "./nbs/51.ipynb"'


# --- long runs: expected times, progress, Ctrl-C, failed starts, one run per notebook and run folder ---

def _slow_checkout(tmp_path, body="import time\nfor i in range(600):\n    run.rec.log('i', i)\n    time.sleep(0.05)"):
    (tmp_path/'settings.ini').write_text('[DEFAULT]\n'); nbs = tmp_path/'nbs'; nbs.mkdir()
    tiny_nb(nbs/'41_fakegrad_slow.ipynb', body=body)
    return nbs

def _interrupt(args, rows, cwd=ROOT):
    "Start `privbook *args` in a session of its own, send the session SIGINT (Ctrl-C) once `rows` has 5 lines; (rc, stdout, stderr)."
    import os, signal, time
    exe = pathlib.Path(sys.executable).parent/'privbook'
    # Ctrl-C reaches a program in the foreground, whose SIGINT is the default; a test suite started in the background
    # (`make test &` from a script) passes SIGINT on ignored, and an ignored Ctrl-C lets the run finish (rc 0)
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    p = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True,
                         preexec_fn=default_sigint)
    for _ in range(1200):
        time.sleep(0.1)
        f = next(iter(rows()), None)
        if f is not None and len(f.read_text().splitlines()) >= 5: break
    else: p.kill(); raise AssertionError('the notebook never started logging')
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err

@pytest.mark.parametrize('cmd', ['run', 'reproduce'])
def test_ctrl_c_ends_with_one_line_and_marks_the_run(tmp_path, cmd):
    nbs = _slow_checkout(tmp_path)
    runs = tmp_path/'runs'
    args = ['run', str(nbs/'41_fakegrad_slow.ipynb')] if cmd == 'run' else ['reproduce', '--only', 'slow', '--nbs', str(nbs)]
    rc, out, err = _interrupt([*args, '--out', str(runs), '--no-progress'], lambda: runs.glob('*/results/tiny.jsonl'))
    assert rc == 130
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and 'Traceback' not in err, err
    run_dir = next(runs.iterdir())
    assert 'interrupted' in lines[0] and '41_fakegrad_slow' in lines[0] and str(run_dir) in lines[0], lines[0]
    status = json.loads((run_dir/'status.json').read_text())
    assert status['status'] == 'interrupted' and '41_fakegrad_slow' in status['detail']

def test_failed_run_is_marked_failed(tmp_path):
    nb = tiny_nb(tmp_path/'boom.ipynb', body="raise RuntimeError('boom')")
    r = sh('run', str(nb), '--out', str(tmp_path/'runs'), '--no-progress')
    assert r.returncode == 2
    status = json.loads((next((tmp_path/'runs').iterdir())/'status.json').read_text())
    assert status['status'] == 'failed' and 'boom' in status['detail']
    r = sh('run', str(tiny_nb(tmp_path/'fine.ipynb')), '--out', str(tmp_path/'ok'), '--no-progress')
    assert r.returncode == 0 and json.loads((next((tmp_path/'ok').iterdir())/'status.json').read_text())['status'] == 'ok'

def test_ray_that_cannot_start_is_one_line_and_no_run_folder(tmp_path, monkeypatch, capsys):
    ray = pytest.importorskip('ray')
    nbs = _slow_checkout(tmp_path, body="run.rec.log('i', 1)")
    def boom(*a, **k): raise ConnectionError('could not reach the head node at 10.0.0.1:6379')
    monkeypatch.setattr(ray, 'init', boom)
    monkeypatch.setattr(ray, 'is_initialized', lambda: False)
    rc = cli.main(['reproduce', '--executor', 'ray', '--nbs', str(nbs), '--out', str(tmp_path/'runs'), '--address', '10.0.0.1:6379'])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and 'Ray' in err and 'ConnectionError' in err, err
    assert not (tmp_path/'runs').exists() or not any((tmp_path/'runs').iterdir()), 'no run folder when Ray did not start'

def test_a_run_folder_holds_one_run_per_notebook(tmp_path):
    nbs = _tiny_checkout(tmp_path)
    d = tmp_path/'run'
    _, _, f = cli.reproduce('smoke', only='41_fakegrad_a', nbs=nbs, run_dir=d, progress=False)
    assert f == [] and len(core.read_results(d/'results'/'a.jsonl')) == 50
    before = (d/'41_fakegrad_a.ipynb').read_bytes()
    # the same notebook again with other parameters: refused, nothing replaced or added
    with pytest.raises(ValueError, match='41_fakegrad_a'): cli.reproduce('smoke', only='41_fakegrad_a', nbs=nbs, run_dir=d, params={'k': 2}, progress=False)
    assert (d/'41_fakegrad_a.ipynb').read_bytes() == before and len(core.read_results(d/'results'/'a.jsonl')) == 50
    # a failed attempt is set aside (executed copy, HTML, its rows) before the notebook runs there again
    tiny_nb(nbs/'43_fakegrad_c.ipynb', body="run = core.setup_run('c', scale, 'cpu', seed, out_dir)\nfor i in range(3): run.rec.log('i', i)\nassert k == 2")
    _, _, f = cli.reproduce('smoke', only='43_fakegrad_c', nbs=nbs, run_dir=d, progress=False)
    assert len(f) == 1 and len(core.read_results(d/'results'/'c.jsonl')) == 3
    _, _, f = cli.reproduce('smoke', only='43_fakegrad_c', nbs=nbs, run_dir=d, params={'k': 2}, progress=False)
    assert f == []
    assert core.read_results(d/'results'/'c.jsonl').value.tolist() == [0, 1, 2], 'only the new run\'s rows'
    aside = list((d/'attempts').iterdir())
    assert len(aside) == 1 and (aside[0]/'43_fakegrad_c.ipynb').exists() and len(core.read_results(aside[0]/'results'/'c.jsonl')) == 3
    assert len(core.read_results(d/'results'/'a.jsonl')) == 50, 'other notebooks\' rows untouched'

def _recorded(checkout, name, seconds):
    d = checkout/'data'/'results'/'cpu'/'notebooks'; d.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(); nb.metadata['papermill'] = dict(duration=seconds)
    nbformat.write(nb, d/f'{name}.ipynb')

def test_reproduce_says_how_long_before_starting(tmp_path):
    nbs = _tiny_checkout(tmp_path)
    _recorded(tmp_path, '41_fakegrad_a', 3153.9)
    r = sh('reproduce', '--scale', 'cpu', '--only', 'fakegrad', '--nbs', str(nbs), '--dry-run')
    assert r.returncode == 0, r.stderr
    line = lambda name: next(l for l in r.stdout.splitlines() if name in l and 'would run' not in l)
    assert '53 min' in line('41_fakegrad_a') and 'unknown' in line('42_fakegrad_b')
    assert 'at least 53 min' in line('total'), r.stdout
    r = sh('reproduce', '--scale', 'smoke', '--only', 'fakegrad', '--nbs', str(nbs), '--dry-run')
    assert 'unknown' in r.stdout and 'cpu' in r.stdout and '53 min' in r.stdout

def test_reproduce_cpu_estimate_is_the_recorded_runs_time():
    r = sh('reproduce', '--scale', 'cpu', '--only', 'fakegrad', '--dry-run')
    assert r.returncode == 0, r.stderr
    total = 0
    for p in sorted((ROOT/'data'/'results'/'cpu'/'notebooks').glob('4*_fakegrad_*.ipynb')):
        s = json.loads(p.read_text())['metadata']['papermill']['duration']; total += s
        assert p.stem in r.stdout and cli.duration(s) in next(l for l in r.stdout.splitlines() if p.stem in l and 'would run' not in l)
    assert total > 0 and cli.duration(total) in next(l for l in r.stdout.splitlines() if 'total' in l)

def test_run_shows_the_notebooks_own_progress(tmp_path, capsys):
    nb = tiny_nb(tmp_path/'bar.ipynb', body="import time\nfrom tqdm.auto import tqdm\nfor i in tqdm(range(8), desc='steps'): time.sleep(0.5)")
    cli.run_notebook(nb, tmp_path/'run', html=False, progress=1)
    out = capsys.readouterr().out
    assert 'cell 1/3 done in' in out and 'bar: cell 3/3 done in' in out, out  # the cell papermill injects counts too
    running = [l for l in out.splitlines() if 'running for' in l]
    assert running and any('steps:' in l and '% ' in l and '/8 [' in l for l in running), out


def test_zero_for_a_per_scale_count_is_refused_not_replaced():
    "`-p n_attacked 0` used to become the per-scale default silently (the notebook reads `n_attacked or ...`)."
    from privbook import cli
    nb = ROOT/'nbs'/'32_disguise_attacks.ipynb'
    for v in (0, 0.0, []):
        with pytest.raises(ValueError, match='would silently become'): cli.check_params(nb, {'n_attacked' if v != [] else 'known_pairs': v})
    assert cli.check_params(nb, {'n_attacked': 7}) == {'n_attacked': 7}
