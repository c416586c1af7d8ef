"""Helpers for the browser tests: a live daphne the browser can reach, Debian's Chromium driven
by Playwright, and a small REST client for setting the scene from the test."""

import contextlib
import itertools
import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import REAL_SERVICES, postgres_env_for_subprocess
from tests.servers import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a-long-passphrase-42"
ARTIFACTS = Path(os.environ.get("PARLEY_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
# Generous: two cores shared by many processes in CI.
WAIT_MS = 20_000

_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}{secrets.token_hex(2)}"


# Every browser, user and REST call of these tests comes from 127.0.0.1 within seconds: the
# per-client rate limits (PARLEY_RATE_*, when the server has them) are not what is tested here.
GENEROUS_RATE_LIMITS = {
    f"PARLEY_RATE_{name}": value
    for name, value in {
        "LOGIN": "1000/m",
        "LOGIN_ACCOUNT": "1000/m",
        "REGISTER": "1000/m",
        "WS_HANDSHAKE": "1000/m:1000",
        "WS_SEND": "1000/s:1000",
        "WS_TYPING": "1000/s:1000",
        "REST_WRITE": "1000/s:1000",
    }.items()
}


def server_env(var_dir: Path) -> dict[str, str]:
    """Environment for a daphne serving the browser: this run's configuration.

    PostgreSQL + Redis: the test database itself. Embedded default: the server process cannot
    see pytest's SQLite, so it gets its own var directory with a freshly migrated database.
    """
    if REAL_SERVICES:
        return {**postgres_env_for_subprocess(), **GENEROUS_RATE_LIMITS}
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            **GENEROUS_RATE_LIMITS,
            "PARLEY_VAR_DIR": str(var_dir),
            "SECRET_KEY": "browser-tests-only",
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        }
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


@dataclass
class Account:
    """A user registered through the REST API of the live server, for scene setting."""

    base: str
    username: str
    id: int = 0
    token: str = ""
    sent: itertools.count = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def register(cls, base: str, prefix: str) -> "Account":
        account = cls(base=base, username=unique(prefix))
        created = http_json(
            "POST",
            f"{base}/api/auth/register/",
            {"username": account.username, "password": PASSWORD},
        )
        account.id = created["id"]
        account.login()
        return account

    def login(self) -> None:
        self.token = http_json(
            "POST",
            f"{self.base}/api/auth/token/",
            {"username": self.username, "password": PASSWORD},
        )["access"]

    def call(self, method: str, path: str, body: dict | None = None):
        return http_json(method, f"{self.base}{path}", body, self.token)

    def direct_with(self, other: "Account") -> int:
        return self.call("POST", "/api/conversations/direct/", {"user": other.id})["id"]

    def send(self, conversation: int, body: str) -> dict:
        return self.call(
            "POST",
            f"/api/conversations/{conversation}/messages/",
            {"client_msg_id": f"rest-{self.username}-{next(self.sent)}", "body": body},
        )

    def history(self, conversation: int) -> list[dict]:
        page = self.call("GET", f"/api/conversations/{conversation}/messages/?limit=500")
        return page["results"]


# Logged by Chromium for a socket refused while the server is down, and for REST endpoints of
# features a server may not have (the UI degrades quietly on those).
EXPECTED_CONSOLE_ERRORS = ("WebSocket", "ERR_CONNECTION_REFUSED", "Failed to load resource")


class PageWatch:
    """Collects what a page reports that a test must fail on: CSP violations, script errors."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text:
            self.problems.append(f"CSP: {text}")
        elif message.type == "error" and not any(s in text for s in EXPECTED_CONSOLE_ERRORS):
            self.problems.append(f"console error: {text}")


@contextlib.contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Runs axe-core (vendored, tests/web/vendor/axe-core) in the page and answers the
    violations of these impacts as {id, impact, nodes: [selectors]}: what a screen reader or
    keyboard user would trip on. Evaluated over the DevTools protocol, so the page's CSP (which
    forbids inline scripts) stays as it is."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate("source => { (0, eval)(source); }", AXE.read_text())
    found = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in impacts]


# --- steps many browser tests share ----------------------------------------------------


def log_in(page, account: Account) -> None:
    response = page.goto("/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#banner")).to_have_attribute("data-state", "online")


def conversation_row(page, title: str):
    return page.locator("#conversation-list li").filter(has=page.get_by_text(title, exact=True))


def write(page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def bodies(page) -> list[str]:
    return page.locator("#messages li.message .body").all_inner_texts()
