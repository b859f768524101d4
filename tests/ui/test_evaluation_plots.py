"""Browser tests of the Evaluation tab: after an evaluation every plot shows its data (checked
through BokehJS in the page), and a click on a curve moves the time cursor."""

from __future__ import annotations

import re

import pytest
from bokeh_checks import DATA_TO_PAGE, SCROLL_TO_PLOT, VISIBLE_PLOTS, range_problems
from test_dashboard import ARTIFACTS, readout, server, wait_for_readout, watch_errors  # noqa: F401

pytestmark = pytest.mark.ui

EVAL_TITLES = ("SNN accuracy vs time (dashed: ANN)", "Error vs synaptic operations per sample",
               "Accuracy vs energy on Loihi", "Energy-delay product vs time",
               "Accuracy vs EDP on Loihi", "Energy per inference at T (all platforms)")


@pytest.fixture(scope="module")
def evaluated(server, browser):  # noqa: F811
    """A page on the Evaluation tab, before (``.before``) and after an evaluation."""
    pg = browser.new_page(viewport={"width": 1600, "height": 1000})
    pg.errors = []
    watch_errors(pg, pg.errors)
    pg.goto(server + "?eval_samples=60", timeout=120_000)
    readout(pg)
    pg.get_by_text("Evaluation", exact=True).first.click()
    pg.get_by_role("button", name="Evaluate test set").wait_for(timeout=30_000)
    pg.wait_for_timeout(1500)
    pg.before = pg.evaluate(VISIBLE_PLOTS)
    pg.get_by_role("button", name="Evaluate test set").click()
    pg.get_by_text(re.compile(r"ANN accuracy .* SNN accuracy")).first.wait_for(
        timeout=120_000)
    pg.wait_for_timeout(1500)
    yield pg
    pg.close()


def test_every_evaluation_plot_shows_its_data(evaluated):
    plots = {p["title"]: p for p in evaluated.evaluate(VISIBLE_PLOTS)}
    missing = [t for t in EVAL_TITLES if t not in plots]
    assert not missing, f"plots not on the Evaluation tab: {missing}; found {list(plots)}"
    problems = [msg for p in plots.values() for msg in range_problems(p)]
    assert not problems, "plots that do not show their data:\n" + "\n".join(problems)
    bars = plots["Energy per inference at T (all platforms)"]
    n_platforms = bars["y"]["end"]  # categorical axis: one factor per platform
    ends = sum(len(s["x"]) for s in bars["series"] if s["glyph"] == "HBar") - 1  # - the left
    assert n_platforms >= 10 and ends == n_platforms, (
        f"energy bars: {ends} finite bars for {n_platforms} platforms: {bars}")
    # accuracy vs EDP: the SNN per step, its Pareto front and the ANN's point (one star)
    pareto = [len(s["x"]) for s in plots["Accuracy vs EDP on Loihi"]["series"]]
    assert len(pareto) >= 4 and pareto[-1] == 1 and min(pareto) >= 1, (
        f"accuracy vs EDP series (SNN line, SNN points, front, ANN): {pareto}")
    for t in EVAL_TITLES:  # squashed by rotated labels before: about 100 px of plot
        assert plots[t]["height"] >= 250, f"{t!r} is only {plots[t]['height']:.0f} px high"
    assert evaluated.errors == [], evaluated.errors


def test_no_log_axis_starts_at_or_below_zero_before_an_evaluation(evaluated):
    for p in evaluated.before:
        for ax in ("x", "y"):
            r = p[ax]
            if r["numeric"] and r["log"]:
                assert r["start"] is not None and r["start"] > 0, (
                    f"{p['title']!r}: log {ax} axis starts at {r['start']} before an evaluation")


def click_at(page, title: str, x: float, y: float) -> None:
    assert page.evaluate(SCROLL_TO_PLOT, title), f"no visible plot titled {title!r}"
    page.wait_for_timeout(300)
    xy = page.evaluate(DATA_TO_PAGE, [title, x, y])
    assert xy is not None, f"no visible plot titled {title!r}"
    page.mouse.click(*xy)


@pytest.mark.parametrize("title, x_ms, y", [
    ("SNN accuracy vs time (dashed: ANN)", 40, 50),
    ("Energy-delay product vs time", 70, None),
])
def test_click_on_a_curve_moves_the_time_cursor(evaluated, title, x_ms, y):
    if y is None:  # the middle of the visible (log) EDP range
        p = next(p for p in evaluated.evaluate(VISIBLE_PLOTS) if p["title"] == title)
        y = (p["y"]["start"] * p["y"]["end"]) ** 0.5
    before = readout(evaluated)[0]
    assert before != x_ms
    click_at(evaluated, title, x_ms, y)
    t, _, _ = wait_for_readout(evaluated, lambda r: r[0] != before, timeout=15)
    assert abs(t - x_ms) <= 1, f"click at {x_ms} ms on {title!r} set the cursor to {t} ms"
    assert evaluated.errors == [], evaluated.errors


def test_screenshot_of_the_evaluation_tab(evaluated):
    ARTIFACTS.mkdir(exist_ok=True)
    evaluated.evaluate(SCROLL_TO_PLOT, "Accuracy vs energy on Loihi")
    evaluated.mouse.move(5, 500)
    path = ARTIFACTS / "evaluation_tab.png"
    evaluated.screenshot(path=str(path))
    assert path.stat().st_size > 20_000
