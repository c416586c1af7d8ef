"""A live Parley server (daphne) for the SDK's tests, in this run's configuration, and
accounts made through the SDK's own REST helpers."""

import asyncio
import itertools
import secrets

import pytest
from parley_client import RestClient

from tests.faults.harness import DaphneServer
from tests.web.browser import server_env

PASSWORD = "a-long-passphrase-42"
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}{secrets.token_hex(2)}"


@pytest.fixture(scope="module")
def env(django_db_setup, tmp_path_factory):
    return server_env(tmp_path_factory.mktemp("parley-var"))


@pytest.fixture(scope="module")
def server(env, tmp_path_factory):
    """One daphne for the module's tests (a test that kills its server makes its own)."""
    daphne = DaphneServer(env, tmp_path_factory.mktemp("logs"), name="sdk")
    daphne.start()
    yield daphne
    daphne.stop()


@pytest.fixture
def fresh_server(env, tmp_path):
    """A daphne of this test alone: the test may kill -9 it and start it again (same port)."""
    daphne = DaphneServer(env, tmp_path, name="own")
    daphne.start()
    yield daphne
    daphne.stop()


class Account:
    def __init__(self, rest: RestClient, user: dict) -> None:
        self.rest = rest
        self.id: int = user["id"]
        self.username: str = user["username"]

    @property
    def token(self) -> str:
        return str(self.rest.token)


async def account(base_url: str, prefix: str) -> Account:
    """Registers and logs in a person through the SDK's REST helpers."""
    rest = RestClient(base_url)
    username = unique(prefix)
    user = await rest.register(username, PASSWORD)
    await rest.login(username, PASSWORD)
    return Account(rest, user)


async def until(condition, what: str, within: float = 60) -> None:
    """Waits (polling) for condition() to hold; fails with `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 (polls state other tasks change)
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
