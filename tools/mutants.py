"""Mutation score per module from mutmut's results (`make mutants` runs it after `mutmut run`).

mutmut 3 keeps one `mutants/<path>.meta` JSON file per mutated module, mapping each mutant to the exit code of its
tests; mutmut's own `status_by_exit_code` turns those into `killed`, `survived`, `no tests`, `timeout`, ...
The score is killed / (killed + survived + no tests): a mutant that no test runs survives as surely as one that the
tests run and miss. Timeouts and suspicious mutants are counted separately and left out of the score.
mutmut also rewrites docstrings ("XX...XX", upper / lower case): those mutants cannot change behaviour. This script
finds them by comparing the syntax tree of each mutated function with the original one, docstrings removed, and
reports a second score without them (column `docstring`: surviving docstring-only mutants).

A full run of the six modules (about 17,500 mutants) takes days on 2 cores, so `--sample N` draws N mutants per module
at random (seeded; docstring-only mutants are never drawn) and prints their names for `mutmut run`; the same
`--sample N` then scores only the drawn mutants, with a Wilson interval on the module's kill rate. Survivors that
docs/mutants.md lists as equivalent (its table of survivors, one backticked mutant name per row) leave the
denominator: the score is killed / (killed + survived + no tests - equivalent).

`python tools/mutants.py` prints the table; `--survivors` lists the surviving mutants (show one with
`mutmut show NAME`); `--write docs/mutants.md` puts the table into that file between its two marker lines;
`--generate` makes the mutants (what `mutmut run` does before running any test) so that a sample can be drawn."""
import argparse, ast, json, os, random, re, sys
from collections import Counter
from pathlib import Path
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ['killed', 'survived', 'no tests', 'timeout', 'suspicious', 'not checked']
SURVIVED = ('survived', 'no tests')
BEGIN, END = '<!-- scores: tools/mutants.py --write -->', '<!-- end scores -->'

def module_results(root=ROOT):
    "{module path: {mutant name: status}} for every `.meta` file under `root/mutants/`."
    out = {}
    for meta in sorted((root/'mutants').rglob('*.py.meta')):
        codes = json.loads(meta.read_text())['exit_code_by_key']
        out[str(meta.relative_to(root/'mutants'))[:-len('.meta')]] = {k: status_by_exit_code[v] for k, v in codes.items()}
    return out

def _functions(path:Path)->dict:
    "{name: ast of each function (methods too) without its docstring, named as its original} in a mutmut-generated file."
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and '__mutmut_' in node.name:
            body = node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body
            out[node.name] = ast.dump(ast.FunctionDef(**{**{f: getattr(node, f) for f in node._fields}, 'name': '', 'body': body}))
    return out

def docstring_only(results:dict, root=ROOT)->set:
    "Names of the mutants that differ from their original function only in its docstring."
    out = set()
    for mod, statuses in results.items():
        f = root/'mutants'/mod
        if not f.exists(): continue
        fns = _functions(f)
        for name in statuses:
            fn = name.rsplit('.', 1)[-1]
            orig = re.sub(r'__mutmut_\d+$', '__mutmut_orig', fn)
            if fn in fns and orig in fns and fns[fn] == fns[orig]: out.add(name)
    return out

def score_row(statuses:dict, doc:set=frozenset()):
    "Counts per status and the score (None when nothing was killed or survived), raw and without docstring-only survivors."
    c = Counter(statuses.values())
    row = {k: c.get(k, 0) for k in COLUMNS}
    row['other'] = sum(c.values()) - sum(row.values())
    row['docstring'] = sum(s in SURVIVED and k in doc for k, s in statuses.items())
    tested = row['killed'] + row['survived'] + row['no tests']
    row['score'] = row['killed'] / tested if tested else None
    row['score without docstrings'] = row['killed'] / (tested - row['docstring']) if tested > row['docstring'] else None
    return row

def generate(root=ROOT):
    "Make mutmut's mutants and their `.meta` files under `root/mutants/` without running a test (`mutmut run`'s first step)."
    from mutmut.__main__ import create_mutants
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths
    os.chdir(root); (root/'mutants').mkdir(exist_ok=True)
    copy_src_dir(); copy_also_copy_files(); setup_source_paths()
    create_mutants(1)

def sample(results:dict, n:int, seed:int=0, root=ROOT)->dict:
    "The same `results` with at most `n` mutants per module, drawn at random (seeded) among those that change more than a docstring."
    if n < 1: raise ValueError(f'n: expected at least one mutant per module, got {n}')
    doc = docstring_only(results, root)
    out = {}
    for mod, statuses in results.items():
        names = sorted(k for k in statuses if k not in doc)
        out[mod] = {k: statuses[k] for k in sorted(random.Random(f'{seed}:{mod}').sample(names, min(n, len(names))))}
    return out

def equivalent(path:Path=ROOT/'docs'/'mutants.md')->set:
    "Full names of the mutants that `path`'s survivors table gives as equivalent (rows `| module.py | `name` ... | why |`)."
    out = set()
    for mod, name in re.findall(r'^\|\s*([\w/]+)\.py\s*\|\s*`([^`]+)`', path.read_text() if path.exists() else '', flags=re.M):
        out.add(f"privbook.{mod.split('/')[-1]}.{name}")
    return out

def kill_rate(statuses:dict, equiv:set=frozenset(), level=0.95):
    "Killed / (killed + survived + no tests - equivalent) with its Wilson interval (`metrics.proportion_ci`); None when nothing was tested."
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))   # the checkout's privbook, imported only when scoring
    from privbook.metrics import proportion_ci
    tested = [k for k, s in statuses.items() if s in ('killed', *SURVIVED) and k not in equiv]
    return proportion_ci(sum(statuses[k] == 'killed' for k in tested), len(tested), level=level) if tested else None

def _pct(v): return '-' if v is None else f"{100 * v:.1f}%"

def _rate(ci): return '-' if ci is None else f"{100 * ci.est:.1f}% [{100 * ci.lo:.1f}, {100 * ci.hi:.1f}] of {ci.n}"

def table(results:dict, equiv:set=frozenset(), root=ROOT)->str:
    "A markdown table: one row per module, its counts and scores, and the kill rate of the non-equivalent mutants (95% Wilson)."
    doc = docstring_only(results, root)
    counts = [*COLUMNS, 'other', 'docstring', 'equivalent']
    head = ['module', *counts, 'score', 'score without docstrings', 'killed of non-equivalent']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for mod, statuses in results.items():
        r = score_row(statuses, doc)
        r['equivalent'] = sum(s in SURVIVED and k in equiv and k not in doc for k, s in statuses.items())
        rate = kill_rate({k: s for k, s in statuses.items() if k not in doc}, equiv)
        lines.append('| ' + ' | '.join([mod, *(str(r[k]) for k in counts), _pct(r['score']), _pct(r['score without docstrings']), _rate(rate)]) + ' |')
    return '\n'.join(lines)

def survivors(results:dict, with_docstrings=False, equiv:set=frozenset()):
    "Names of the mutants that survived or that no test ran (without the docstring-only ones unless `with_docstrings`, and without `equiv`)."
    doc = set() if with_docstrings else docstring_only(results)
    return [k for st in results.values() for k, s in st.items() if s in SURVIVED and k not in doc and k not in equiv]

def write(path:Path, text:str):
    "Replace what lies between the marker lines of `path` with `text`."
    doc = path.read_text()
    if BEGIN not in doc or END not in doc: raise ValueError(f'{path} needs the lines {BEGIN!r} and {END!r}')
    path.write_text(re.sub(re.escape(BEGIN) + '.*?' + re.escape(END), lambda m: f'{BEGIN}\n{text}\n{END}', doc, flags=re.S))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--survivors', action='store_true', help='list the surviving mutants instead of the table')
    p.add_argument('--write', type=Path, help='put the table into this markdown file, between its marker lines')
    p.add_argument('--sample', type=int, help='only N mutants per module, drawn at random (with --names: print their names)')
    p.add_argument('--seed', type=int, default=0, help='seed of the sample')
    p.add_argument('--names', action='store_true', help='print the names of the sampled mutants (one per line) for `mutmut run`')
    p.add_argument('--generate', action='store_true', help='make (or bring up to date) the mutants first')
    a = p.parse_args()
    if a.generate:   # mutmut regenerates only the modules that changed
        with open(os.devnull, 'w') as null:  # mutmut prints each file it copies
            out, sys.stdout = sys.stdout, null
            try: generate()
            finally: sys.stdout = out
    res = module_results()
    if not res: raise SystemExit('no mutmut results under mutants/: run `make mutants` first')
    if a.sample: res = sample(res, a.sample, a.seed)
    if a.names: print('\n'.join(k for st in res.values() for k in st))
    elif a.survivors: print('\n'.join(survivors(res, equiv=equivalent())))
    else:
        t = table(res, equivalent())
        print(t)
        if a.write: write(a.write, t)
