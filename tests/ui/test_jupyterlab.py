"""The teaching notebooks in a real JupyterLab 4, offline, driven by Playwright + Chromium.

For every notebook: open it, Run All, assert that no cell has an error output, that no request
left 127.0.0.1 (every other request is aborted: a CDN load fails the test), that every live
Bokeh plot has data, that a slider and the kernel agree after Run All, and that a drag of one
slider changes both the plot and the kernel's value (read back with a probe execution), and
that tqdm progress bars render as widgets (no "IProgress not found" text).

This test executes every notebook top to bottom, so `make test` does not run nbmake on them.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.notebook]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TOKEN = "spikescope-test"

# notebook -> (title of the slider to drag, expression giving the kernel's value of it)
SLIDERS = {
    "00_index.ipynb": None,
    "01_one_neuron.ipynb": ("input current", "current.value"),
    "02_ann_to_snn.ipynb": ("percentile p", "p_slider.value"),
    "03_spike_codes.ipynb": ("steps T", "T_w.value"),
    "04_energy_delay.ipynb": ("lead k", "k_w.value"),
    "05_event_cameras.ipynb": ("contrast threshold", "c_slider.value"),
    "06_dashboard.ipynb": ("Time cursor", "session.t"),
    "07_learning_rules.ipynb": ("Threshold", "explorer.threshold"),
    "08_jet_tagging.ipynb": ("SNN time steps t", "view.t"),
}

# notebooks that show a tqdm progress bar: it must render as an ipywidget
PROGRESS = {"07_learning_rules.ipynb"}

CELLS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.model) return null;
  const cells = w.content.model.cells, out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    const errors = c.outputs.toJSON().filter(o => o.output_type === 'error')
                    .map(o => `${o.ename}: ${o.evalue}`);
    // tqdm without a working ipywidgets prints "IProgress not found" (a TqdmWarning)
    const text = JSON.stringify(c.outputs.toJSON());
    out.push({count: c.executionCount, errors, iprogress: text.includes('IProgress not found'),
              widgets: c.outputs.toJSON().filter(
                o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length});
  }
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return {status: k ? k.status : 'none', cells: out};
}"""

PROBE = """async (expr) => {
  // user_expressions, not print: Panel may capture stdout of a kernel that runs callbacks
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const f = k.requestExecute({code: '', silent: true, store_history: false,
                              user_expressions: {v: expr}});
  const reply = await f.done;
  const v = reply.content.user_expressions.v;
  if (v.status !== 'ok') return `ERROR ${v.ename}: ${v.evalue}`;
  return v.data['text/plain'];
}"""

# per plot (a Bokeh model with renderers and ranges): how many data points its renderers hold,
# and a fingerprint of the data (to see that a plot changed)
PLOTS = """() => {
  const out = [];
  if (!window.Bokeh || !Bokeh.documents) return out;
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values()) {
      if (!m.renderers || !m.x_range || !m.y_range) continue;
      let n = 0, sum = 0;
      for (const r of m.renderers) {
        const ds = r.data_source;
        if (!ds || !ds.data) continue;
        for (const key of Object.keys(ds.data)) {
          const col = ds.data[key];
          if (!col || col.length === undefined) continue;
          n = Math.max(n, col.length);
          for (let i = 0; i < Math.min(col.length, 5000); i++)
            if (typeof col[i] === 'number' && isFinite(col[i])) sum += col[i] * ((i % 7) + 1);
            else if (col[i] && col[i].length !== undefined && typeof col[i][0] === 'number')
              for (let j = 0; j < Math.min(col[i].length, 5000); j++)
                if (isFinite(col[i][j])) sum += col[i][j] * ((j % 5) + 1);
        }
      }
      // annotations drawn on the plot: a time cursor (Span) moves with the kernel's t
      for (const a of (m.center || []).concat(m.renderers))
        if (a && typeof a.location === 'number') sum += a.location * 1e-3;
      const title = m.title && m.title.text !== undefined ? m.title.text : '';
      out.push({id: m.id, n, sum, title});
    }
  return out;
}"""

WIDGET_VALUE = """(title) => {
  let found = null;
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (typeof m.title === 'string' && m.title.startsWith(title) && m.value !== undefined)
        found = m.value;
  return found;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook_names():
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free port over a copy of notebooks/ (the test never rewrites them)."""
    work = tmp_path_factory.mktemp("lab")
    nbdir = work / "notebooks"
    shutil.copytree(NOTEBOOKS, nbdir, ignore=shutil.ignore_patterns(
        ".ipynb_checkpoints", "__pycache__", "_pending"))
    settings = work / "settings"
    for plugin, value in [("@jupyterlab/docmanager-extension/plugin", {"autosave": False}),
                          ("@jupyterlab/apputils-extension/notification",
                           {"fetchNews": "false", "checkForUpdates": False})]:
        f = settings / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    port = _free_port()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"), PYTHONUNBUFFERED="1")
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser",
         f"--IdentityProvider.token={TOKEN}", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.root_dir={nbdir}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--ServerApp.port_retries=0"],
        cwd=nbdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + (work / "lab.log").read_text())
            time.sleep(0.5)
    yield base, work
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()



def shutdown_kernels(base: str) -> None:
    """Stop every kernel of the server (one notebook at a time on 2 cores)."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={TOKEN}", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={TOKEN}",
                                     method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def block_network(page, blocked: list) -> None:
    """Abort every request that does not go to 127.0.0.1 and remember it."""
    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()
    page.route("**/*", route)


def run_all(page, name: str, timeout_s: float = 420) -> dict:
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           ".kernel.status === 'idle'", timeout=120_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.time() + timeout_s
    state = None
    while time.time() < deadline:
        time.sleep(1.0)
        state = page.evaluate(CELLS)
        if state is None:
            continue
        errors = [e for c in state["cells"] for e in c["errors"]]
        if errors:
            return state
        if state["status"] == "idle" and all(c["count"] for c in state["cells"]):
            return state
    pytest.fail(f"{name}: Run All did not finish in {timeout_s:.0f} s; last state {state}")


def probe(page, expr: str) -> str:
    out = page.evaluate(PROBE, expr).strip()
    assert not out.startswith("ERROR"), out
    return out


SLIDER_RANGE = """(title) => {
  let found = null;
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (typeof m.title === 'string' && m.title.startsWith(title) && m.value !== undefined)
        found = [m.start, m.end, m.value];
  return found;
}"""


def drag_slider(page, title: str, dx: int = 90) -> None:
    """Drag the slider's handle with the mouse (many intermediate values, then release),
    towards the side with more room; fail if the slider did not move."""
    group = page.locator(".bk-input-group", has=page.locator(".bk-slider-title",
                                                             has_text=title)).first
    handle = group.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    time.sleep(1.0)  # let the outputs above settle before measuring
    lo, hi, value = page.evaluate(SLIDER_RANGE, title)
    direction = 1 if value < (lo + hi) / 2 else -1
    handle.hover()  # Playwright waits until the handle is stable and really under the mouse
    box = handle.bounding_box()
    assert box, f"slider {title!r} is not visible"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 10):
        page.mouse.move(x + direction * dx * i / 9, y, steps=2)
        time.sleep(0.03)
    page.mouse.up()
    time.sleep(0.3)
    assert page.evaluate(WIDGET_VALUE, title) != value, f"the drag did not move {title!r}"


def settle(page, expr: str, title: str, timeout_s: float = 20) -> tuple:
    """Wait until the kernel's value and the slider's agree; return both (last seen)."""
    deadline = time.time() + timeout_s
    while True:
        kernel = float(probe(page, expr))
        shown = page.evaluate(WIDGET_VALUE, title)
        if shown is not None and abs(kernel - float(shown)) < 1e-9:
            return kernel, shown
        if time.time() > deadline:
            return kernel, shown
        time.sleep(0.5)


# Panel's CommManager in the page (one per output): changes the browser has not yet sent to
# the kernel, and whether it waits for the kernel's acknowledgement of the last batch
UNSENT = """() => {
  let n = 0, blocked = 0;
  if (!window.Bokeh) return [0, 0];
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (Array.isArray(m._event_buffer)) {
        n += m._event_buffer.length;
        // blocked until the kernel acknowledges, or until its timeout (then the next change
        // goes out anyway)
        blocked += !!m._blocked && Date.now() <= m._timeout;
      }
  return [n, blocked];
}"""


def wait_browser_sent(page, name: str, when: str, timeout_s: float = 30) -> None:
    """Wait until no output holds changes it has not sent to the kernel (Panel's CommManager
    sends a batch, then waits for the kernel's acknowledgement before the next)."""
    deadline = time.time() + timeout_s
    while True:
        unsent, blocked = page.evaluate(UNSENT)
        if not unsent and not blocked:
            return
        if time.time() > deadline:
            pytest.fail(f"{name}: {when}, after {timeout_s:.0f} s the page still holds {unsent} "
                        f"changes not sent to the kernel ({blocked} outputs wait for an "
                        "acknowledgement)")
        time.sleep(0.25)


def wait_comms_ready(page, name: str, timeout_s: float = 60) -> None:
    """Wait until the kernel has sent the browser all its state: every Panel output's comm is
    open and no update waits in ``_classroom``'s queue. In Run All the cells after a display
    run before the browser has rendered it; until its comm opens, the kernel's updates wait."""
    deadline = time.time() + timeout_s
    while probe(page, "__import__('_classroom').comms_ready()") != "True":
        if time.time() > deadline:
            pytest.fail(f"{name}: {timeout_s:.0f} s after Run All a Panel output's comm is "
                        "still closed or updates still wait to be sent")
        time.sleep(0.25)


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_in_jupyterlab(lab, browser, name):
    base, work = lab
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    blocked, page_errors = [], []
    block_network(page, blocked)
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    t0 = time.time()
    try:
        # a workspace of its own: JupyterLab does not reopen the notebooks of earlier tests
        page.goto(f"{base}/lab/workspaces/{name[:2]}/tree/{name}?token={TOKEN}",
                  wait_until="domcontentloaded")
        state = run_all(page, name)
        errors = [e for c in state["cells"] for e in c["errors"]]
        assert not errors, f"{name}: error output {errors}"
        ran = time.time() - t0
        assert not blocked, f"{name}: requests outside 127.0.0.1 (offline classroom): {blocked}"
        iprogress = [i for i, c in enumerate(state["cells"]) if c["iprogress"]]
        assert not iprogress, f"{name}: 'IProgress not found' in code cells {iprogress} (tqdm " \
                              "fell back to text: ipywidgets missing in the kernel)"
        if name in PROGRESS:
            assert any(c["widgets"] for c in state["cells"]), \
                f"{name}: the tqdm progress bar is not an ipywidget output"
            bar = page.locator(".jp-OutputArea .widget-hprogress").first
            bar.wait_for(state="attached", timeout=30_000)  # rendered by jupyterlab_widgets

        slider = SLIDERS.get(name)
        if slider is None:
            return
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                               timeout=30_000)
        wait_comms_ready(page, name)
        wait_browser_sent(page, name, "after Run All")
        plots = page.evaluate(PLOTS)
        assert plots and any(p["n"] > 0 for p in plots), f"{name}: no Bokeh plot with data"
        assert page.locator(".bk-Canvas, canvas").count() > 0, f"{name}: no canvas rendered"

        title, expr = slider
        kernel0, shown0 = settle(page, expr, title)
        assert shown0 is not None, f"{name}: no slider titled {title!r}"
        assert kernel0 == pytest.approx(float(shown0)), \
            f"{name}: after Run All the slider shows {shown0} but the kernel holds {kernel0}"
        before = {p["id"]: (p["n"], p["sum"]) for p in page.evaluate(PLOTS)}

        drag_slider(page, title)
        wait_browser_sent(page, name, "after the drag")  # a drag lost in the page fails here
        kernel1, shown1 = settle(page, expr, title)
        assert kernel1 != pytest.approx(kernel0), f"{name}: the drag did not reach the kernel"
        assert kernel1 == pytest.approx(float(shown1)), \
            f"{name}: after a drag the slider shows {shown1} but the kernel holds {kernel1}"
        deadline = time.time() + 90  # a re-run on release can take a while on a busy CPU
        while True:
            after = {p["id"]: (p["n"], p["sum"]) for p in page.evaluate(PLOTS)}
            if after != before or time.time() > deadline:
                break
            time.sleep(0.5)
        assert after != before, f"{name}: no plot changed after moving {title!r}"
        assert not blocked, f"{name}: requests outside 127.0.0.1: {blocked}"
        assert not page_errors, f"{name}: page errors {page_errors}"
        print(f"{name}: Run All {ran:.0f} s, {len(plots)} plots, {title} {kernel0} -> {kernel1}")
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"lab-{name}.png"), full_page=False)
        raise
    finally:
        ctx.close()
        shutdown_kernels(base)
