"""Static HTML copies of the notebooks for students, readable with no network at all.

    python notebooks/export_html.py OUT_DIR [NOTEBOOK ...]   (default: every numbered notebook)

Each notebook is executed (``_classroom.setup()`` puts the Bokeh/HoloViews/Panel JavaScript
inline in its outputs) and written as HTML. nbconvert's page template would load require.js and
MathJax from cdnjs: both tags are removed (nothing in the page needs require.js), so the page
makes no outside request; the math then shows as its LaTeX source, as a note at the top says.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CDN_SCRIPT = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/[^"]*"[^>]*>\s*</script>')
NOTE = ('<div style="padding:4px 8px;background:#fff8e1;font:13px sans-serif">Offline copy: '
        'plots are embedded; math is shown as LaTeX source (no MathJax without a network). '
        'Widgets show their first state (no kernel).</div>')


def export(notebook: Path, out_dir: Path, timeout: int = 600) -> Path:
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(notebook, as_version=4)
    ExecutePreprocessor(timeout=timeout).preprocess(nb, {"metadata": {"path": str(HERE)}})
    html, _ = HTMLExporter().from_notebook_node(nb)
    html = CDN_SCRIPT.sub("", html)
    html = re.sub(r"(<body[^>]*>)", r"\1" + NOTE, html, count=1)
    leftover = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html)
    if leftover:
        raise RuntimeError(f"{notebook.name}: the page would still fetch {leftover}")
    out = out_dir / (notebook.stem + ".html")
    out.write_text(html, encoding="utf-8")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("notebooks", nargs="*", type=Path)
    a = ap.parse_args(argv)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    for nb in a.notebooks or sorted(HERE.glob("[0-9][0-9]_*.ipynb")):
        print("wrote", export(nb.resolve(), a.out_dir), file=sys.stderr)


if __name__ == "__main__":
    main()
