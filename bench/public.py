"""A benchmark population made through Parley's public API only, as real clients make it
(`--setup api`): each user registers (`POST /api/auth/register/`) and logs in
(`POST /api/auth/token/`) over REST, conversations are created over REST (direct chats with
`POST /api/conversations/direct/`, groups with `POST /api/groups/`), and the sockets are the
SDK's, which ping every `heartbeat_interval`.

Two steps have no public API and are an operator's: making a user staff (the admin site does it)
and, for a run that must measure the FIRST announcement, removing the announcement conversation
an earlier run created. Both run `manage.py shell` with the servers' environment, before the
measured part.

Rate limits: the servers are started with 127.0.0.1 whitelisted (`manage.py whitelist add`),
which exempts the loopback generator from the per-address "register" and "login" budgets and
from the per-user REST and socket buckets. One budget is counted whatever the address:
"login_account" (PARLEY_RATE_LOGIN_ACCOUNT, 10 an hour per account name); each account logs in
once, so it is never reached."""

import asyncio
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field

from parley_client import ParleyError, RestClient

from .servers import ROOT

PASSWORD_LENGTH = 24
# POST /api/groups/ takes at most this many `members` in one call (groups/api/views.py).
GROUP_CREATE_MEMBERS_MAX = 10_000


@dataclass
class Population:
    """Users registered and logged in over REST: tokens, ids and each one's REST client."""

    tokens: list[str]
    user_ids: list[int]
    rests: list[RestClient] = field(default_factory=list)

    async def close(self) -> None:
        await asyncio.gather(*(rest.close() for rest in self.rests))


def http_base(ws_url: str) -> str:
    return "http" + ws_url.removeprefix("ws")


async def _retrying(call, *, attempts: int = 5):  # type: ignore[no-untyped-def]
    """A REST call retried on `rate_limited` and 5xx answers (after Retry-After, or 1 s)."""
    for attempt in range(attempts):
        try:
            return await call()
        except ParleyError as error:
            retryable = error.code == "rate_limited" or (error.status or 0) >= 500
            if not retryable or attempt == attempts - 1:
                raise
            await asyncio.sleep(error.retry_after or 1.0)
    raise AssertionError("unreachable")


async def register_and_login(
    base_urls: list[str], count: int, *, concurrency: int = 8, prefix: str = "pub"
) -> Population:
    """Registers `count` users and logs each in, `concurrency` at a time (each is two password
    hashes on the server: PBKDF2, the dominant cost of this setup)."""
    run = secrets.token_hex(4)
    gate = asyncio.Semaphore(concurrency)
    rests = [RestClient(base_urls[i % len(base_urls)], timeout=120) for i in range(count)]
    user_ids = [0] * count

    async def one(index: int) -> None:
        username = f"{prefix}-{run}-{index}"
        password = secrets.token_urlsafe(PASSWORD_LENGTH)
        rest = rests[index]
        async with gate:
            user = await _retrying(lambda: rest.register(username, password))
            await _retrying(lambda: rest.login(username, password))
        user_ids[index] = int(user["id"])

    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    except BaseException:
        await asyncio.gather(*(rest.close() for rest in rests))
        raise
    return Population(tokens=[str(rest.token) for rest in rests], user_ids=user_ids, rests=rests)


async def direct_chat(rest: RestClient, peer_id: int) -> int:
    return int((await _retrying(lambda: rest.direct(peer_id)))["id"])


async def group_with_members(
    rest: RestClient, member_ids: list[int], *, name: str = "bench", concurrency: int = 8
) -> int:
    """The owner creates a group with `member_ids` in the one call (at most
    GROUP_CREATE_MEMBERS_MAX); members beyond that are added one call each."""
    first = member_ids[:GROUP_CREATE_MEMBERS_MAX]
    group_id = int((await _retrying(lambda: rest.create_group(name, first)))["id"])
    await add_members(rest, group_id, member_ids[GROUP_CREATE_MEMBERS_MAX:], concurrency)
    return group_id


async def add_members(
    rest: RestClient, group_id: int, member_ids: list[int], concurrency: int
) -> None:
    """`POST /api/groups/{id}/members/` once per user (the API adds one per call)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(user_id: int) -> None:
        async with gate:
            await _retrying(lambda: rest.add_member(group_id, user_id))

    await asyncio.gather(*(one(u) for u in member_ids))


def _manage_shell(code: str, env: dict[str, str] | None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def operator_make_staff(user_id: int, env: dict[str, str] | None) -> None:
    """What an administrator does in the admin site: mark the user staff."""
    _manage_shell(
        "from accounts.models import User; "
        f"User.objects.filter(pk={int(user_id)}).update(is_staff=True)",
        env,
    )


def operator_reset_announcements(env: dict[str, str] | None) -> int:
    """Deletes the announcement conversation (with its messages and memberships), so that the
    next broadcast is a first one again; returns how many conversations were deleted."""
    out = _manage_shell(
        "from messaging.models import Conversation; "
        "print(Conversation.objects.filter(kind=Conversation.Kind.ANNOUNCEMENT).delete()[1]"
        ".get('messaging.Conversation', 0))",
        env,
    )
    return int(out.splitlines()[-1]) if out else 0
