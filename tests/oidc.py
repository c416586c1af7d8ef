"""A real OpenID Provider process on loopback for the SSO tests (tests/oidc_provider: Django +
django-oauth-toolkit), and a client that signs in at it like a browser would."""

import contextlib
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.servers import ROOT, free_port, stop_process, wait_http

IDP_PASSWORD = "idp-passphrase-for-tests-7"


@dataclass
class Provider:
    base: str
    client_id: str
    client_secret: str

    def parley_settings(self) -> dict[str, str]:
        """Parley's PARLEY_OIDC_* environment for this provider."""
        return {
            "PARLEY_OIDC_CLIENT_ID": self.client_id,
            "PARLEY_OIDC_CLIENT_SECRET": self.client_secret,
            "PARLEY_OIDC_AUTHORIZATION_ENDPOINT": f"{self.base}/o/authorize/",
            "PARLEY_OIDC_TOKEN_ENDPOINT": f"{self.base}/o/token/",
            "PARLEY_OIDC_USERINFO_ENDPOINT": f"{self.base}/o/userinfo/",
            "PARLEY_OIDC_JWKS_ENDPOINT": f"{self.base}/o/.well-known/jwks.json",
        }

    def django_settings(self) -> dict[str, object]:
        """The same as Django settings, for in-process tests."""
        env = self.parley_settings()
        return {
            "PARLEY_OIDC_ENABLED": True,
            "OIDC_RP_CLIENT_ID": env["PARLEY_OIDC_CLIENT_ID"],
            "OIDC_RP_CLIENT_SECRET": env["PARLEY_OIDC_CLIENT_SECRET"],
            "OIDC_OP_AUTHORIZATION_ENDPOINT": env["PARLEY_OIDC_AUTHORIZATION_ENDPOINT"],
            "OIDC_OP_TOKEN_ENDPOINT": env["PARLEY_OIDC_TOKEN_ENDPOINT"],
            "OIDC_OP_USER_ENDPOINT": env["PARLEY_OIDC_USERINFO_ENDPOINT"],
            "OIDC_OP_JWKS_ENDPOINT": env["PARLEY_OIDC_JWKS_ENDPOINT"],
        }


@contextlib.contextmanager
def openid_provider(
    tmp: Path, *, redirect_uris: list[str], users: list[tuple[str, str, bool]]
) -> Iterator[Provider]:
    """Starts the provider (migrated SQLite in tmp, a fresh RSA key) with these users
    (username, email, email verified) and one confidential client allowed these redirects."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
        "OP_DATABASE": str(tmp / "op.sqlite3"),
        "OP_RSA_KEY": pem,
        "PYTHONPATH": str(ROOT),
    }
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput"], **run)
    provider = Provider(
        base="", client_id=secrets.token_hex(8), client_secret=secrets.token_hex(16)
    )
    specs = [f"{name}:{IDP_PASSWORD}:{email}:{int(ok)}" for name, email, ok in users]
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "oidc_provider" / "seed.py"),
            provider.client_id,
            provider.client_secret,
            " ".join(redirect_uris),
            *specs,
        ],
        **run,
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    provider.base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{provider.base}/o/.well-known/openid-configuration", timeout=60)
        yield provider
    finally:
        stop_process(process, timeout=10)


def sign_in_at_provider(authorize_url: str, username: str) -> str:
    """Follows Parley's redirect to the provider like a browser: signs in there and returns
    the provider's redirect back to Parley (the callback URL with code and state)."""
    session = requests.Session()
    page = session.get(authorize_url, timeout=15)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    nxt = re.search(r'name="next" value="([^"]*)"', page.text)
    answer = session.post(
        page.url,
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": IDP_PASSWORD,
            "next": nxt.group(1).replace("&amp;", "&") if nxt else "",
        },
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=15,
    )
    assert answer.status_code == 302, answer.text[:500]
    authorize = session.get(
        urljoin(page.url, answer.headers["Location"]), allow_redirects=False, timeout=15
    )
    assert authorize.status_code == 302, authorize.text[:500]
    return authorize.headers["Location"]
