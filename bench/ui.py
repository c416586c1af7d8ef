"""The browser UI with a long conversation: opening it and scrolling through it in Chromium.

    python -m bench.ui [--messages 10000]

Builds a fresh embedded-default server (SQLite under a temporary directory), stores N messages
from bob to alice with the send service in batches, logs alice in with Chromium (Playwright,
/usr/bin/chromium) and opens the conversation: everything is unread, so the page loads the whole
history from the first unread on (N messages in memory). Then it measures, in the page:

- open: from the click on the conversation (switching back to it, N messages loaded) until the
  frame after the render, median of 10;
- scroll: 3 s of scrolling up through the history by 60 px per animation frame (the window of
  rows moves along), frames per second and the 95th-percentile frame time.
Prints one JSON line; docs/performance.md records the numbers.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.servers import ROOT, daphne

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "a-long-passphrase-42"  # noqa: S105 (a throwaway benchmark account)

SEED = """
from django.db import transaction
from accounts.services import user_register
from messaging.services import SendRequest, message_send_many
from messaging.services import conversation_direct_open
alice = user_register(username="alice", password={password!r})
bob = user_register(username="bob", password={password!r})
conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
n = {count}
for start in range(0, n, 500):
    message_send_many([
        SendRequest(sender=bob, conversation_id=conversation.pk, client_msg_id=f"b{{i}}",
                    body=f"message {{i}}: " + "some words to fill a line " * (1 + i % 3))
        for i in range(start, min(n, start + 500))
    ])
print(conversation.pk)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(
            {
                "PARLEY_VAR_DIR": var,
                "SECRET_KEY": "bench-ui",
                "DJANGO_SETTINGS_MODULE": "chatsite.settings",
                "PARLEY_RATE_REST_WRITE": "1000/s:1000",
                "PARLEY_RATE_LOGIN": "1000/m",
            }
        )
        manage = [sys.executable, "manage.py"]
        subprocess.run(
            [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        seed = SEED.format(password=PASSWORD, count=args.messages)
        subprocess.run(
            [*manage, "shell", "-c", seed], cwd=ROOT, env=env, check=True, capture_output=True
        )
        with daphne(env) as port:
            print(json.dumps(measure(f"http://127.0.0.1:{port}", args.messages)))


def measure(base: str, count: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(f"{base}/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#banner")).to_have_attribute("data-state", "online", timeout=60_000)
        rows = page.locator("#conversation-list li button")
        rows.first.click()
        expect(page.locator("#messages li.message").first).to_be_visible(timeout=120_000)
        # Wait until the whole history is in memory: the newest message is loaded.
        page.get_by_role("button", name="Jump to latest").click(timeout=120_000)
        expect(page.locator("#messages li.message").last).to_contain_text(
            f"message {count - 1}:", timeout=120_000
        )
        page.get_by_role("button", name="New chat").focus()
        opens = []
        for _ in range(10):
            page.evaluate("() => document.querySelector('#back-button').click()")
            opens.append(
                page.evaluate(
                    """() => new Promise((resolve) => {
                        const button = document.querySelector('#conversation-list li button');
                        const start = performance.now();
                        button.click();
                        requestAnimationFrame(() => requestAnimationFrame(
                            () => resolve(performance.now() - start)));
                    })"""
                )
            )
        rows_in_dom = page.locator("#messages li").count()
        scroll = page.evaluate(
            """() => new Promise((resolve) => {
                const history = document.getElementById('history');
                history.scrollTop = history.scrollHeight;
                const frames = [];
                let last = performance.now();
                const end = last + 3000;
                function step(now) {
                    frames.push(now - last);
                    last = now;
                    history.scrollTop -= 60;
                    history.dispatchEvent(new Event('scroll'));
                    if (now < end) requestAnimationFrame(step);
                    else resolve({
                        frames: frames.length, seconds: 3,
                        p95: frames.sort((a, b) => a - b)[Math.floor(frames.length * 0.95)],
                        rows: document.querySelectorAll('#messages li').length,
                        top_seq: document.querySelector('#messages li.message').dataset.seq});
                }
                requestAnimationFrame(step);
            })"""
        )
        browser.close()
    opens.sort()
    return {
        "messages": count,
        "open_ms_median": round(opens[len(opens) // 2], 1),
        "open_ms_max": round(opens[-1], 1),
        "rows_in_dom": rows_in_dom,
        "scroll_fps": round(scroll["frames"] / scroll["seconds"], 1),
        "scroll_frame_p95_ms": round(scroll["p95"], 1),
        "rows_in_dom_after_scroll": scroll["rows"],
        "oldest_row_seq_after_scroll": int(scroll["top_seq"]),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
