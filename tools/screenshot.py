"""Screenshot pages of the built docs in headless Chromium, to check by eye that the figures are on them.

    python tools/screenshot.py                      # every page of _docs/ -> _docs/screenshots/<page>.png
    python tools/screenshot.py 11_fmd_transfer 90_results --height 6000

Needs Debian's `chromium` (apt-get install chromium). Also reports, per page, how many figures the HTML holds
and whether each one decodes as an image, so a page whose pictures are missing fails even without looking.
"""
from __future__ import annotations
import argparse, base64, io, re, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars']


def figures(page:Path)->tuple[int, int]:
    "(figures on the page, figures that decode as PNG images)."
    from PIL import Image
    srcs = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', page.read_text())
    ok = 0
    for s in srcs:
        try:
            Image.open(io.BytesIO(base64.b64decode(s))).verify()
            ok += 1
        except Exception: pass
    return len(srcs), ok


def shoot(page:Path, out:Path, width:int, height:int, browser:str):
    "One PNG of `page` as Chromium draws it."
    with tempfile.TemporaryDirectory() as prof:
        cmd = [browser, *FLAGS, f'--user-data-dir={prof}', f'--window-size={width},{height}', f'--screenshot={out}', page.resolve().as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not out.exists(): raise RuntimeError(f'{page.name}: chromium wrote no screenshot (exit {r.returncode}): {r.stderr[-500:]}')


def main(argv=None)->int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('pages', nargs='*', help='page names without .html (default: every page)')
    ap.add_argument('--docs', default=str(ROOT/'_docs'))
    ap.add_argument('--width', type=int, default=1280)
    ap.add_argument('--height', type=int, default=3000)
    args = ap.parse_args(argv)
    browser = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    if browser is None:
        print('screenshot: no chromium on PATH (Debian: apt-get install chromium)', file=sys.stderr)
        return 2
    docs = Path(args.docs)
    pages = [docs/f'{p}.html' for p in args.pages] if args.pages else sorted(docs.glob('*.html'))
    shots = docs/'screenshots'
    shots.mkdir(exist_ok=True)
    bad = 0
    for page in pages:
        if not page.exists():
            print(f'{page.name}: missing')
            bad += 1
            continue
        n, ok = figures(page)
        shoot(page, shots/f'{page.stem}.png', args.width, args.height, browser)
        print(f'{page.stem}: {n} figures ({ok} decode) -> {shots/page.stem}.png')
        bad += n != ok
    return 1 if bad else 0


if __name__ == '__main__': sys.exit(main())
