"""Slider to all plots painted, in a real browser, beside a trivial Panel round trip.

One ``panel serve`` process serves the dashboard (``app/``) and a trivial Panel app (one
IntSlider and a Markdown pane echoing its value); headless Chromium opens both. For each
repeat the time cursor (dashboard) or the slider (trivial app) is set from the page as a
release of the slider would set it (``value`` and ``value_throttled``), and the page records
the time of every document change the server sends back. Latency = from the slider change to
the second animation frame after the last change from the server (the frame in which the
last update is painted), once no change has arrived for 0.5 s. Medians over the repeats; the
dashboard's is also given as a ratio to the trivial round trip measured in the same run, which
takes out the machine's load and the websocket's own cost.

Usage: python benchmarks/browser_latency.py [--repeats N] [--models digits-cnn digits-resnet]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TRIVIAL = textwrap.dedent("""
    import panel as pn
    pn.extension()
    s = pn.widgets.IntSlider(name="Trivial slider", start=0, end=100, value=0)
    pn.Column(s, pn.bind(lambda v: f"value {v}", s.param.value_throttled)).servable()
""")

#: Installs the change recorder on the page's Bokeh document (once).
HOOK = """() => {
  if (window.__changes) return true;
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  if (!doc) return false;
  window.__changes = [];
  doc.on_change(() => {
    const t = performance.now();
    window.__changes.push(t);
    const paint = () => { window.__painted = performance.now(); };
    requestAnimationFrame(() => requestAnimationFrame(paint));
  }, true);
  return true;
}"""

#: Sets the slider titled ``title`` to ``value`` as a release would; returns the start time.
SET = """([title, value]) => {
  const doc = Bokeh.documents[0];
  for (const m of doc.all_models) {
    if (m.title === title && "value_throttled" in m) {
      const t0 = performance.now();
      m.value = value; m.value_throttled = value;
      window.__changes = []; window.__painted = null;  // only the server's changes count
      return t0;
    }
  }
  throw new Error("no slider titled " + title);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(paths: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", *paths, "--port", str(port),
         "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/bokeh.min.js", timeout=5)
            return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("panel serve did not answer within 120 s")


def settle(page, t0: float, quiet_ms: float = 500, timeout_ms: float = 20_000) -> float:
    """Milliseconds from ``t0`` until the paint after the last server change."""
    start = time.time()
    while (time.time() - start) * 1000 < timeout_ms:
        state = page.evaluate("() => [window.__changes.length, window.__changes.at(-1) ?? 0, "
                              "window.__painted, performance.now()]")
        n, last, painted, now = state
        if n and painted is not None and painted >= last and now - last >= quiet_ms:
            return painted - t0
        page.wait_for_timeout(50)
    raise RuntimeError("no update arrived from the server")


def measure(page, title: str, values: list[int]) -> list[float]:
    out = []
    for v in values:
        t0 = page.evaluate(SET, [title, v])
        out.append(settle(page, t0))
    return out


def open_page(browser, url: str, ready: str):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url or
               r.request.url.startswith(("data:", "blob:")) else r.abort())
    page.goto(url, timeout=120_000)
    page.get_by_text(ready).first.wait_for(timeout=120_000)
    for _ in range(200):
        if page.evaluate(HOOK):
            break
        page.wait_for_timeout(100)
    return page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--models", nargs="+", default=["digits-cnn", "digits-resnet"])
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        trivial = pathlib.Path(d) / "trivial.py"
        trivial.write_text(TRIVIAL)
        proc, port = serve(["app/", str(trivial)])
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                values = [(7 * i) % 90 + 5 for i in range(args.repeats)]
                rows = []
                for tab, name in ((0, "Simulation"), (1, "Activity")):
                    for model in args.models:
                        base = open_page(browser, f"http://127.0.0.1:{port}/trivial",
                                         "Trivial slider")
                        dash = open_page(browser, f"http://127.0.0.1:{port}/app?model={model}"
                                         f"&tab={tab}", "Time cursor")
                        measure(dash, "Time cursor (steps)", [1, 2])  # warm up
                        measure(base, "Trivial slider", [1, 2])
                        trivial_ms, dash_ms = [], []
                        for v in values:  # interleaved: both see the same load
                            trivial_ms += measure(base, "Trivial slider", [v])
                            dash_ms += measure(dash, "Time cursor (steps)", [v])
                        rows.append((model, name, statistics.median(dash_ms),
                                     statistics.median(trivial_ms)))
                        base.close()
                        dash.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"slider -> all plots painted, browser, median of {args.repeats} "
          f"(load avg {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
    print("| model | tab | dashboard (ms) | trivial Panel round trip (ms) | ratio |")
    print("|---|---|---:|---:|---:|")
    for model, tab, d, t in rows:
        print(f"| {model} | {tab} | {d:.0f} | {t:.0f} | {d / t:.1f}x |")


if __name__ == "__main__":
    main()
