"""Single sign-on in the browser: Chromium follows the real redirects from Parley to a real
OpenID Provider process (tests/oidc.py) and back, and lands in the chat."""

import re

import pytest
from playwright.sync_api import expect

from tests.oidc import IDP_PASSWORD, openid_provider
from tests.servers import daphne, free_port
from tests.web.browser import WAIT_MS, PageWatch, chromium, screenshot, server_env

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def test_logging_in_with_single_sign_on(django_db_setup, tmp_path):
    port = free_port()
    users = [("dora", "dora@example.com", True)]
    with openid_provider(
        tmp_path, redirect_uris=[f"http://127.0.0.1:{port}/oidc/callback/"], users=users
    ) as provider:
        (tmp_path / "var").mkdir(exist_ok=True)
        env = {**server_env(tmp_path / "var"), **provider.parley_settings()}
        with daphne(env, port=port), chromium() as browser:
            context = browser.new_context(base_url=f"http://127.0.0.1:{port}")
            page = context.new_page()
            watch = PageWatch(page)
            page.goto("/")
            expect(page).to_have_url(re.compile("/login/$"))
            page.get_by_role("link", name="Log in with single sign-on").click()
            expect(page).to_have_url(re.compile(rf"^{provider.base}/accounts/login/"))
            page.get_by_label("IdP username").fill("dora")
            page.get_by_label("IdP password").fill(IDP_PASSWORD)
            page.get_by_role("button", name="Sign in at the IdP").click()
            expect(page).to_have_url(f"http://127.0.0.1:{port}/")
            expect(page.locator("#banner")).to_have_attribute("data-state", "online")
            expect(page.locator(".whoami")).to_contain_text("dora")
            screenshot(page, "sso")
            context.close()
            assert not watch.problems
