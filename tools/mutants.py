"""Mutation score per module from mutmut's results (`make mutants` runs it after `mutmut run`).

mutmut 3 keeps one `mutants/<path>.meta` JSON file per mutated module, mapping each mutant to the exit code of its
tests; mutmut's own `status_by_exit_code` turns those into `killed`, `survived`, `no tests`, `timeout`, ...
The score is killed / (killed + survived + no tests): a mutant that no test runs survives as surely as one that the
tests run and miss. Timeouts and suspicious mutants are counted separately and left out of the score.
mutmut also rewrites docstrings ("XX...XX", upper / lower case): those mutants cannot change behaviour. This script
finds them by comparing the syntax tree of each mutated function with the original one, docstrings removed, and
reports a second score without them (column `docstring`: surviving docstring-only mutants).

`python tools/mutants.py` prints the table; `--survivors` lists the surviving mutants (show one with
`mutmut show NAME`); `--write docs/mutants.md` puts the table into that file between its two marker lines."""
import argparse, ast, json, re
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

def _pct(v): return '-' if v is None else f"{100 * v:.1f}%"

def table(results:dict)->str:
    "A markdown table: one row per module, its counts and scores."
    doc = docstring_only(results)
    counts = [*COLUMNS, 'other', 'docstring']
    head = ['module', *counts, 'score', 'score without docstrings']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for mod, statuses in results.items():
        r = score_row(statuses, doc)
        lines.append('| ' + ' | '.join([mod, *(str(r[k]) for k in counts), _pct(r['score']), _pct(r['score without docstrings'])]) + ' |')
    return '\n'.join(lines)

def survivors(results:dict, with_docstrings=False):
    "Names of the mutants that survived or that no test ran (without the docstring-only ones unless `with_docstrings`)."
    doc = set() if with_docstrings else docstring_only(results)
    return [k for st in results.values() for k, s in st.items() if s in SURVIVED and k not in doc]

def write(path:Path, text:str):
    "Replace what lies between the marker lines of `path` with `text`."
    doc = path.read_text()
    if BEGIN not in doc or END not in doc: raise ValueError(f'{path} needs the lines {BEGIN!r} and {END!r}')
    path.write_text(re.sub(re.escape(BEGIN) + '.*?' + re.escape(END), lambda m: f'{BEGIN}\n{text}\n{END}', doc, flags=re.S))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--survivors', action='store_true', help='list the surviving mutants instead of the table')
    p.add_argument('--write', type=Path, help='put the table into this markdown file, between its marker lines')
    a = p.parse_args()
    res = module_results()
    if not res: raise SystemExit('no mutmut results under mutants/: run `make mutants` first')
    if a.survivors: print('\n'.join(survivors(res)))
    else:
        print(table(res))
        if a.write: write(a.write, table(res))
