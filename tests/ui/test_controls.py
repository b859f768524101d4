"""Browser tests of the controls: invalid choices go back with a message in words (and out of
the URL), Pause stops at the step on screen, and the pattern code shows its answer."""

from __future__ import annotations

import re
import time

import pytest
from bokeh_checks import VISIBLE_PLOTS, range_problems
from test_dashboard import (  # noqa: F401
    open_page,
    readout,
    server,
    wait_for_readout,
    watch_errors,
    widget_value,
)

pytestmark = pytest.mark.ui

ALERT = re.compile(r"does not work here|ignored URL parameter")
#: In the page: the step the time slider shows, then a click on Pause (one JS task, so the
#: value read is the one on screen at the click).
CLICK_PAUSE = """() => {
  let slider = null, pause = null;
  for (const v of Bokeh.index.query((v) => v.model !== undefined)) {
    if (v.model.title === 'Time cursor (steps)') slider = v.model;
    if (v.model.label === 'Pause' && v.button_el !== undefined) pause = v;
  }
  const shown = slider.value;
  pause.button_el.click();
  return shown;
}"""


def query(page) -> str:
    return page.evaluate("() => window.location.search")


def step_works(page) -> None:
    t0 = readout(page)[0]
    page.get_by_role("button", name="Step").click()
    wait_for_readout(page, lambda r: r[0] == t0 + 1)


def test_invalid_data_set_goes_back_with_a_message(browser, server):  # noqa: F811
    pg = open_page(browser, server)
    pg.locator("select", has=pg.locator("option", has_text="mnist1d")).first \
        .select_option("mnist1d")
    alert = pg.get_by_text(ALERT).first
    alert.wait_for(timeout=60_000)
    text = alert.inner_text()
    assert "digits-cnn does not take mnist1d samples" in text and "Back to dataset" in text, text
    assert "Error" not in text and "shape" not in text, f"raw exception in the alert: {text}"
    deadline = time.time() + 10
    while widget_value(pg, "Data set") != "digits" and time.time() < deadline:
        pg.wait_for_timeout(200)
    assert widget_value(pg, "Data set") == "digits", "the control kept the invalid data set"
    assert "mnist1d" not in query(pg), f"the URL kept the invalid value: {query(pg)}"
    step_works(pg)
    assert pg.errors == [], pg.errors
    pg.close()


def test_events_encoding_is_not_offered_for_static_digits(browser, server):  # noqa: F811
    pg = open_page(browser, server)
    sel = pg.locator("select", has=pg.locator("option", has_text="poisson")).first
    options = sel.locator("option").all_inner_texts()
    assert "analog" in options and "events" not in options, options
    pg.close()


def test_sample_out_of_range_in_the_url_is_refused_in_words(browser, server):  # noqa: F811
    pg = open_page(browser, server + "?sample=99999")
    alert = pg.get_by_text(ALERT).first
    alert.wait_for(timeout=60_000)
    assert "ignored URL parameter sample=99999: must be at most 359" in alert.inner_text()
    pg.wait_for_timeout(1000)
    assert "99999" not in query(pg), f"the URL kept the invalid value: {query(pg)}"
    assert widget_value(pg, "Test sample") == 0
    step_works(pg)
    assert pg.errors == [], pg.errors
    pg.close()


def test_pause_stops_at_the_step_on_screen(browser, server):  # noqa: F811
    pg = open_page(browser, server + "?speed=25")
    lags = []
    for _ in range(2):
        pg.get_by_role("button", name="Reset").click()
        wait_for_readout(pg, lambda r: r[0] == 0)
        pg.get_by_role("button", name="Run", exact=True).click()
        wait_for_readout(pg, lambda r: r[0] >= 15, timeout=60)
        shown = pg.evaluate(CLICK_PAUSE)
        pg.wait_for_timeout(2500)
        final = readout(pg)[0]
        lags.append(final - shown)
    assert all(0 <= lag <= 2 for lag in lags), (
        f"Pause took effect {lags} steps after the step on screen at the click")
    assert pg.errors == [], pg.errors
    pg.close()


def test_pattern_code_shows_membrane_evidence_and_an_answer(browser, server):  # noqa: F811
    pg = open_page(browser, server + "?code=pattern&speed=200")
    pg.get_by_role("button", name="Run", exact=True).click()
    t, T, _ = wait_for_readout(pg, lambda r: r[0] == r[1], timeout=90)
    headline = pg.get_by_text(re.compile(r"label \d+ · ANN says")).first.inner_text()
    assert re.search(r"SNN says \d+", headline) and "no spikes yet" not in headline, headline
    plots = [p for p in pg.evaluate(VISIBLE_PLOTS) if p["title"] == "Class evidence"]
    assert plots, "no class evidence plot"
    assert range_problems(plots[0]) == [], range_problems(plots[0])
    ys = [v for s in plots[0]["series"] for v in s["y"]]
    assert max(ys) - min(ys) > 1e-3, "class evidence is flat for the pattern code"
    assert pg.errors == [], pg.errors
    pg.close()


def test_url_restores_time_cursor_and_tab(browser, server):  # noqa: F811
    pg = open_page(browser, server)
    for _ in range(3):
        step_works(pg)
    pg.get_by_text("Evaluation", exact=True).first.click()
    pg.get_by_role("button", name="Evaluate test set").wait_for(timeout=30_000)
    deadline = time.time() + 10
    while "tab=2" not in query(pg) and time.time() < deadline:
        pg.wait_for_timeout(200)
    search = query(pg)
    assert "t=3" in search and "tab=2" in search, search
    fresh = open_page(browser, server + search)
    assert readout(fresh)[0] == 3, f"t not restored from {search}: {readout(fresh)}"
    fresh.get_by_role("button", name="Evaluate test set").wait_for(timeout=30_000)
    assert fresh.errors == [] and pg.errors == [], (fresh.errors, pg.errors)
    fresh.close()
    pg.close()


def test_ttfs_input_on_a_rate_network_says_so(browser, server):  # noqa: F811
    pg = open_page(browser, server + "?encoding=ttfs")
    pg.get_by_text(re.compile(r"ttfs input is meant for the ttfs code")).first.wait_for(
        timeout=30_000)
    pg.close()
