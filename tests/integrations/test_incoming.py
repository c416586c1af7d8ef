"""Incoming webhooks: a secret URL posts into a conversation as its bot through the one send
path; Slack payloads, GitHub events and Alertmanager notifications become readable messages."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from tests.factories import access_token, make_direct, make_group, make_user
from tests.ws import ready_socket, receive

PAYLOADS = Path(__file__).parent / "payloads"
db = database_sync_to_async


def as_user(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
    return client


def make_hook(user, conversation_id: int, **body) -> dict:
    response = as_user(user).post(
        f"/api/conversations/{conversation_id}/webhooks/", {"name": "CI", **body}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def hook_path(hook: dict) -> str:
    return hook["url"].removeprefix("http://testserver")


def post_raw(path: str, body: bytes, **headers):
    return APIClient().generic("POST", path, body, content_type="application/json", **headers)


def post_json(path: str, payload: dict, **headers):
    return post_raw(path, json.dumps(payload).encode(), **headers)


def history(user, conversation_id: int) -> list[dict]:
    response = as_user(user).get(f"/api/conversations/{conversation_id}/messages/")
    return [m for m in response.json()["results"] if not m.get("system")]


@pytest.fixture
def group_hook(db):
    alice = make_user("alice")
    group = make_group(alice, make_user("bob"), name="ops")
    hook = make_hook(alice, group.pk)
    return alice, group, hook


def test_slack_text_is_posted_by_the_webhook_s_bot_and_answers_ok(group_hook):
    alice, group, hook = group_hook
    assert hook["url"].startswith("http://testserver/hooks/hook_")
    response = post_json(hook_path(hook), {"text": "deploy finished"})
    assert response.status_code == 200 and response.content == b"ok"
    [message] = history(alice, group.pk)
    assert message["body"] == "deploy finished"
    assert message["sender"]["id"] == hook["sender"] != alice.pk
    bot = as_user(alice).get("/api/bots/").json()
    assert [b["id"] for b in bot] == [hook["sender"]] and bot[0]["display_name"] == "CI"
    # The secret is not stored and not listed again.
    listed = as_user(alice).get(f"/api/conversations/{group.pk}/webhooks/").json()
    assert listed[0]["id"] == hook["id"] and "url" not in listed[0]
    assert listed[0]["last_used_at"] is not None


def test_slack_s_form_encoded_payload_is_accepted(group_hook):
    alice, group, hook = group_hook
    response = APIClient().post(
        hook_path(hook), {"payload": json.dumps({"text": "from a form"})}, format="multipart"
    )
    assert response.status_code == 400  # multipart is not Slack's form encoding
    response = APIClient().generic(
        "POST",
        hook_path(hook),
        "payload=" + __import__("urllib.parse").parse.quote(json.dumps({"text": "from a form"})),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert [m["body"] for m in history(alice, group.pk)] == ["from a form"]


def test_slack_username_attachments_and_blocks_become_text(group_hook):
    alice, group, hook = group_hook
    payload = {
        "username": "Jenkins",
        "icon_url": "https://example.com/j.png",
        "attachments": [
            {
                "fallback": "Build 12 failed",
                "pretext": "Nightly build",
                "title": "Build 12",
                "title_link": "https://ci.example.com/12",
                "text": "2 tests failed",
                "fields": [{"title": "Branch", "value": "main", "short": True}],
            }
        ],
    }
    assert post_json(hook_path(hook), payload).status_code == 200
    blocks = {
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Release"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "v2.1 is out"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "by the release bot"}]},
        ]
    }
    assert post_json(hook_path(hook), blocks).status_code == 200
    first, second = (m["body"] for m in history(alice, group.pk))
    assert first == (
        "**Jenkins**: Nightly build\n**[Build 12](https://ci.example.com/12)**\n"
        "2 tests failed\nBranch: main"
    )
    assert second == "**Release**\nv2.1 is out\nby the release bot"


def test_a_retry_with_the_same_idempotency_key_or_client_msg_id_is_stored_once(group_hook):
    alice, group, hook = group_hook
    for _ in range(2):
        ok = post_json(hook_path(hook), {"text": "once"}, HTTP_IDEMPOTENCY_KEY="delivery-7")
        assert ok.status_code == 200
        ok = post_json(hook_path(hook), {"text": "twice?", "client_msg_id": "m-1"})
        assert ok.status_code == 200
    assert [m["body"] for m in history(alice, group.pk)] == ["once", "twice?"]


def test_bad_json_unknown_secret_empty_and_too_long_payloads_are_refused(group_hook):
    alice, group, hook = group_hook
    bad = post_raw(hook_path(hook), b"{not json")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    assert post_json("/hooks/hook_nope/", {"text": "x"}).status_code == 404
    assert post_json("/hooks/whatever/", {"text": "x"}).json()["code"] == "not_found"
    empty = post_json(hook_path(hook), {"text": ""})
    assert empty.status_code == 400 and empty.json()["field"] == "text"
    long = post_json(hook_path(hook), {"text": "x" * 4001})
    assert long.status_code == 400 and long.json()["field"] == "body"
    assert history(alice, group.pk) == []
    # Deleted: the URL is gone.
    gone = as_user(alice).delete(f"/api/conversations/{group.pk}/webhooks/{hook['id']}/")
    assert gone.status_code == 204
    assert post_json(hook_path(hook), {"text": "x"}).status_code == 404


def test_a_busy_webhook_is_rate_limited_with_retry_after(group_hook, settings):
    settings.PARLEY_RATE_LIMITS = {**settings.PARLEY_RATE_LIMITS, "webhook": "1/m:2"}
    _, _, hook = group_hook
    assert post_json(hook_path(hook), {"text": "1"}).status_code == 200
    assert post_json(hook_path(hook), {"text": "2"}).status_code == 200
    refused = post_json(hook_path(hook), {"text": "3"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_who_may_make_webhooks_and_whom_they_post_as(db):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    group = make_group(alice, bob)
    path = f"/api/conversations/{group.pk}/webhooks/"
    refused = as_user(bob).post(path, {"name": "x"}, format="json")
    assert refused.status_code == 403
    stranger = as_user(carol).post(path, {"name": "x"}, format="json")
    assert stranger.status_code == 404
    # Either side of a direct chat; the posts come from that person.
    direct = make_direct(alice, carol)
    hook = make_hook(carol, direct.pk)
    assert hook["sender"] == carol.pk
    assert post_json(hook_path(hook), {"text": "from my script"}).status_code == 200
    assert history(alice, direct.pk)[0]["sender"]["id"] == carol.pk
    # A bot of one's own may be named; it joins the group.
    bot = as_user(alice).post("/api/bots/", {"username": "alerts"}, format="json").json()
    hook = make_hook(alice, group.pk, bot=bot["id"])
    assert hook["sender"] == bot["id"]
    members = as_user(alice).get(f"/api/groups/{group.pk}/members/").json()
    assert bot["id"] in [m["user"]["id"] for m in members]
    others = as_user(bob).post("/api/bots/", {"username": "bobs-bot"}, format="json").json()
    wrong = as_user(alice).post(path, {"name": "x", "bot": others["id"]}, format="json")
    assert wrong.status_code == 400 and wrong.json()["field"] == "bot"


def github(path: str, event: str, name: str | None = None, secret: str | None = None):
    body = (PAYLOADS / "github" / f"{name or event}.json").read_bytes()
    headers = {"HTTP_X_GITHUB_EVENT": event}
    if secret is not None:
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["HTTP_X_HUB_SIGNATURE_256"] = f"sha256={mac}"
    return post_raw(path, body, **headers)


def test_github_sample_payloads_become_readable_messages(group_hook):
    alice, group, hook = group_hook
    for event, name in [
        ("ping", None),
        ("push", None),
        ("push", "push-tag-deleted"),
        ("pull_request", None),
        ("issues", None),
        ("check_run", None),
        ("watch", "ping"),  # an event Parley does not post: answered ok, nothing stored
    ]:
        response = github(hook_path(hook), event, name)
        assert response.status_code == 200, (event, response.content)
    bodies = [m["body"] for m in history(alice, group.pk)]
    repo = "[Codertocat/Hello-World](https://github.com/Codertocat/Hello-World)"
    assert bodies[0] == (
        "GitHub webhook for [Octocoders/Hello-World](https://github.com/Octocoders/Hello-World)"
        " is set up. _Anything added dilutes everything else._"
    )
    assert bodies[1] == (
        f"**Codertocat** created branch `master` of {repo} (1 commit) "
        "[compare](https://github.com/Codertocat/Hello-World/commit/"
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246)\n"
        "- [`6113728`](https://github.com/Codertocat/Hello-World/commit/"
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246) Initial commit (Codertocat)"
    )
    assert bodies[2] == f"**Codertocat** deleted tag `simple-tag` of {repo}"
    assert bodies[3] == (
        "**Codertocat** opened pull request [#2 Update the README with new information.]"
        f"(https://github.com/Codertocat/Hello-World/pull/2) in {repo}"
    )
    assert bodies[4] == (
        "**Codertocat** opened issue [#1 Spelling error in the README file]"
        f"(https://github.com/Codertocat/Hello-World/issues/1) in {repo}"
    )
    assert bodies[5].startswith("Check **Octocoders-linter** completed: **success** on `")
    assert "(https://github.com/Codertocat/Hello-World/runs/128620228)" in bodies[5]
    assert len(bodies) == 6


def test_github_signatures_are_verified_when_a_secret_is_set(db):
    alice = make_user("alice")
    group = make_group(alice)
    hook = make_hook(alice, group.pk, github_secret="s3cret")
    assert hook["github_signed"] is True
    assert github(hook_path(hook), "issues", secret="s3cret").status_code == 200
    forged = github(hook_path(hook), "issues", secret="guess")
    assert forged.status_code == 403 and forged.json()["code"] == "bad_signature"
    unsigned = github(hook_path(hook), "issues")
    assert unsigned.status_code == 403
    assert len(history(alice, group.pk)) == 1


def test_alertmanager_firing_and_resolved_notifications(group_hook):
    alice, group, hook = group_hook
    for name in ("firing", "resolved"):
        body = (PAYLOADS / "alertmanager" / f"{name}.json").read_bytes()
        assert post_raw(hook_path(hook), body).status_code == 200
    firing, resolved = (m["body"] for m in history(alice, group.pk))
    assert firing.splitlines()[0] == (
        "**[FIRING:2]** alertname=HighErrorRate "
        "([Alertmanager](http://alertmanager.example.com:9093))"
    )
    assert firing.splitlines()[1].startswith(
        "- 🔥 **HighErrorRate**: High request error rate (instance=api-1:8080, job=api, "
        "severity=critical) [source](http://prometheus.example.com:9090/graph?"
    )
    assert len(firing.splitlines()) == 3
    assert resolved.splitlines()[0].startswith("**[RESOLVED:1]** alertname=HighErrorRate")
    assert resolved.splitlines()[1].startswith("- ✅ **HighErrorRate**")


@pytest.mark.django_db(transaction=True)
async def test_a_webhook_post_reaches_members_sockets_live():
    alice = await db(make_user)("alice")
    group = await db(make_group)(alice, name="ops")
    hook = await db(make_hook)(alice, group.pk)
    socket, _ = await ready_socket(alice)
    response = await db(post_json)(hook_path(hook), {"text": "live from CI"})
    assert response.status_code == 200
    while True:
        frame = await receive(socket)
        if frame["type"] == "message" and not frame.get("system"):
            break
    assert frame["body"] == "live from CI" and frame["sender"]["id"] == hook["sender"]
    await socket.disconnect()
