"""An HTML export of notebook 01 (notebooks/export_html.py, `make export`) opened in Chromium
with every network request blocked shows its plots: a Bokeh canvas with data."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.notebook]

ROOT = Path(__file__).resolve().parents[2]
PLOTS_WITH_DATA = """() => {
  if (!window.Bokeh || !Bokeh.documents) return -1;
  let n = 0;
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.renderers && m.x_range && m.renderers.some(r => r.data_source && r.data_source.data
            && Object.values(r.data_source.data).some(c => c && c.length > 1))) n += 1;
  return n;
}"""


def test_export_of_notebook_01_shows_plots_offline(tmp_path):
    from playwright.sync_api import sync_playwright

    subprocess.run([sys.executable, str(ROOT / "notebooks" / "export_html.py"), str(tmp_path),
                    str(ROOT / "notebooks" / "01_one_neuron.ipynb")], check=True,
                   capture_output=True, timeout=400)
    page_file = tmp_path / "01_one_neuron.html"
    requested = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()

        def route(r):
            if r.request.url.startswith(("file://", "data:", "blob:")):
                r.continue_()
            else:
                requested.append(r.request.url)
                r.abort()
        page.route("**/*", route)
        page.goto(page_file.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                               timeout=60_000)
        deadline = time.time() + 30
        while page.evaluate(PLOTS_WITH_DATA) < 2 and time.time() < deadline:
            time.sleep(0.5)
        n = page.evaluate(PLOTS_WITH_DATA)
        canvases = page.locator(".bk-Canvas, canvas").count()
        browser.close()
    assert n >= 2, f"{n} Bokeh plots with data in the offline export"
    assert canvases > 0, "no canvas drawn"
    assert not requested, f"the export fetched {requested}"
