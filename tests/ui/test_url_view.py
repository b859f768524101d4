"""Browser test of the whole view in the URL (issue 19): the time cursor, the open tab and the
traced neurons set in one page come back in a fresh page opened from its URL; crafted
``traces`` and ``pin`` values are refused in words, shown as text and dropped from the URL."""

from __future__ import annotations

import time
import urllib.parse

import pytest
from test_dashboard import readout, server, wait_for_readout, watch_errors  # noqa: F401

pytestmark = pytest.mark.ui

#: The membrane plot's title names the traced neurons: "Membrane potential: fc1 #15, ...".
MEMBRANE_TITLE = """() => {
  for (const v of Bokeh.index.query((v) => v.model && v.model.title
                                    && typeof v.model.title.text === 'string'
                                    && v.model.title.text.startsWith('Membrane potential')))
    if (v.el.getBoundingClientRect().width > 0) return v.model.title.text;
  return null;
}"""
#: The index of the open tab of the dashboard's tab list.
ACTIVE_TAB = """() => {
  for (const v of Bokeh.index.query((v) => v.model && Array.isArray(v.model.tabs)))
    return v.model.active;
  return null;
}"""


def widget_options(page, title) -> list[str]:
    """The options of the select widget titled ``title``, in order."""
    return page.evaluate("""(title) => {
      for (const v of Bokeh.index.query((v) => v.model && v.model.title === title
                                        && Array.isArray(v.model.options)))
        return v.model.options.map((o) => (Array.isArray(o) ? o[1] : o));
      return null;
    }""", title)


def open_page(browser, url):
    pg = browser.new_page(viewport={"width": 1500, "height": 1000})
    pg.errors, pg.dialogs = [], []
    watch_errors(pg, pg.errors)
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(url, timeout=120_000)
    readout(pg)
    return pg


def query(page) -> dict:
    return dict(urllib.parse.parse_qsl(page.evaluate("() => window.location.search")[1:]))


def wait_until(page, fn, what, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what} (URL query {query(page)}, traced "
                         f"{traced(page)})")


def traced(page) -> list[str] | None:
    """The traced neurons the membrane plot names (None while it is not shown)."""
    title = page.evaluate(MEMBRANE_TITLE)
    if title is None:
        return None
    names = title.removeprefix("Membrane potential: ")
    return [] if names == "no neuron traced" else names.split(", ")


def test_t_tab_and_traced_neurons_come_back_from_the_url(browser, server):  # noqa: F811
    pg = open_page(browser, server)
    layers = widget_options(pg, "Layer")
    pg.get_by_role("button", name="Clear traces").click()
    wait_until(pg, lambda: query(pg).get("traces") == "none", "no traced neuron")
    pg.get_by_role("button", name="Add most active").click()  # at t = 0: rates of the run
    wait_until(pg, lambda: query(pg).get("traces", "").count("-") == 1, "one traced neuron")
    pg.get_by_role("button", name="Add median-rate").click()
    wait_until(pg, lambda: query(pg).get("traces", "").count("-") == 2, "two traced neurons")
    for _ in range(3):
        t0 = readout(pg)[0]
        pg.get_by_role("button", name="Step").click()
        wait_for_readout(pg, lambda r, t0=t0: r[0] == t0 + 1)
    pg.get_by_text("Activity & normalization", exact=True).first.click()
    wait_until(pg, lambda: query(pg).get("tab") == "1", "tab in the URL")
    q = query(pg)
    assert q["t"] == "3", q
    # the membrane plot names them "<layer name> #<neuron>"
    names = [f"{layers[int(l)]} #{i}" for l, i in (tr.split("-") for tr in
                                                   q["traces"].split(","))]

    fresh = open_page(browser, server + "?" + urllib.parse.urlencode(q))
    assert readout(fresh)[0] == 3, f"t not restored from {q}: {readout(fresh)}"
    assert fresh.evaluate(ACTIVE_TAB) == 1, f"tab not restored from {q}"
    fresh.get_by_text("Simulation", exact=True).first.click()
    assert wait_until(fresh, lambda: traced(fresh), "the membrane plot") == names, (
        f"traces not restored from {q}: {traced(fresh)} vs {names}")
    assert fresh.errors == [] and pg.errors == [], (fresh.errors, pg.errors)
    fresh.close()
    pg.close()


def test_crafted_traces_and_pin_are_refused_as_text_and_dropped(browser, server):  # noqa: F811
    bad = {"traces": '0-999999999,<img src=x onerror="window.__xss=1">',
           "pin": 'code:<script>window.__xss=2</script>'}
    pg = open_page(browser, server + "?" + urllib.parse.urlencode(bad))
    alert = pg.get_by_text("ignored URL parameter").first
    alert.wait_for(timeout=30_000)
    text = alert.inner_text()
    assert "traces" in text and "pin" in text, text
    assert "<script>window.__xss=2</script>" in text or "is not parameter:value" in text, text
    wait_until(pg, lambda: "traces" not in query(pg) and "pin" not in query(pg),
               "the refused values out of the URL")
    pg.wait_for_timeout(500)
    assert pg.dialogs == [] and pg.evaluate("() => window.__xss === undefined")
    assert pg.locator("img[src='x']").count() == 0, "an <img> was injected"
    assert len(traced(pg) or ()) >= 1, "the default traces are gone"
    pg.close()
