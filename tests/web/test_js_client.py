"""The JavaScript SDK (static/parley/client.js) from Node against a live daphne: connect, send,
receive, resume with `sync` after a dropped connection, and resend a send whose ack was lost
with the same client_msg_id (stored once). docs/clients.md, "JavaScript"."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import tool_missing
from tests.servers import ROOT, daphne
from tests.web.browser import Account, server_env

pytestmark = pytest.mark.django_db(transaction=True)

NODE = shutil.which("node") or "node"  # missing: FileNotFoundError names it
SCRIPT = ROOT / "tests" / "web" / "js_client_check.mjs"
CLIENT = ROOT / "static" / "parley" / "client.js"


@pytest.fixture(scope="module")
def base_url(django_db_setup, tmp_path_factory):
    with daphne(server_env(tmp_path_factory.mktemp("parley-var"))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.skipif(tool_missing("node"), reason="Node.js is not installed")
def test_the_js_sdk_sends_receives_resumes_and_resends_once(base_url):
    alice, bob = Account.register(base_url, "alice"), Account.register(base_url, "bob")
    conversation = alice.direct_with(bob)
    run = subprocess.run(
        [
            NODE,
            "--experimental-websocket",
            "--no-warnings",
            str(SCRIPT),
            str(CLIENT),
            base_url,
            alice.token,
            bob.token,
            str(conversation),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    assert seen["features"]["max_body_chars"] == 4000
    assert seen["first"]["duplicate"] is False and seen["first"]["seq"] == 1
    # Live, then the three sent while the line was down, brought by sync: each once, in order.
    assert [m["body"] for m in seen["received"]] == [
        "live from bob",
        "missed 2",
        "missed 3",
        "missed 4",
    ]
    assert [m["live"] for m in seen["received"]] == [True, False, False, False]
    # The send queued while offline waited in the outbox and went out after the reconnect.
    assert seen["queuedWhileOffline"] == ["queued while offline"]
    assert seen["queuedAck"]["duplicate"] is False
    # The ack lost with the connection: resent with the same id, the server already had it.
    lost, resent = seen["lostAck"], seen["resentAck"]
    assert resent["client_msg_id"] == lost["client_msg_id"] == "node-lost-ack-1"
    assert (resent["id"], resent["seq"]) == (lost["id"], lost["seq"])
    assert seen["outboxLeft"] == 0 and seen["readies"] == 3

    stored = [m["body"] for m in bob.history(conversation)]
    assert stored == [
        "hello from node",
        "live from bob",
        "missed 2",
        "missed 3",
        "missed 4",
        "queued while offline",
        "ack lost on the way",
    ]
