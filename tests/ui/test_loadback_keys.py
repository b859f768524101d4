"""Browser tests: keyboard shortcuts (space = Run/Pause, arrows = Step/Back), a downloaded
run uploaded back through the page, and the Learning rules and Jets tabs (served from the test
app tests/ui/app_lazy_tabs.py): their plots show their data."""

import re
import subprocess
import sys
import time
import urllib.request

import pytest
from bokeh_checks import VISIBLE_PLOTS, range_problems
from test_dashboard import (  # noqa: F401
    ROOT,
    _free_port,
    readout,
    server,
    wait_for_readout,
    watch_errors,
)

pytestmark = pytest.mark.ui


def open_page(browser, url):
    """The dashboard at ``url``, its session drawn and its keyboard shortcuts listening (the
    listener is rendered after the page's first paint: a key pressed before it is lost)."""
    pg = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    pg.errors = []
    watch_errors(pg, pg.errors)
    pg.goto(url, timeout=120_000)
    readout(pg)
    pg.wait_for_function("() => document.documentElement.dataset.shortcuts === 'on'",
                         timeout=60_000)
    return pg


def test_arrow_keys_step_and_space_runs_and_pauses(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=digits-mlp&speed=20")
    page.locator("body").click(position={"x": 900, "y": 5})  # focus the page, not a widget
    page.keyboard.press("ArrowRight")
    wait_for_readout(page, lambda r: r[0] == 1)
    page.keyboard.press("ArrowRight")
    wait_for_readout(page, lambda r: r[0] == 2)
    page.keyboard.press("ArrowLeft")
    assert wait_for_readout(page, lambda r: r[0] == 1)[0] == 1
    page.keyboard.press(" ")
    wait_for_readout(page, lambda r: r[0] >= 4)  # Run animates
    page.keyboard.press(" ")
    page.wait_for_timeout(600)  # frames in flight land
    t = readout(page)[0]
    page.wait_for_timeout(600)  # Run at 20 steps/s would move 12 steps
    assert readout(page)[0] == t < 100, "space did not pause Run"
    # keys typed into a text field are the field's, not shortcuts
    field = page.locator("input[type=text]:visible").first
    field.click()
    field.press("ArrowRight")
    field.press("ArrowLeft")
    page.wait_for_timeout(300)
    assert readout(page)[0] == t
    assert page.errors == [], page.errors
    page.close()


def test_downloaded_run_uploaded_back_restores_the_view(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=digits-cnn&sample=5&code=ttfs&timesteps=60")
    page.locator("body").click(position={"x": 900, "y": 5})
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    t, T, spikes = wait_for_readout(page, lambda r: r[0] == 7)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Download run").click()
    data = open(dl.value.path(), "rb").read()
    page.close()

    # a fresh page on other choices (the model switch is covered by the server-side test)
    fresh = open_page(browser, server + "?model=digits-cnn&code=rate&sample=0")
    assert readout(fresh)[:2] == (0, 100)
    fresh.locator("input[type=file]").first.set_input_files(files=[{
        "name": "my-run.npz", "mimeType": "application/octet-stream", "buffer": data}])
    fresh.get_by_text(re.compile(r"my-run\.npz\W*run restored.*equals the stored recording")) \
        .first.wait_for(timeout=60_000)
    assert wait_for_readout(fresh, lambda r: r[0] == 7) == (t, T, spikes)
    fresh.wait_for_function("() => window.location.search.includes('code=ttfs')",
                            timeout=30_000)
    assert "sample=5" in fresh.url and "t=7" in fresh.url
    assert fresh.errors == [], fresh.errors
    fresh.close()


@pytest.fixture(scope="module")
def tabs_server():
    """`panel serve tests/ui/app_lazy_tabs.py` on a free port (as test_dashboard's server)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "panel", "serve", "tests/ui/app_lazy_tabs.py", "--port",
         str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/bokeh.min.js", timeout=5)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("panel serve exited: " + proc.stdout.read()) from None
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/app_lazy_tabs"
    proc.terminate()
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:  # a training thread holds it: nothing to keep
        proc.kill()
        proc.wait()


def shown_plots(page, n: int, timeout: float = 60.0) -> list[dict]:
    """The page's visible Bokeh plots, once there are ``n`` of them."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        plots = page.evaluate(VISIBLE_PLOTS)
        if len(plots) >= n:
            return plots
        page.wait_for_timeout(300)
    raise AssertionError(f"{n} plots expected, {len(plots)} shown: {[p['title'] for p in plots]}")


def test_learning_rules_and_jets_tabs_show_their_plots(browser, tabs_server):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.errors = []
    watch_errors(page, page.errors)
    page.goto(tabs_server, timeout=120_000)
    before = len(shown_plots(page, 2))  # the encoder explorer's two plots
    page.get_by_role("button", name="Train and compare").click()
    page.get_by_text("mean cosine to BPTT").first.wait_for(timeout=120_000)
    plots = shown_plots(page, before + 3)
    titles = [p["title"] for p in plots]
    assert any(t.startswith("cosine of w_in") for t in titles), titles
    assert any("Manhattan" in t for t in titles), titles
    for p in plots:
        assert range_problems(p) == [], (p["title"], range_problems(p))
    page.get_by_text("Jets", exact=True).first.click()
    page.get_by_text("SYNTHETIC stand-in data (not real jets)").first.wait_for(timeout=120_000)
    plots = shown_plots(page, 4)
    assert any(p["title"].startswith("SNN, 100 steps") for p in plots), [p["title"] for p in plots]
    for p in plots:
        assert range_problems(p) == [], (p["title"], range_problems(p))
    assert page.errors == [], page.errors
    page.close()
