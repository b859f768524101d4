"""Browser tests of the wired-in pieces: URL state, model upload, event SNNs, run download."""

import io
import os
import pickle
import re

import pytest
import torch
from test_dashboard import (  # noqa: F401
    ARTIFACTS,
    readout,
    server,
    wait_for_readout,
    watch_errors,
    widget_value,
)

from spikescope import zoo

pytestmark = pytest.mark.ui

PWNED = "/tmp/spikescope-ui-upload-pwned"


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))



def open_page(browser, url):
    pg = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    pg.errors = []
    watch_errors(pg, pg.errors)
    pg.goto(url, timeout=120_000)
    readout(pg)
    return pg


def model_select(page):
    return page.locator("select", has=page.locator("option", has_text="digits-mlp")).first


def step(page, n=1):
    t0 = readout(page)[0]
    for _ in range(n):
        page.get_by_role("button", name="Step").click()
    return wait_for_readout(page, lambda r: r[0] == t0 + n)


def test_url_query_sets_the_parameters(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=digits-mlp&sample=3&percentile=99.0")
    assert model_select(page).input_value() == "digits-mlp"
    assert widget_value(page, "Test sample") == 3
    assert page.get_by_text("Normalization percentile: 99.0").first.is_visible()
    # and the other way: a change lands in the URL (shareable view)
    model_select(page).select_option("digits-cnn")
    page.wait_for_function("() => window.location.search.includes('model=digits-cnn')",
                           timeout=30_000)
    assert "sample=3" in page.url
    assert page.errors == [], page.errors
    page.close()


def test_bad_uploads_show_a_message_and_the_session_keeps_working(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=digits-mlp")
    upload = page.locator("input[type=file]").first
    upload.set_input_files(files=[{"name": "garbage.pt", "mimeType": "application/octet-stream",
                                   "buffer": b"not a model at all " * 50}])
    page.get_by_text(re.compile(r"Could not load garbage\.pt.*unknown model format")).first \
        .wait_for(timeout=30_000)
    upload.set_input_files(files=[{"name": "evil.pt", "mimeType": "application/octet-stream",
                                   "buffer": pickle.dumps(_RunsCode())}])
    page.get_by_text(re.compile(r"evil\.pt refused")).first.wait_for(timeout=30_000)
    assert not os.path.exists(PWNED), "the uploaded pickle ran code on the server"
    assert model_select(page).input_value() == "digits-mlp"
    t, _, _ = step(page, 2)
    assert t == 2
    assert page.errors == [], page.errors
    page.close()


def test_uploaded_model_joins_the_model_list(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=digits-mlp")
    buf = io.BytesIO()
    torch.save(zoo.load("digits-cnn").state_dict(), buf)
    page.locator("input[type=file]").first.set_input_files(files=[{
        "name": "my_cnn.pt", "mimeType": "application/octet-stream", "buffer": buf.getvalue()}])
    page.get_by_text(re.compile(r"my_cnn\.pt loaded as model")).first.wait_for(timeout=60_000)
    page.wait_for_function("() => window.location.search.includes('upload')", timeout=30_000)
    assert model_select(page).input_value() == "upload: my_cnn.pt"
    page.get_by_text("Conv2d").first.wait_for(timeout=10_000)  # the layer report
    _, _, spikes = step(page, 3)
    assert spikes > 0
    page.screenshot(path=str(ARTIFACTS / "dashboard_upload.png"), full_page=False)
    # the run download: parameters and recording of the uploaded model
    with page.expect_download(timeout=30_000) as dl:
        page.get_by_text("Download run").first.click()
    path = dl.value.path()
    from spikescope.io import load_run

    run = load_run(path)
    assert run.params["model"] == "upload: my_cnn.pt" and run.params["t"] == 3
    assert page.errors == [], page.errors
    page.close()


def test_event_reconstructor_runs_in_the_page(browser, server):  # noqa: F811
    page = open_page(browser, server + "?model=events-reconstructor")
    t, T, _ = readout(page)
    assert T == 20, f"the trained SNN runs its 20 event frames, got T = {T} ms"
    page.get_by_text(re.compile("Trained SNN.*do not apply")).first.wait_for(timeout=10_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.mouse.move(700, 5)
    wait_for_readout(page, lambda r: r[0] == r[1], timeout=60)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard_events.png"), full_page=False)
    assert page.errors == [], page.errors
    page.close()
