"""Browser tests: keyboard shortcuts (space = Run/Pause, arrows = Step/Back) and a downloaded
run uploaded back through the page."""

import re

import pytest
from test_dashboard import (  # noqa: F401
    readout,
    server,
    wait_for_readout,
    watch_errors,
)

pytestmark = pytest.mark.ui


def open_page(browser, url):
    pg = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    pg.errors = []
    watch_errors(pg, pg.errors)
    pg.goto(url, timeout=120_000)
    readout(pg)
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
    page.wait_for_timeout(1000)  # frames in flight land
    t = readout(page)[0]
    page.wait_for_timeout(1000)
    assert readout(page)[0] == t < 100, "space did not pause Run"
    # keys typed into a text field are the field's, not shortcuts
    field = page.locator("input[type=text]:visible").first
    field.click()
    field.press("ArrowRight")
    field.press("ArrowLeft")
    page.wait_for_timeout(500)
    assert readout(page)[0] == t
    assert page.errors == [], page.errors
    page.close()


def test_downloaded_run_uploaded_back_restores_the_view(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=digits-mlp&sample=5&code=ttfs&timesteps=60")
    page.locator("body").click(position={"x": 900, "y": 5})
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    t, T, spikes = wait_for_readout(page, lambda r: r[0] == 7)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Download run").click()
    data = open(dl.value.path(), "rb").read()
    page.close()

    # a fresh page on other choices (the same model: a model switch whose new traced neurons
    # reach the URL before the model does is put back to the URL's old model by
    # Location.sync, a dashboard bug reported apart; the server-side test switches models)
    fresh = open_page(browser, server + "?model=digits-mlp&code=rate&sample=0")
    assert readout(fresh)[:2] == (0, 100)
    fresh.locator("input[type=file]").first.set_input_files(files=[{
        "name": "my-run.npz", "mimeType": "application/octet-stream", "buffer": data}])
    fresh.get_by_text(re.compile(r"my-run\.npz.*restored")).first.wait_for(timeout=60_000)
    assert wait_for_readout(fresh, lambda r: r[0] == 7) == (t, T, spikes)
    fresh.wait_for_function("() => window.location.search.includes('code=ttfs')",
                            timeout=30_000)
    assert "sample=5" in fresh.url and "t=7" in fresh.url
    assert fresh.errors == [], fresh.errors
    fresh.close()
