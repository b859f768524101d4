"""Browser tests: `panel serve app/` driven by Playwright with Debian's headless Chromium."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
READOUT = re.compile(r"t = (\d+) ms of (\d+) ms · (\d+) spikes so far")
WIDGET_VALUE = """(title) => {
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.title === title && m.value !== undefined) return m.value;
  return null;
}"""


def watch_errors(page, errors: list, prefix: str = "") -> None:
    """Append the page's console errors, uncaught exceptions and failed loads to ``errors``.

    No exception for external resources: the ``browser`` fixture aborts (and fails the test
    on) any request leaving 127.0.0.1, and a failed load of any kind is an error here.
    """
    page.on("console", lambda m: errors.append(f"{prefix}{m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"{prefix}{e}"))
    page.on("requestfailed", lambda r: errors.append(f"{prefix}failed to load {r.url}"))


def widget_value(page, title):
    """The value of the Bokeh widget titled ``title`` in the page."""
    return page.evaluate(WIDGET_VALUE, title)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        # -P: the packages come from the installed project, not from the working directory
        [sys.executable, "-P", "-m", "panel", "serve", "app/", "--port", str(port),
         "--num-threads", "2", "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:  # a static file: the app page itself can take > 2 s on a loaded machine
            urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/bokeh.min.js", timeout=5)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("panel serve exited: " + proc.stdout.read()) from None
            time.sleep(0.5)
    else:
        proc.kill()
        proc.wait()
        raise RuntimeError("panel serve did not answer within 120 s")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def page(server, browser):
    pg = browser.new_page(viewport={"width": 1500, "height": 1100})
    pg.errors = []
    watch_errors(pg, pg.errors)
    pg.goto(server + "?eval_samples=60&speed=100", timeout=120_000)
    readout(pg)  # waits until the websocket delivered the session's models
    yield pg
    pg.close()


def readout(page, timeout=60_000) -> tuple[int, int, int]:
    """(t ms, T ms, spikes so far) from the time readout."""
    loc = page.get_by_text(READOUT).first
    loc.wait_for(timeout=timeout)
    return tuple(int(v) for v in READOUT.search(loc.inner_text()).groups())


def open_page(browser, url, *, width: int = 1500, height: int = 1000):
    """A page of the dashboard at ``url`` once its session is drawn; console errors collect
    in ``page.errors``."""
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.errors = []
    watch_errors(pg, pg.errors)
    pg.goto(url, timeout=120_000)
    readout(pg)
    return pg


def wait_for_readout(page, pred, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = readout(page)
        if pred(r):
            return r
        page.wait_for_timeout(200)
    raise AssertionError(f"time readout stuck at {readout(page)}")


def lambdas(page) -> str:
    """The text of the lambda/rate table in the activity tab."""
    return page.locator("table").filter(has_text="mean rate (Hz)").first.inner_text(
        timeout=30_000)


def test_page_loads_without_console_errors(page):
    t, T, spikes = readout(page)
    assert (t, T, spikes) == (0, 100, 0)
    assert page.get_by_text("spikescope").first.is_visible()
    assert page.errors == [], f"console errors on load: {page.errors}"


def test_step_advances_time_and_adds_spikes(page):
    t0, _, s0 = readout(page)
    page.get_by_role("button", name="Step").click()
    t1, _, s1 = wait_for_readout(page, lambda r: r[0] > t0)
    assert t1 == t0 + 1 and s1 > s0, f"Step: t {t0}->{t1} ms, spikes {s0}->{s1}"
    for _ in range(4):
        page.get_by_role("button", name="Step").click()
    wait_for_readout(page, lambda r: r[0] == t1 + 4)
    assert page.errors == [], page.errors


def test_percentile_changes_lambdas_and_rates(page):
    page.get_by_text("Activity & normalization", exact=True).first.click()
    before = lambdas(page)
    handle = page.locator(".noUi-handle").nth(1)  # 0: time cursor, 1: percentile
    handle.focus()
    for _ in range(3):
        handle.press("ArrowLeft")
    deadline = time.time() + 30
    while lambdas(page) == before and time.time() < deadline:
        page.wait_for_timeout(200)
    page.wait_for_timeout(1500)  # let the last key presses settle
    after = lambdas(page)
    assert after != before, "lambda table did not change with the percentile"
    rows_b = [r.split("\t") for r in before.splitlines()[1:]]
    rows_a = [r.split("\t") for r in after.splitlines()[1:]]
    assert [r[1] for r in rows_b] != [r[1] for r in rows_a], "lambdas unchanged"
    assert [r[2] for r in rows_b] != [r[2] for r in rows_a], "rates unchanged"
    page.get_by_text("Simulation", exact=True).first.click()
    assert page.errors == [], page.errors


def test_switching_encoding_changes_the_raster(page):
    t, _, analog = readout(page)
    assert t > 0
    page.locator("select", has=page.locator("option", has_text="poisson")).first \
        .select_option("poisson")
    _, _, poisson = wait_for_readout(page, lambda r: r[2] != analog)
    assert poisson != analog
    page.locator("select", has=page.locator("option", has_text="poisson")).first \
        .select_option("analog")
    _, _, back = wait_for_readout(page, lambda r: r[2] != poisson)
    assert back != poisson
    assert page.errors == [], page.errors


def test_run_reaches_T_and_screenshot(page):
    page.get_by_role("button", name="Run", exact=True).click()
    page.mouse.move(700, 5)  # no tooltip in the screenshot
    t, T, _ = wait_for_readout(page, lambda r: r[0] == r[1], timeout=60)
    assert t == T == 100
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_after_run.png"), full_page=True)
    assert (ARTIFACTS / "dashboard_after_run.png").stat().st_size > 20_000
    assert page.errors == [], page.errors


CONFUSION_SUMS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.data === undefined || m.data === null) continue;
      const d = m.data;
      const get = (k) => (d instanceof Map ? d.get(k) : d[k]);
      const c = get('count');
      if (c !== undefined && get('share') !== undefined)
        out.push(Array.from(c).reduce((a, b) => a + Number(b), 0));
    }
  }
  return out;
}"""


def test_evaluation_fills_both_confusion_matrices(page):
    page.get_by_text("Evaluation", exact=True).first.click()
    page.get_by_role("button", name="Evaluate test set").click()
    page.get_by_text(re.compile(r"ANN accuracy .* SNN accuracy")).first.wait_for(
        timeout=120_000)
    page.wait_for_timeout(1000)
    sums = page.evaluate(CONFUSION_SUMS)
    assert len(sums) >= 2, f"expected two confusion matrices, found sources {sums}"
    assert sums[0] > 0 and sums[1] > 0, f"confusion matrices empty: {sums}"
    assert max(sums) == 60, f"confusion counts {sums} do not cover the 60 test samples"
    page.screenshot(path=str(ARTIFACTS / "dashboard_evaluation.png"), full_page=True)
    assert page.errors == [], page.errors
