"""Fixtures of the browser tests: a live daphne per test module (its own var directory, the
test database), Chromium per test, and pages logged in as a given account. A module that needs
its server set up otherwise defines its own `base_url` (tests/web/test_ui_browser.py)."""

import re

import pytest

from tests.servers import daphne
from tests.web.browser import Account, PageWatch, chromium, log_in, server_env


@pytest.fixture(scope="module")
def env(django_db_setup, tmp_path_factory):
    return server_env(tmp_path_factory.mktemp("parley-var"))


@pytest.fixture(scope="module")
def base_url(env):
    with daphne(env) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser():
    # Per test: Playwright's sync API runs an event loop in this thread while it is open, and
    # the database flush and channel-layer reset around each test must run outside it.
    with chromium() as launched:
        yield launched


@pytest.fixture
def open_page(browser):
    """Opens a logged-in page for an account, each in its own browser context (own cookies)."""
    contexts, watches = [], []

    def open_for(account: Account, *, phone: bool = False, route=None, init_script=None):
        viewport = {"width": 390, "height": 800} if phone else {"width": 1200, "height": 760}
        context = browser.new_context(
            base_url=account.base, viewport=viewport, permissions=["notifications"]
        )
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        if route:
            page.route_web_socket(re.compile(r"/ws/$"), route)
        watches.append(PageWatch(page))
        log_in(page, account)
        return page

    yield open_for
    for context in contexts:
        context.close()
    problems = [p for watch in watches for p in watch.problems]
    assert not problems
