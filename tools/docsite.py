"""The docs site without Quarto: nbdev's processed notebooks (`_proc/`) as static HTML pages that read like a
Quarto site. `tools/docs.py` calls `render_site`; `api_renderer` is the `show_doc` renderer it installs first.

What each page gets: API entries as a signature and a parameter table from the docments (no prompts, no source
link), test cells hidden, math converted to MathML at build time (latex2mathml: no script, no network), no
progress bars in outputs, long code and wide tables scrolling in their box, a sidebar with short titles, a
per-page table of contents, previous / next links and a static search (`search.json`, `search.js`), and
widgets drawn from the notebook's saved widget state by the pinned Jupyter widget manager copied into
`widgets/` (`viz.static_explorer`'s sliders work with no kernel). Nothing on a page loads anything from the network.
"""
from __future__ import annotations
import ast, html, inspect, json, re, shutil
from pathlib import Path

TITLE_MAX = 60  # sidebar characters; the whole title stays in the link's tooltip and on the page


# ---- API entries ----

def fmt_default(v)->str:
    "A default as a reader wants it: `0.0627`, not `0.06274509803921569`; functions and classes by name."
    if isinstance(v, float) and len(repr(v)) > 7: return f'{v:.3g}'
    if inspect.isfunction(v) or inspect.isclass(v): return v.__name__
    return repr(v)


def fmt_anno(a)->str:
    if a is inspect.Parameter.empty: return ''
    if a is type(None): return 'None'
    return a if isinstance(a, str) else getattr(a, '__name__', None) or str(a).replace('typing.', '')


def _inline(s:str)->str:
    "Escaped text with `code` spans and $math$."
    parts = re.split(r'(`[^`]+`|\$[^$\n]+\$)', s or '')
    return ''.join(f'<code>{html.escape(p[1:-1], quote=False)}</code>' if p.startswith('`') and len(p) > 1 else
                   _mathml(p[1:-1], False) if p.startswith('$') and len(p) > 2 else html.escape(p, quote=False) for p in parts)


def api_markdown(sym, name:str|None=None, title_level:int=3)->str:
    "An API entry: heading, signature line, docstring and a table of the parameters' types, defaults and docments."
    from fastcore.docments import ShowDocRenderer, docments
    r = ShowDocRenderer(sym, name=name, title_level=title_level)
    try: dm = docments(r.sym, full=True, returns=True)
    except (TypeError, ValueError, OSError): dm = {}
    params = {k: v for k, v in dm.items() if k not in ('self', 'cls', 'return')}
    sig_params = []
    if r.sig is not None:
        for p in r.sig.parameters.values():
            if p.name in ('self', 'cls'): continue
            star = '*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else ''
            a = fmt_anno(params.get(p.name, {}).get('anno', p.annotation))
            d = '' if p.default is p.empty else '=' + fmt_default(p.default)
            sig_params.append(f"{star}{p.name}{':' + a if a else ''}{d}")
    ret = dm.get('return', {})
    ret_anno = fmt_anno(ret.get('anno', inspect.Parameter.empty))
    sig = f"{r.nm}({', '.join(sig_params)})" + (f" -> {ret_anno}" if ret_anno else '')
    out = [f'<div class="pb-api">\n\n{"#" * title_level} {r.nm}\n',
           f'<pre class="pb-sig"><code>{html.escape(sig)}</code></pre>\n']
    if r.docs: out.append(f'<p class="pb-doc">{_inline(r.docs)}</p>\n')
    rows = [(k, v) for k, v in params.items()]
    if rows or ret.get('docment'):
        t = ['<table class="pb-params"><thead><tr><th></th><th>Type</th><th>Default</th><th>Details</th></tr></thead><tbody>']
        for k, v in rows:
            d = '' if v.get('default', inspect.Parameter.empty) is inspect.Parameter.empty else fmt_default(v['default'])
            t.append(f"<tr><td><strong>{html.escape(k)}</strong></td><td>{html.escape(fmt_anno(v.get('anno', inspect.Parameter.empty)))}</td>"
                     f"<td>{html.escape(d)}</td><td>{_inline(v.get('docment') or '')}</td></tr>")
        if ret.get('docment') or ret_anno:
            t.append(f"<tr><td><strong>Returns</strong></td><td>{html.escape(ret_anno)}</td><td></td><td>{_inline(ret.get('docment') or '')}</td></tr>")
        out.append(''.join(t) + '</tbody></table>\n')
    out.append('</div>')
    return '\n'.join(out)


class APIRenderer:
    "`show_doc`'s renderer for the fallback site: `api_markdown` as the cell's markdown output."
    def __init__(self, sym, name:str|None=None, title_level:int=3): self.md = api_markdown(sym, name, title_level)
    def _repr_markdown_(self): return self.md


def use_api_renderer():
    "Make nbdev's `show_doc` (run in-process by `proc_nbs(n_workers=0)`) render with `APIRenderer`."
    import nbdev.showdoc
    nbdev.showdoc.BasicMarkdownRenderer = APIRenderer


# ---- cells ----

_TESTS = re.compile(r'^(test|test_\w+|ExceptionExpected)$')


def _is_test_stmt(s)->bool:
    if isinstance(s, (ast.Assert, ast.Import, ast.ImportFrom, ast.Pass)): return True
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
        f = s.value.func
        return bool(_TESTS.match(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ''))
    if isinstance(s, ast.With):
        return all(isinstance(i.context_expr, ast.Call) and _TESTS.match(getattr(i.context_expr.func, 'id', '')) for i in s.items) or all(map(_is_test_stmt, s.body))
    if isinstance(s, (ast.For, ast.If)): return all(map(_is_test_stmt, s.body + s.orelse))
    return False


def _assigned(s)->set:
    "Names a top-level assignment binds, or None when `s` is not a plain assignment."
    if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return {n.id for t in (s.targets if isinstance(s, ast.Assign) else [s.target]) for n in ast.walk(t) if isinstance(n, ast.Name)}


def is_test_cell(source:str, later:str='')->bool:
    """Asserts and fastcore tests (`test_eq`, `test_fail`, `with ExceptionExpected`, also in loops), with the imports and
    assignments only they use (no name bound here appears in `later`, the code after the cell): hidden on the site."""
    src = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('#|', '%')))
    try: tree = ast.parse(src)
    except SyntaxError: return False
    tests = [s for s in tree.body if _is_test_stmt(s) and not isinstance(s, (ast.Import, ast.ImportFrom))]
    if not tests: return False
    for s in tree.body:
        if s in tests or isinstance(s, (ast.Import, ast.ImportFrom)): continue
        names = _assigned(s)
        if names is None or any(re.search(rf'\b{re.escape(n)}\b', later) for n in names): return False
    return True


def without_tests(source:str)->str:
    "`source` without its top-level test statements (asserts, fastcore tests): what a cell that also defines later-used names shows."
    try: tree = ast.parse(source)
    except SyntaxError: return source
    drop = {i for s in tree.body if _is_test_stmt(s) and not isinstance(s, (ast.Import, ast.ImportFrom)) for i in range(s.lineno, s.end_lineno + 1)}
    return '\n'.join(l for i, l in enumerate(source.splitlines(), 1) if i not in drop).strip('\n')


_BAR = re.compile(r'^.*\d+%\|.*\|\s*\d+(\.\d+)?[kMG]?/\d+(\.\d+)?[kMG]?.*$', re.M)


def strip_progress(text:str)->str:
    "`text` without tqdm progress bars (each `\\r` update and each final bar line)."
    lines = [l.rsplit('\r', 1)[-1] for l in text.split('\n')]
    return '\n'.join(l for l in lines if not _BAR.match(l))


def prepare_cells(nb):
    "Quarto's handling of nbdev output, done here: frontmatter header, `show_doc` output as markdown, tests (cells, or lines of a cell that also defines names used later) and `#|` lines hidden, progress bars dropped; cells tagged `docs-top` right after the header."
    import nbformat, yaml
    cells, code = [], [c.source for c in nb.cells if c.cell_type == 'code']
    for c in nb.cells:
        src = c.source
        if c.cell_type == 'code': code.pop(0)
        if c.cell_type == 'raw' and src.strip().startswith('---'):
            fm = yaml.safe_load(src.strip().strip('-')) or {}
            if fm.get('title'): cells.append(nbformat.v4.new_markdown_cell(f"# {fm['title']}\n\n{fm.get('description') or ''}"))
            continue
        if c.cell_type != 'code':
            cells.append(c)
            continue
        lines = src.splitlines()
        directives = ' '.join(l for l in lines if l.startswith('#|'))
        if re.search(r'#\|\s*(include:\s*false|hide)\b', directives) or is_test_cell(src, '\n'.join(code)): continue
        if re.search(r'#\|\s*output:\s*asis', directives):  # show_doc and other as-is markdown: no prompt, no input
            md = ''.join(''.join(o.get('data', {}).get('text/markdown', '')) for o in c.get('outputs', []))
            if md: cells.append(nbformat.v4.new_markdown_cell(md))
            continue
        if re.search(r'#\|\s*echo:\s*false', directives): c.metadata.setdefault('tags', []).append('pb-hide-input')
        c.source = without_tests('\n'.join(l for l in lines if not l.startswith('#|')))
        outs = []
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream':
                o['text'] = strip_progress(''.join(o['text']))
                if not o['text'].strip(): continue
            plain = ''.join(o.get('data', {}).get('text/plain', ''))
            if 'application/vnd.jupyter.widget-view+json' in o.get('data', {}) and plain and not strip_progress(plain).strip(): continue  # a tqdm widget
            outs.append(o)
        c.outputs = outs
        cells.append(c)
    top = [c for c in cells if 'docs-top' in c.metadata.get('tags', [])]  # e.g. the Results page's scorecard
    rest = [c for c in cells if not any(c is t for t in top)]
    nb.cells = rest[:1] + top + rest[1:]
    return nb


# ---- math ----

def _mathml(tex:str, display:bool)->str:
    from latex2mathml.converter import convert
    try: return convert(tex.strip(), display='block' if display else 'inline')
    except Exception: return f'<code class="pb-tex">{html.escape(tex)}</code>'  # shown as TeX rather than failing the build


def exporter():
    "nbconvert's HTMLExporter with math as MathML, no prompts, and the cells tagged above removed or input-less."
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    from traitlets.config import Config
    from jinja2 import DictLoader, pass_context

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body): return _mathml(body, True)
        def inline_math(self, body): return _mathml(body, False)
        def latex_environment(self, name, body): return _mathml(f'\\begin{{{name}}}{body}\\end{{{name}}}', True)

    class Exporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get('cell', {})
            r = MathMLRenderer(escape=False, attachments=cell.get('attachments', {}), anchor_link_text=self.anchor_link_text)
            return MarkdownWithMath(renderer=r).render(source)

    cfg = Config()
    cfg.TagRemovePreprocessor.remove_input_tags = {'pb-hide-input'}
    cfg.TagRemovePreprocessor.enabled = True
    cfg.HTMLExporter.exclude_input_prompt = True
    cfg.HTMLExporter.exclude_output_prompt = True
    return Exporter(config=cfg, extra_loaders=[DictLoader({'pb.html.j2': _TEMPLATE})], template_file='pb.html.j2')


# nbconvert's lab page without what it loads from CDNs: MathJax (math is MathML already), require.js and mermaid; the
# widget manager is the pinned copy in tools/assets/html-manager/ (copied beside the pages), and a widget view keeps its
# plain-text form for readers without JavaScript
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{%- if "widgets" in nb.metadata -%}<script src="widgets/embed.js"></script>{%- endif -%}{% endblock jupyter_widgets %}
{%- block data_widget_view scoped %}{{ super() }}
{%- if 'text/plain' in output.data %}<noscript><pre>{{ output.data['text/plain'] | escape }}</pre></noscript>{% endif %}
{%- endblock data_widget_view -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


# ---- site ----

def titles(proc:Path)->dict:
    "{stem: (title, description)} from nbdev's frontmatter."
    import yaml
    out = {}
    for p in sorted(proc.glob('*.ipynb')):
        nb = json.loads(p.read_text())
        fm = next((''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'raw' and ''.join(c['source']).lstrip().startswith('---')), '')
        d = yaml.safe_load(fm.strip().strip('-')) or {} if fm else {}
        out[p.stem] = (str(d.get('title') or p.stem), str(d.get('description') or ''), str(d.get('output-file') or ''))
    return out


def short_title(t:str, n:int=TITLE_MAX)->str:
    "`t` cut at a word boundary before `n` characters, with an ellipsis."
    if len(t) <= n: return t
    cut = t[:n - 1].rsplit(' ', 1)[0].rstrip(' ,;:(-')
    return cut + '…'


def sidebar_items(sidebar_yml:Path, stems:list)->list:
    "(section, [stems]) in the order of nbs/sidebar.yml (Quarto's `auto:` globs expanded)."
    import yaml
    sb = yaml.safe_load(sidebar_yml.read_text())['website']['sidebar']['contents']
    out = []
    for item in sb:
        if isinstance(item, str): out.append((None, [Path(item).stem]))
        else:
            names = []
            for c in item.get('contents', []):
                names += [s for s in sorted(stems) if Path(f'{s}.ipynb').match(c['auto'])] if isinstance(c, dict) else [Path(c).stem]
            out.append((item.get('section'), names))
    return [(s, [n for n in names if n in stems]) for s, names in out]


def nav(current:str, items:list, t:dict)->str:
    parts = ['<nav class="pb-sidebar"><a class="pb-home" href="index.html">privbook</a>',
             '<input id="pb-search" type="search" placeholder="Search" autocomplete="off"><div id="pb-results"></div>']
    for section, names in items:
        if section: parts.append(f'<div class="pb-section">{html.escape(section)}</div>')
        for n in names:
            cls = ' class="pb-current"' if n == current else ''
            parts.append(f'<a{cls} href="{n}.html" title="{html.escape(t[n][0])}">{html.escape(short_title(t[n][0]))}</a>')
    parts.append('</nav>')
    return '\n'.join(parts)


_HEADING = re.compile(r'<h([1-3]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def headings(body:str)->list:
    "(level, id, text) of the page's h1-h3 headings, anchor links dropped."
    out = []
    for lvl, hid, inner in _HEADING.findall(body):
        text = re.sub(r'<[^>]+>', '', re.sub(r'<a class="anchor-link".*?</a>', '', inner, flags=re.S))
        out.append((int(lvl), hid, html.unescape(text).strip()))
    return out


def toc(hs:list)->str:
    items = [f'<a class="pb-toc{l}" href="#{html.escape(i)}">{html.escape(short_title(t, 48))}</a>' for l, i, t in hs if l > 1]
    return f'<nav class="pb-tocbox"><div class="pb-section">On this page</div>{"".join(items)}</nav>' if items else ''


def prev_next(current:str, order:list, t:dict)->str:
    i = order.index(current)
    links = []
    if i > 0: links.append(f'<a class="pb-prev" href="{order[i-1]}.html">&larr; {html.escape(short_title(t[order[i-1]][0]))}</a>')
    if i + 1 < len(order): links.append(f'<a class="pb-next" href="{order[i+1]}.html">{html.escape(short_title(t[order[i+1]][0]))} &rarr;</a>')
    return f'<nav class="pb-prevnext">{"".join(links)}</nav>'


def search_entries(stem:str, title:str, body:str)->list:
    "One search entry per section of the page: its heading and the first words of its text."
    text = re.sub(r'<(script|style)\b.*?</\1>', ' ', body, flags=re.S)
    parts = re.split(r'(<h[1-3] id="[^"]+"[^>]*>.*?</h[1-3]>)', text, flags=re.S)
    out, anchor, head = [], '', title
    for part in parts:
        m = _HEADING.match(part)
        if m:
            anchor, head = m.group(2), headings(part)[0][2]
            continue
        words = ' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', part)).split())
        if words or anchor: out.append(dict(page=f'{stem}.html', anchor=anchor, title=title, section=head, text=words[:300]))
    return out


_JS = """<script src="search.js"></script><script>
(function(){const q=document.getElementById('pb-search'),box=document.getElementById('pb-results');if(!q)return;
q.addEventListener('input',function(){const w=q.value.toLowerCase().split(/\\s+/).filter(Boolean);box.innerHTML='';if(!w.length)return;
const hits=PB_INDEX.filter(e=>{const s=(e.title+' '+e.section+' '+e.text).toLowerCase();return w.every(x=>s.includes(x));}).slice(0,20);
for(const e of hits){const a=document.createElement('a');a.href=e.page+(e.anchor?'#'+e.anchor:'');a.textContent=e.section+(e.section!==e.title?' ('+e.title+')':'');box.appendChild(a);}
if(!hits.length)box.textContent='no match';});})();
document.querySelectorAll('table').forEach(function(t){const th=[...t.querySelectorAll('thead th')].map(x=>x.textContent.trim());
if(th.indexOf('verdict')<0||t.querySelectorAll('tbody tr').length<10)return;const cols=['paper','verdict'].map(c=>th.indexOf(c)).filter(i=>i>=0);
const bar=document.createElement('div');bar.className='pb-filters';const sel=[];
for(const i of cols){const s=document.createElement('select');const vals=[...new Set([...t.querySelectorAll('tbody tr')].map(r=>r.cells[i]?r.cells[i].textContent.trim():''))].sort();
s.innerHTML='<option value="">every '+th[i]+'</option>'+vals.map(v=>'<option>'+v+'</option>').join('');s.dataset.col=i;sel.push(s);bar.appendChild(s);}
const n=document.createElement('span');bar.appendChild(n);
function apply(){let k=0;t.querySelectorAll('tbody tr').forEach(r=>{const ok=sel.every(s=>!s.value||(r.cells[s.dataset.col]&&r.cells[s.dataset.col].textContent.trim()===s.value));r.style.display=ok?'':'none';k+=ok;});n.textContent=' '+k+' rows';}
sel.forEach(s=>s.addEventListener('change',apply));apply();t.parentNode.insertBefore(bar,t);});
</script>"""

_CSS = """<style>
.pb-sidebar{position:fixed;top:0;left:0;bottom:0;width:250px;overflow-y:auto;padding:12px;background:#f7f7f9;border-right:1px solid #ddd;font:14px/1.4 sans-serif;box-sizing:border-box}
.pb-sidebar a{display:block;padding:2px 4px;color:#2c3e50;text-decoration:none}.pb-sidebar a:hover{background:#e8e8ee}
.pb-sidebar .pb-current{font-weight:bold;background:#e0e6f0}.pb-section{margin-top:10px;font-weight:bold;color:#666;text-transform:uppercase;font-size:11px}
.pb-home{font-size:18px;font-weight:bold}#pb-search{width:100%;box-sizing:border-box;margin:8px 0;padding:4px}#pb-results a{font-size:13px;border-bottom:1px solid #eee}
.pb-tocbox{position:fixed;top:0;right:0;bottom:0;width:220px;overflow-y:auto;padding:12px;font:13px/1.35 sans-serif;border-left:1px solid #eee;box-sizing:border-box;background:#fff}
.pb-tocbox a{display:block;color:#2c3e50;text-decoration:none;padding:1px 0}.pb-tocbox .pb-toc3{padding-left:12px;color:#555}
body{margin:0 230px 0 260px!important;padding:0 10px!important;min-width:0}main,.jp-Notebook{min-width:0;max-width:100%}
.jp-Cell,.jp-InputArea,.jp-OutputArea,.jp-OutputArea-child,.jp-OutputArea-output,.jp-InputArea-editor{min-width:0;max-width:100%}
.jp-OutputArea-output pre,pre{overflow-x:auto;max-width:100%}.jp-InputArea-editor pre,.jp-InputArea-editor .highlight pre{white-space:pre-wrap;overflow-wrap:anywhere}
.jp-OutputArea-output{overflow-x:auto}.jp-RenderedHTMLCommon table{display:block;overflow-x:auto;max-width:100%}
.pb-sig{white-space:pre-wrap;background:#f4f6f8;border-left:3px solid #8aa;padding:6px 10px}
.pb-api{border:1px solid #ddd;border-radius:6px;padding:4px 14px 10px;margin:14px 0;box-shadow:0 1px 2px #0001}
.jp-RenderedHTMLCommon table.pb-params{display:table;width:100%;font-size:13px}.pb-params td,.pb-params th{text-align:left!important;vertical-align:top}
h1+p{font-size:1.1em;color:#555}.pb-prevnext{display:flex;justify-content:space-between;margin:30px 0 20px;padding-top:10px;border-top:1px solid #ddd;font:14px sans-serif}
.pb-prevnext a{text-decoration:none}.pb-next{margin-left:auto}.pb-filters{margin:6px 0;font:13px sans-serif}.pb-filters select{margin-right:8px}
.pb-scorecard table{font-size:14px}math[display=block]{margin:10px 0}
@media (max-width:1100px){.pb-tocbox{display:none}body{margin-right:0!important}}
</style>"""


def local_links(body:str, host:str, pages:dict)->str:
    "nbdev's links to the published site (`host/<output-file>#sym`) as links to these pages."
    if not host: return body
    pat = re.compile(re.escape(host.rstrip('/')) + r'/([\w.-]+\.html)')
    return pat.sub(lambda m: pages.get(m.group(1), m.group(1)), body)


def render_page(nb, stem:str, items:list, order:list, t:dict, host:str='', pages:dict|None=None)->tuple[str, list]:
    "One page's HTML and its search entries."
    body, _ = exporter().from_notebook_node(prepare_cells(nb), resources={'metadata': {'name': t[stem][0]}})
    body = local_links(body, host, pages or {})
    hs = headings(body)
    body = body.replace('</head>', _CSS + '\n</head>', 1)
    body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + '\n' + nav(stem, items, t) + toc(hs), body, count=1)
    body = body.replace('</body>', prev_next(stem, order, t) + _JS + '\n</body>', 1)
    return body, search_entries(stem, t[stem][0], body)


HTML_MANAGER = Path(__file__).resolve().parent/'assets'/'html-manager'  # @jupyter-widgets/html-manager 1.0.15, dist/embed.js
HTML_MANAGER_SHA256 = '8f6d2d3f856d8595d1841dec3019d99bbe74d331f2a5178c2a33bfec729e3d6a'


def copy_widget_manager(out:Path):
    "The pinned widget manager (and its licenses) into `out/widgets/`, checked against its recorded sha256 first."
    import hashlib
    js = HTML_MANAGER/'embed.js'
    if hashlib.sha256(js.read_bytes()).hexdigest() != HTML_MANAGER_SHA256:
        raise RuntimeError(f"{js.name}: its sha256 differs from the pinned html-manager's (see {HTML_MANAGER.name}/README.md)")
    (out/'widgets').mkdir(exist_ok=True)
    for f in ('embed.js', 'embed.js.LICENSE.txt', 'LICENSE'): shutil.copyfile(HTML_MANAGER/f, out/'widgets'/f)


def render_site(proc:Path, out:Path, sidebar_yml:Path, host:str=''):
    "Every processed notebook in `proc` as a page in `out`, with sidebar, TOC, previous / next and the search index."
    import nbformat
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = titles(proc)
    items = sidebar_items(sidebar_yml, list(t))
    order = [n for _, names in items for n in names] + sorted(n for n in t if not any(n in names for _, names in items))
    pages = {v[2]: f'{k}.html' for k, v in t.items() if v[2]}
    index = []
    for stem in order:
        nb = nbformat.read(str(proc/f'{stem}.ipynb'), as_version=4)
        body, entries = render_page(nb, stem, items, order, t, host, pages)
        (out/f'{stem}.html').write_text(body)
        index += entries
    (out/'search.json').write_text(json.dumps(index))
    (out/'search.js').write_text('const PB_INDEX = ' + json.dumps(index) + ';\n')
    if (proc/'styles.css').exists(): shutil.copyfile(proc/'styles.css', out/'styles.css')
    copy_widget_manager(out)
