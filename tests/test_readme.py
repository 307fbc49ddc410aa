"""Every code block of the README runs as written: the Python blocks are executed, the shell commands are run
(papermill), dry-run (`privbook run/reproduce --dry-run` checks notebooks and parameters) or checked by make."""
import os, re, shlex, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT/'README.md').read_text()
BLOCKS = re.findall(r'```(\w*)\n(.*?)```', README, re.S)
BIN = Path(sys.executable).parent


def _env():
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH' or v}
    env.update(OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    return env


def _commands():
    for lang, body in BLOCKS:
        if lang not in ('sh', 'bash', 'shell'): continue
        for line in body.splitlines():
            line = line.split(' #')[0].strip()
            if line: yield line


def test_readme_matches_index_notebook():
    assert 'Quick start' in README and BLOCKS, 'README.md is generated from nbs/index.ipynb (make readme)'


def test_python_blocks_run(tmp_path):
    code = '\n\n'.join(body for lang, body in BLOCKS if lang == 'python')
    assert code.strip(), 'the README has Python blocks'
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    acc = re.search(r'accuracy: ([0-9.]+)', r.stdout)
    assert acc and float(acc.group(1)) >= 0.8, f'the quick start must show a trained model, got: {r.stdout}'


@pytest.mark.parametrize('cmd', sorted(set(_commands())))
def test_shell_command(cmd, tmp_path):
    words = shlex.split(cmd)
    env = _env()
    while words and re.fullmatch(r'[A-Z_]+=.*', words[0]):  # VAR=value prefixes
        k, v = words.pop(0).split('=', 1)
        env[k] = v
    prog = words[0]
    if prog == 'make':
        r = subprocess.run(['make', '-n', *words[1:]], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    elif prog == 'privbook':
        extra = ['--dry-run'] if len(words) > 1 and words[1] in ('run', 'reproduce') else []
        r = subprocess.run([str(BIN/'privbook'), *words[1:], *extra], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    elif prog == 'papermill':
        words = [w.replace('out.ipynb', str(tmp_path/'out.ipynb')) for w in words]
        r = subprocess.run([str(BIN/'papermill'), *words[1:]], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    elif prog == 'pip':  # from the checkout or its wheel: test_wheel builds the wheel and installs it with [notebooks]
        assert words[1] == 'install' and re.fullmatch(r"\.(\[\w+\])?|dist/privbook-\*\.whl", words[2]), cmd
        extra = re.fullmatch(r"\.\[(\w+)\]", words[2])
        extras = set(re.findall(r'^(\w+)_requirements\s*=', (ROOT/'settings.ini').read_text(), re.M)) - {'dev'}
        assert extra is None or extra.group(1) in extras, f'{cmd}: no such extra (settings.ini declares {sorted(extras)})'
        return
    elif prog == 'python':
        assert words[1:] == ['-m', 'build'], cmd  # test_wheel builds the same wheel (without build isolation, offline)
        return
    else: pytest.fail(f'README command with no check: {cmd}')
    assert r.returncode == 0, f'{cmd}\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}'
