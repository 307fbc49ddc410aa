"""Mutation score per module from mutmut's results (`make mutants` runs it after `mutmut run`).

mutmut 3 keeps one `mutants/<path>.meta` JSON file per mutated module, mapping each mutant to the exit code of its
tests; mutmut's own `status_by_exit_code` turns those into `killed`, `survived`, `no tests`, `timeout`, ...
The score is killed / (killed + survived + no tests): a mutant that no test runs survives as surely as one that the
tests run and miss. Timeouts and suspicious mutants are counted separately and left out of the score.

`python tools/mutants.py` prints the table; `--survivors` lists the surviving mutants (show one with
`mutmut show NAME`); `--write docs/mutants.md` puts the table into that file between its two marker lines."""
import argparse, json, re
from collections import Counter
from pathlib import Path
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ['killed', 'survived', 'no tests', 'timeout', 'suspicious', 'not checked']
BEGIN, END = '<!-- scores: tools/mutants.py --write -->', '<!-- end scores -->'

def module_results(root=ROOT):
    "{module path: {mutant name: status}} for every `.meta` file under `root/mutants/`."
    out = {}
    for meta in sorted((root/'mutants').rglob('*.py.meta')):
        codes = json.loads(meta.read_text())['exit_code_by_key']
        out[str(meta.relative_to(root/'mutants'))[:-len('.meta')]] = {k: status_by_exit_code[v] for k, v in codes.items()}
    return out

def score_row(statuses:dict):
    "Counts per status and the score (None when nothing was killed or survived)."
    c = Counter(statuses.values())
    row = {k: c.get(k, 0) for k in COLUMNS}
    row['other'] = sum(c.values()) - sum(row.values())
    tested = row['killed'] + row['survived'] + row['no tests']
    row['score'] = row['killed'] / tested if tested else None
    return row

def table(results:dict)->str:
    "A markdown table: one row per module, its counts and score."
    head = ['module', *COLUMNS, 'other', 'score']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for mod, statuses in results.items():
        r = score_row(statuses)
        score = '-' if r['score'] is None else f"{100 * r['score']:.1f}%"
        lines.append('| ' + ' | '.join([mod, *(str(r[k]) for k in COLUMNS), str(r['other']), score]) + ' |')
    return '\n'.join(lines)

def survivors(results:dict):
    "Names of the mutants that survived or that no test ran."
    return [k for st in results.values() for k, s in st.items() if s in ('survived', 'no tests')]

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
