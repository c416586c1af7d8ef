"""Settings > Integrations in the browser: a person makes a bot and a personal token, sees each
secret once, and revokes the token (static/parley/integrations.js)."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Account, http_json, unique

pytestmark = pytest.mark.django_db(transaction=True)
expect.set_options(timeout=WAIT_MS)


def me_with(base: str, token: str) -> int | dict:
    try:
        return http_json("GET", f"{base}/api/me/", token=token)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_bot_and_a_token_made_and_revoked_in_settings(open_page, base_url):
    alice = Account.register(base_url, "alice")
    page = open_page(alice)
    page.get_by_role("button", name="Integrations").click()
    dialog = page.locator("#integrations-dialog")
    bot_name = unique("deploy-bot")
    dialog.get_by_label("Bot username").fill(bot_name)
    dialog.get_by_label("Display name").fill("Deploys")
    dialog.get_by_role("button", name="Create bot").click()
    secret = dialog.locator("#integrations-secret-value")
    expect(dialog.locator("#bot-list li")).to_contain_text("Deploys")
    bot_token = secret.input_value()
    assert bot_token.startswith("parley_")
    me = me_with(base_url, bot_token)
    assert me["username"] == bot_name and me["is_bot"] is True

    dialog.get_by_label("Token name").fill("cron job")
    dialog.get_by_label("admin").uncheck()
    dialog.get_by_role("button", name="Create token").click()
    row = dialog.locator("#token-list li").filter(has_text="cron job")
    expect(row).to_contain_text("read, write")
    personal = secret.input_value()
    assert personal.startswith("parley_") and personal != bot_token
    assert me_with(base_url, personal)["id"] == alice.id
    assert personal[:13] in row.inner_text()  # the prefix, never the whole secret
    assert personal not in dialog.locator("#token-list").inner_text()

    row.get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    assert me_with(base_url, personal) == 401


def test_an_incoming_webhook_and_a_slash_command_in_the_open_group(open_page, base_url):
    alice = Account.register(base_url, "alice")
    group = alice.call("POST", "/api/groups/", {"name": "deploys", "members": []})
    page = open_page(alice)
    page.locator("#conversation-list li").filter(has_text="deploys").click()
    page.get_by_role("button", name="Integrations").click()
    dialog = page.locator("#integrations-dialog")
    dialog.get_by_label("Conversation", exact=True).select_option(str(group["id"]))
    dialog.get_by_label("Webhook name").fill("Deploy bot")
    dialog.get_by_role("button", name="Create webhook").click()
    expect(dialog.locator("#hook-list li")).to_contain_text("Deploy bot")
    url = dialog.locator("#integrations-secret-value").input_value()
    assert url.startswith(f"{base_url}/hooks/hook_")
    dialog.get_by_role("button", name="Close").click()

    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=json.dumps({"text": "v1.2 is live"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        assert response.read() == b"ok"
    message = page.locator("#messages li.message").filter(has_text="v1.2 is live")
    expect(message).to_be_visible()
    # The webhook posts as its bot, which this page learnt of when the webhook was made.
    expect(message.locator(".bot-badge")).to_have_text("bot")

    # The composer suggests commands after "/", and /shrug posts through the command frame.
    box = page.get_by_label("Message", exact=True)
    box.fill("/s")
    box.press_sequentially("hr")  # keystrokes, so the composer's input handler runs
    expect(page.locator("#command-suggestions")).to_contain_text("/shrug")
    box.fill("/shrug ok")
    box.press("Enter")
    expect(page.locator("#messages li.message").filter(has_text="ok ¯\\_(ツ)_/¯")).to_be_visible()
    # A command the server does not know is answered above the composer, to the sender only.
    box.fill("/nope")
    box.press("Enter")
    expect(page.locator("#ephemeral")).to_contain_text("Command failed:")
    expect(page.locator("#ephemeral .form-error")).to_have_text(re.compile(r"\S"))
    page.locator("#ephemeral").get_by_role("button", name="Dismiss").click()
    expect(page.locator("#ephemeral")).to_have_text("")
