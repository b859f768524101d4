"""Shared fixtures of the browser tests: one headless Debian Chromium per test module.

Offline by construction: every page of the ``browser`` fixture aborts any request that leaves
this machine (anything but 127.0.0.1/localhost, data: and blob:), and a test that caused one
fails (the app and its exports must fetch nothing from outside; an offline classroom sees empty
boxes and no message otherwise).
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

#: Requests the pages of this session tried to send off the machine (aborted).
EXTERNAL_REQUESTS: list[str] = []


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine (the app's server, data:, blob:, about:)."""
    parts = urlparse(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension", "devtools"):
        return True
    return parts.hostname in LOCAL_HOSTS


def block_external(target) -> None:
    """Abort every request of ``target`` (a page or browser context) that leaves 127.0.0.1,
    and record it in ``EXTERNAL_REQUESTS``."""
    def route(r):
        url = r.request.url
        if is_local(url):
            r.continue_()
        else:
            EXTERNAL_REQUESTS.append(url)
            r.abort()
    target.route("**/*", route)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Playwright), closed after the module's tests. Its pages and
    contexts block (and record) every request that leaves 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        new_context = b.new_context

        def offline_context(*args, **kwargs):
            ctx = new_context(*args, **kwargs)
            block_external(ctx)
            return ctx

        def offline_page(*args, **kwargs):
            ctx = offline_context(*args, **kwargs)
            page = ctx.new_page()
            page.on("close", lambda _: ctx.close())
            return page

        b.new_context, b.new_page = offline_context, offline_page
        yield b
        b.close()


@pytest.fixture(autouse=True)
def no_external_requests(request):
    """Fail the test if any page of the ``browser`` fixture tried to leave 127.0.0.1."""
    del EXTERNAL_REQUESTS[:]
    yield
    if EXTERNAL_REQUESTS:
        hosts = sorted({urlparse(u).hostname or u for u in EXTERNAL_REQUESTS})
        pytest.fail(f"{len(EXTERNAL_REQUESTS)} request(s) left 127.0.0.1 (to {hosts}), e.g. "
                    f"{EXTERNAL_REQUESTS[:3]}: the app must serve every resource itself",
                    pytrace=False)
