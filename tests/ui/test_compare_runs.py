"""Browser test of the run comparison (issue 19): pin the rate code, switch to TTFS, and both
accuracy curves are on the plot with their labels (read through BokehJS: finite data inside
the plot's ranges); the URL of that view opened in a fresh page shows both again."""

from __future__ import annotations

import time

import pytest
from bokeh_checks import VISIBLE_PLOTS, range_problems
from test_dashboard import open_page, server  # noqa: F401

from widgets.compare import ACCURACY_TITLE

pytestmark = pytest.mark.ui

#: The legend entries of the visible plot whose title starts with the given text: each
#: entry's label and its renderers' finite data, with the plot's ranges.
LEGEND_DATA = """(prefix) => {
  for (const v of Bokeh.index.query((v) => v.model && v.model.title
                                    && typeof v.model.title.text === 'string'
                                    && v.model.title.text.startsWith(prefix))) {
    const box = v.el.getBoundingClientRect();
    if (!v.el.isConnected || box.width <= 0 || box.height <= 0) continue;
    const m = v.model;
    const finite = (col) => (col == null ? [] : [...col].filter(
      (x) => typeof x === 'number' && Number.isFinite(x)));
    const entries = [];
    for (const side of [m.center, m.right, m.left, m.above, m.below]) {
      for (const legend of side || []) {
        if (!legend.items) continue;
        for (const item of legend.items) {
          const l = item.label;
          const label = l == null ? '' : (typeof l === 'string' ? l : l.value);
          for (const r of item.renderers) {
            const d = r.data_source.data, g = r.glyph;
            const get = (k) => (d instanceof Map ? d.get(k) : d[k]);
            entries.push({label, x: finite(get(g.x.field)), y: finite(get(g.y.field))});
          }
        }
      }
    }
    return {title: m.title.text, x: [m.x_range.start, m.x_range.end],
            y: [m.y_range.start, m.y_range.end], entries};
  }
  return null;
}"""


def both_curves(page, labels, timeout=120.0) -> dict:
    """The accuracy comparison once it holds a curve with data for each of ``labels``."""
    deadline = time.time() + timeout
    plot = None
    while time.time() < deadline:
        plot = page.evaluate(LEGEND_DATA, ACCURACY_TITLE)
        if plot is not None and all(any(e["label"] == lab and e["x"] for e in plot["entries"])
                                    for lab in labels):
            return plot
        page.wait_for_timeout(500)
    raise AssertionError(f"no accuracy comparison with curves {labels}: {plot}")


def assert_visible(plot, labels) -> None:
    (x0, x1), (y0, y1) = sorted(plot["x"]), sorted(plot["y"])
    for lab in labels:
        entry = next(e for e in plot["entries"] if e["label"] == lab)
        assert len(entry["x"]) == len(entry["y"]) > 10, f"{lab}: {entry}"
        assert x0 <= min(entry["x"]) and max(entry["x"]) <= x1, (lab, plot["x"], entry["x"])
        assert y0 <= min(entry["y"]) and max(entry["y"]) <= y1, (lab, plot["y"], entry["y"])


def test_pin_rate_switch_to_ttfs_and_the_url_shows_both(browser, server):  # noqa: F811
    pg = open_page(browser, server + "?eval_samples=10&timesteps=40")
    pg.get_by_role("button", name="Pin run").click()
    pg.locator("select", has=pg.locator("option", has_text="ttfs-clamped")).first \
        .select_option("ttfs")
    pg.get_by_text("Compare runs", exact=True).first.click()
    pg.get_by_role("button", name="Evaluate both runs").click()
    labels = ("rate (pin 1)", "ttfs (live)")
    assert_visible(both_curves(pg, labels), labels)
    problems = [m for p in pg.evaluate(VISIBLE_PLOTS) for m in range_problems(p)]
    assert not problems, "comparison plots that do not show their data:\n" + "\n".join(problems)
    search = pg.evaluate("() => window.location.search")
    assert "pin=code%3Arate" in search and "code=ttfs" in search and "tab=6" in search, search

    fresh = open_page(browser, server + search)  # re-simulates and evaluates both
    assert_visible(both_curves(fresh, labels), labels)
    assert fresh.errors == [] and pg.errors == [], (fresh.errors, pg.errors)
    fresh.close()
    pg.close()
