"""What a first-time user meets: the install instructions, `make test`'s progress, list parameters through papermill
and `privbook run`, `privbook run` without the notebook tools, `privbook datasets`' width, and a model trained on a
dataset taking that dataset's images."""
import ast, json, re, shutil, subprocess, sys, textwrap
from pathlib import Path
import nbformat, pytest, torch
from privbook import cli, core, data, models

ROOT = Path(__file__).resolve().parents[1]


# --- install instructions --------------------------------------------------------------------------------------------

def _install_text(md:str)->str:
    "The markdown of the '## Install' section."
    m = re.search(r'^## Install\n(.*?)(?=^## )', md, re.S | re.M)
    assert m, 'an Install section'
    return m.group(1)

def _index_markdown()->str:
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    return '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')

@pytest.mark.parametrize('where', ['README.md', 'nbs/index.ipynb'])
def test_install_says_how_to_install_today(where):
    md = (ROOT/'README.md').read_text() if where == 'README.md' else _index_markdown()
    inst = _install_text(md)
    assert not re.search(r"pip install '?privbook\b", inst), 'privbook is not on PyPI: `pip install privbook` finds nothing'
    assert 'github.com/privbook/privbook' not in md, 'no invented repository address'
    for cmd in ('pip install .', "pip install '.[notebooks]'", 'python -m build', 'pip install dist/privbook-'): assert cmd in inst, cmd
    assert not re.search(r"pip install '?privbook\[", md), 'extras are installed from the checkout or the wheel'

def test_readme_install_section_is_the_index_notebooks():
    assert _install_text((ROOT/'README.md').read_text()).strip() == _install_text(_index_markdown()).strip()


# --- make test prints each notebook and test file as it finishes ------------------------------------------------------

def _make_test_recipe()->list[str]:
    lines = (ROOT/'Makefile').read_text().splitlines()
    i = lines.index('test: install')
    recipe = []
    for l in lines[i+1:]:
        if not l.startswith('\t'): break
        recipe.append(l.strip())
    return recipe

def test_make_test_reports_progress():
    nbs, py = _make_test_recipe()
    assert 'OMP_NUM_THREADS=1' in nbs and '--n_workers 2' in nbs and 'tools/nbtest.py' in nbs, nbs
    assert '--file-times' in py and ' -q ' in py, py  # -q keeps pytest's final `N passed` line as it was

def test_nbtest_prints_each_notebook_with_its_time(tmp_path):
    shutil.copy(ROOT/'settings.ini', tmp_path/'settings.ini')
    (tmp_path/'nbs').mkdir()
    for name, src in (('a.ipynb', 'x = 1'), ('b.ipynb', 'assert 1 + 1 == 2')):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src)]), tmp_path/'nbs'/name)
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'nbtest.py'), '--n_workers', '2', '--timing'], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ('a.ipynb', 'b.ipynb'): assert re.search(rf'^ok +{name}: \d+ s$', r.stdout, re.M), r.stdout
    assert 'Success.' in r.stdout

def test_nbtest_names_a_failing_notebook(tmp_path):
    shutil.copy(ROOT/'settings.ini', tmp_path/'settings.ini')
    (tmp_path/'nbs').mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('assert False')]), tmp_path/'nbs'/'bad.ipynb')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'nbtest.py'), '--n_workers', '2'], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and re.search(r'^FAILED +bad.ipynb: \d+ s$', r.stdout, re.M), r.stdout + r.stderr[-2000:]

def test_pytest_file_times(tmp_path):
    shutil.copy(ROOT/'tests'/'conftest.py', tmp_path/'conftest.py')
    (tmp_path/'test_a.py').write_text('def test_1(): pass\ndef test_2(): pass\n')
    (tmp_path/'test_b.py').write_text('import pytest\ndef test_1(): pass\ndef test_2(): pytest.skip("no")\ndef test_3(): assert False\n')
    r = subprocess.run([sys.executable, '-m', 'pytest', '-q', '--file-times', '-p', 'no:cacheprovider', '.'], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout.splitlines()
    a = next(i for i, l in enumerate(out) if re.fullmatch(r'test_a\.py: 2 passed in \d+ s', l))
    b = next(i for i, l in enumerate(out) if re.fullmatch(r'test_b\.py: 1 passed, 1 skipped, 1 failed in \d+ s', l))
    assert a < b, r.stdout
    assert re.search(r'^1 failed, 3 passed, 1 skipped in [0-9.]+s', r.stdout, re.M), r.stdout  # pytest's own summary line, unchanged


# --- list parameters ----------------------------------------------------------------------------------------------------

def test_list_param_reads_lists_and_their_text():
    assert core.list_param([1.1, 2.0], 'scales') == [1.1, 2.0]
    assert core.list_param((1, 2), 'scales') == [1, 2]
    assert core.list_param(None, 'scales') is None
    assert core.list_param('[1.1, 2.0]', 'scales') == [1.1, 2.0]           # papermill -p
    assert core.list_param('[resnet18, vgg11]', 'archs') == ['resnet18', 'vgg11']   # a YAML list
    assert core.list_param("('a', 'b')", 'archs') == ['a', 'b']

@pytest.mark.parametrize('bad', ['2.0', 'resnet18', '[1, 2', "{'a': 1}", 3, 2.5, {'a': 1}, ''])
def test_list_param_names_the_parameter(bad):
    with pytest.raises(ValueError, match=r"^scales: expected a list.*-y '\{scales: \["): core.list_param(bad, 'scales')

LIST_PARAMS = {  # the list parameters of the experiment notebooks (defaults None: a per-scale list)
    '11_fmd_transfer': ['datasets', 'baselines', 'robust_datasets', 'preprocessing', 'adaptive_seeds'],
    '12_fmd_ablations': ['layers6', 'alpha_sweep', 'n_sweep', 'eps_sweep', 'lam_sweep'],
    '14_fmd_crosstask': ['archs'],
    '31_disguise_utility': ['datasets', 'aes_blocks', 'rmt_noises', 'rmt_blocks'],
    '32_disguise_attacks': ['datasets', 'known_pairs', 'sp_noises', 'util_noises', 'inv_pairs'],
    '41_fakegrad_table1': ['archs', 'datasets', 'S_a_ablation', 'l2_eps'],
    '42_fakegrad_scaling': ['scales', 'archs', 'fake_biases'],
    '43_fakegrad_adaptive': ['archs'],
}

def _code(name):
    nb = json.loads((ROOT/'nbs'/f'{name}.ipynb').read_text())
    return [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']

@pytest.mark.parametrize('name', sorted(LIST_PARAMS))
def test_list_parameters_go_through_list_param(name):
    cells = _code(name)
    params = cli.parameters(ROOT/'nbs'/f'{name}.ipynb')
    for p in LIST_PARAMS[name]:
        assert p in params, p
        uses = [l for c in cells[1:] for l in c.splitlines() if re.search(rf'\b{p}\b', l)]
        first = next(l for l in uses if not l.lstrip().startswith(('#', 'print', 'run =')))
        assert f"core.list_param({p}, '{p}')" in first, f'{name}: {p} is first read without core.list_param: {first}'

def test_papermill_list_as_text_reaches_42(tmp_path):
    "`papermill ... -p scales '[1.1, 2.0]'` passes the text; the setup cell of 42_fakegrad_scaling reads the list."
    cells = _code('42_fakegrad_scaling')
    ns = {}
    exec(cells[0], ns)  # the parameters cell
    ns.update(scales='[1.1, 2.0]', archs='[resnet18]', out_dir=str(tmp_path))
    for c in cells[1:3]: exec(c, ns)  # imports, setup
    assert ns['scales'] == [1.1, 2.0] and ns['archs'] == ['resnet18']

def test_privbook_run_list_parameter():
    args = cli._parser().parse_args(['run', '42_fakegrad_scaling', '-p', 'scales', '[1.1, 2.0]'])
    params = cli._params(args)
    assert params == {'scales': [1.1, 2.0]}
    assert cli.check_params(ROOT/'nbs'/'42_fakegrad_scaling.ipynb', params) == params


# --- privbook run without the notebook tools; privbook datasets' width ------------------------------------------------

@pytest.mark.parametrize('cmd', [['run', '42_fakegrad_scaling'], ['reproduce', '--only', '42']])
def test_run_without_notebook_tools_creates_nothing(cmd, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'papermill', None)  # import papermill raises ImportError
    assert cli.main([*cmd, '--out', str(tmp_path/'runs'), '--nbs', str(ROOT/'nbs')]) == 2
    assert not (tmp_path/'runs').exists(), 'the run folder is created only once the notebook tools are there'
    err = capsys.readouterr().err
    assert 'papermill' in err and "'.[notebooks]'" in err, err

def test_datasets_fits_100_columns(tmp_path, capsys):
    assert cli.main(['datasets', '--data-root', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 100, out
    for name in ('mnist5k', 'digits', 'mnist', 'fashion_mnist', 'cifar10', 'olivetti'): assert re.search(rf'^ *{name} ', out, re.M), name
    assert 'download=True' in out, 'how to get a missing dataset is still said'


# --- a model trained on a dataset takes that dataset's images ----------------------------------------------------------

@pytest.mark.parametrize('arch', ['vgg11', 'resnet18'])
def test_pretrained_or_trained_takes_the_datasets_images(arch, tmp_path, monkeypatch):
    monkeypatch.setenv('PRIVBOOK_CACHE', str(tmp_path))
    x, y = data.load('digits', 'test').tensors
    m = models.pretrained_or_trained(arch, 'digits', scale=core.get_scale('smoke', n_train=40, n_test=20), epochs=1,
                                     device='cpu', progress=False)
    assert m.input_shape == tuple(x.shape[1:]) == (1, 8, 8)
    assert m.info['n_train'] == 40
    with torch.no_grad(): assert m(x[:4]).shape == (4, 10)

def test_every_architecture_builds_for_8x8():
    for a in models.ARCHS:
        with torch.no_grad(): assert models.build(a, 10, 1, 8)(torch.rand(2, 1, 8, 8)).shape == (2, 10), a


def test_nbtest_runs_several_notebooks_in_one_worker(tmp_path):
    "A notebook run in a worker replaces that worker's __main__: the progress wrapper must still be found for the next one."
    import nbformat, subprocess, sys
    from pathlib import Path
    for name in ('a', 'b', 'c'):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = '{name}'\nassert x == '{name}'")])
        nbformat.write(nb, tmp_path/f'{name}.ipynb')
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root/'tools'/'nbtest.py'), '--n_workers', '1', '--path', str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [l.split()[1] for l in r.stdout.splitlines() if l.startswith('ok')] == ['a.ipynb:', 'b.ipynb:', 'c.ipynb:']
