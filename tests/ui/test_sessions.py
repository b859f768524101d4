"""The served app under 20 concurrent browser sessions, each stepping its own network.

Loopback only, a bounded number of steps, stops by itself. Checks that states stay separate
(each page shows its own sample and time), nothing errors, and the server's memory per session
stays bounded; prints sessions, steps/s and MB per session.
"""

import time
from urllib.parse import urlparse

import psutil
import pytest
from conftest import block_external
from test_dashboard import READOUT, server, watch_errors, widget_value  # noqa: F401

pytestmark = pytest.mark.ui

N_SESSIONS = 20
#: server memory allowed per extra session (MB): a session holds a converted network, its
#: recording (bounded by widgets.session.MAX_*_CELLS) and the page's Bokeh models
MB_PER_SESSION = 60

def server_process(url) -> psutil.Process:
    port = str(urlparse(url).port)
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.Error:  # an exited child (e.g. a zombie from an earlier test)
            continue
        if "panel" in cmd and port in cmd:
            return p
    raise AssertionError(f"no panel serve process on port {port}")


def readout(page):
    loc = page.get_by_text(READOUT).first
    loc.wait_for(timeout=60_000)
    m = READOUT.search(loc.inner_text())
    assert m, f"unexpected time readout {loc.inner_text()!r}"
    return tuple(int(v) for v in m.groups())


def test_twenty_sessions_step_their_own_networks(server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    proc = server_process(server)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            # 20 pages of one browser: none is a throttled background tab
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows"])
        ctx = browser.new_context(viewport={"width": 1200, "height": 800})
        block_external(ctx)  # the autouse check in conftest fails the test on any
        pages, errors = [], []

        def open_page(i):
            pg = ctx.new_page()
            watch_errors(pg, errors, f"page {i}: ")
            pg.goto(f"{server}?model=digits-mlp&sample={i}&timesteps=50",
                    wait_until="commit", timeout=60_000)
            return pg

        pages.append(open_page(0))
        readout(pages[0])
        time.sleep(1.0)
        rss0 = proc.memory_info().rss
        t_open = time.perf_counter()
        pages += [open_page(i) for i in range(1, N_SESSIONS)]
        for pg in pages:
            assert readout(pg)[:2] == (0, 50)
        open_s = time.perf_counter() - t_open

        # every session steps its own network a different number of times, interleaved
        want = [1 + i % 5 for i in range(N_SESSIONS)]
        t0, cpu0 = time.perf_counter(), sum(proc.cpu_times()[:2])
        for k in range(max(want)):
            # one click per page and round, all pages at once; a page's next click waits
            # until its readout shows the previous step (clicks fired faster than the
            # server answers may coalesce, as a double click on one button would)
            active = [(i, pg) for i, (pg, n) in enumerate(zip(pages, want)) if k < n]
            for _, pg in active:
                # a DOM click without Playwright's per-click actionability waits
                pg.get_by_role("button", name="Step").dispatch_event("click")
            for _, pg in active:
                deadline = time.time() + 30
                while readout(pg)[0] < k + 1 and time.time() < deadline:
                    pg.wait_for_timeout(50)
        got = [readout(pg) for pg in pages]
        step_s = time.perf_counter() - t0
        cpu_s = sum(proc.cpu_times()[:2]) - cpu0
        rss1 = proc.memory_info().rss
        samples = [widget_value(pg, "Test sample") for pg in pages]
        browser.close()

    assert errors == [], errors[:5]
    assert [g[0] for g in got] == want, f"time readouts {[g[0] for g in got]} != {want}"
    assert samples == list(range(N_SESSIONS)), f"samples mixed up between sessions: {samples}"
    spikes = {g[2] for g in got}
    assert len(spikes) > N_SESSIONS // 2, f"sessions show the same spikes: {got}"
    mb = (rss1 - rss0) / 2**20 / (N_SESSIONS - 1)
    steps = sum(want)
    print(f"\n{N_SESSIONS} sessions: opened in {open_s:.1f} s "
          f"({(N_SESSIONS - 1) / open_s:.2f} sessions/s); {steps} steps in {step_s:.1f} s = "
          f"{steps / step_s:.1f} steps/s across sessions (server CPU {cpu_s:.1f} s, "
          f"{1000 * cpu_s / steps:.0f} ms per step); server RSS "
          f"{rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MB = {mb:.1f} MB per session")
    assert mb < MB_PER_SESSION, f"{mb:.1f} MB of server memory per session"
