"""The benchmark scenarios. Each connects real clients, drives load for a bounded time, and
returns plain numbers. Deliveries are counted on receiving sockets only (never the sender's)."""

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

from parley_client import Client as ParleyClient
from parley_client import Message, Ready, Receipt

from . import public
from .clients import SEND_FAILURES, Client, connect_all, read_stamp, stamp_body
from .fixtures import Fixture, make_conversation, make_users
from .servers import cpu_seconds, rss_kib
from .stats import latency_summary


@dataclass
class Target:
    kind: str  # "parley" or "baseline"
    ws_urls: list[str]
    server_pids: list[int] = field(default_factory=list)
    # Handshakes in flight at once. daphne drops a handshake its application has not accepted
    # within 5 s, and Parley's handshake makes database hops on one thread per process: too many
    # at once on a busy machine and the tail of them times out.
    connect_concurrency: int = 50
    # The servers' environment, for the operator steps of `--setup api` (bench/public.py);
    # None: this process's own.
    env: dict[str, str] | None = None
    # REST calls in flight at once while an `--setup api` population registers and logs in.
    rest_concurrency: int = 8

    def url_for(self, index: int) -> str:
        return self.ws_urls[index % len(self.ws_urls)]

    @property
    def http_urls(self) -> list[str]:
        return [public.http_base(url) for url in self.ws_urls]

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.server_pids)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.server_pids)


async def _users(target: Target, count: int, *, staff_first: bool = False) -> Fixture:
    if target.kind == "parley":
        # Django's ORM is synchronous: fixtures are written from a worker thread.
        return await asyncio.to_thread(make_users, count, staff_first=staff_first)
    return Fixture(tokens=[""] * count, user_ids=list(range(count)))


async def _conversation(kind: str, member_ids: list[int]) -> int:
    return await asyncio.to_thread(make_conversation, kind, member_ids)


def _client(target: Target, fixture: Fixture, index: int, room: str) -> Client:
    return Client(target.kind, target.url_for(index), token=fixture.tokens[index], room=room)


class Receiver:
    """Counts bench messages arriving on one socket, with their send-to-receive latency."""

    def __init__(self, client: Client, latencies: list[float], seen: set[tuple[int, int]]):
        self.client = client
        self.seen = seen
        self.count = 0
        self.event = asyncio.Event()
        self.healing = False  # after the measurement: only note what arrives
        client.on_message = self._on_message
        self._latencies = latencies

    def _on_message(self, body: str) -> None:
        stamp = read_stamp(body)
        if stamp is None:
            return
        sent_at, sender, n = stamp
        self.seen.add((sender, n))
        if self.healing:
            return
        self._latencies.append(time.time() - sent_at)
        self.count += 1
        self.event.set()


async def _heal_by_sync(receivers: list[Receiver], conversation_of, expected: set) -> int:
    """Parley only: what each receiver missed live, fetched with the SDK's catch-up (sync to the
    newest message). Returns how many are still missing."""
    still_missing = 0
    for receiver in receivers:
        if not expected - receiver.seen:
            continue
        receiver.healing = True
        await receiver.client.catch_up(conversation_of(receiver))
        still_missing += len(expected - receiver.seen)
    return still_missing


async def idle(target: Target, *, sockets: int, hold: float, setup: str = "db") -> dict:
    """Holds `sockets` authenticated sockets open, heart-beating, for `hold` seconds
    (setup="api": users registered and logged in over REST first)."""
    population: public.Population | None = None
    if setup == "api":
        _require_parley(target, setup)
        population = await _api_population(target, sockets)
    fixture = population or await _users(target, sockets)
    rss_before = target.rss_kib()
    clients = [_client(target, fixture, i, room=f"idle{i}") for i in range(sockets)]
    started = time.monotonic()
    failed = await connect_all(clients, concurrency=target.connect_concurrency)
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(hold)
    rss_after = target.rss_kib()
    dropped = sum(1 for c in clients if c not in failed and c.dropped)
    held = sockets - len(failed) - dropped
    closes = _close_codes(clients)
    await asyncio.gather(*(c.close() for c in clients if c not in failed))
    if population is not None:
        await population.close()
    return {
        "setup": setup,
        "closed_by_server": dict(closes),
        "heartbeat_closes_4408": closes.get("4408", 0),
        "sockets": sockets,
        "held": held,
        "failed_to_connect": len(failed),
        "dropped": dropped,
        "connect_seconds": round(connect_seconds, 2),
        "server_rss_before_mib": round(rss_before / 1024, 1),
        "server_rss_after_mib": round(rss_after / 1024, 1),
        "kib_per_socket": round((rss_after - rss_before) / max(held, 1), 1),
    }


async def pairs(
    target: Target,
    *,
    count: int,
    rate: float,
    duration: float,
    setup: str = "db",
    reads: bool = True,
) -> dict:
    """`count` 1:1 pairs; each sender sends to its peer. rate=0: closed loop (next message when
    the peer received the last); else `rate` messages/s in total, spread over the pairs.

    setup="api" (Parley only): users register and log in over REST, each sender opens the
    direct chat over REST, and each peer answers every message it receives with a `read`
    frame, as the browser does for the conversation on screen (docs/protocol.md); reads=False
    leaves the read frames out (to tell their cost apart)."""
    setup_started = time.monotonic()
    population: public.Population | None = None
    conversations = []
    if setup == "api":
        _require_parley(target, setup)
        population = await _api_population(target, count * 2)
        fixture: Fixture | public.Population = population
        rests = population.rests
        conversations = await _bounded(
            [
                lambda i=i: public.direct_chat(rests[2 * i], population.user_ids[2 * i + 1])
                for i in range(count)
            ],
            target.rest_concurrency,
        )
    else:
        fixture = await _users(target, count * 2)
        if target.kind == "parley":
            conversations = [
                await _conversation(
                    "direct", [fixture.user_ids[2 * i], fixture.user_ids[2 * i + 1]]
                )
                for i in range(count)
            ]
    senders = [_client(target, fixture, 2 * i, room=f"pair{i}") for i in range(count)]
    peers = [_client(target, fixture, 2 * i + 1, room=f"pair{i}") for i in range(count)]
    reads_sent = Counter[str]()
    if setup == "api" and reads:
        for peer in peers:
            _read_on_receipt(peer, reads_sent)
        for sender in senders:
            _count_read_receipts(sender, reads_sent)
    failed = await connect_all(senders + peers, concurrency=target.connect_concurrency)
    setup_seconds = time.monotonic() - setup_started
    if failed:
        # A pair with a side that could not connect cannot be measured: drop it, report it.
        broken = {i for i in range(count) if senders[i] in failed or peers[i] in failed}
        keep = [i for i in range(count) if i not in broken]
        senders = [senders[i] for i in keep]
        peers = [peers[i] for i in keep]
        conversations = [conversations[i] for i in keep] if conversations else []
        count = len(keep)
    latencies: list[float] = []
    ack_latencies: list[float] = []
    receivers = [Receiver(p, latencies, set()) for p in peers]
    sent = [0] * count
    await _server_quiet(target)
    errors = 0
    cpu_before = target.cpu_seconds()
    deadline = time.monotonic() + duration

    async def drive(i: int) -> None:
        nonlocal errors
        conversation = conversations[i] if conversations else 0
        interval = count / rate if rate else 0.0
        next_at = time.monotonic()
        for n in itertools.count():
            if time.monotonic() >= deadline:
                return
            sent_at = time.time()
            receivers[i].event.clear()
            ack = await senders[i].send(conversation, f"p{i}-{n}", stamp_body(sent_at, i, n))
            sent[i] += 1
            try:
                answered = await asyncio.wait_for(ack, timeout=30)
                ack_latencies.append(answered.received_at - sent_at)
            except SEND_FAILURES:
                errors += 1
            if rate:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receivers[i].event.wait(), timeout=10)

    started = time.monotonic()
    await asyncio.gather(*(drive(i) for i in range(count)))
    await _settle(lambda: sum(r.count for r in receivers), sum(sent))
    elapsed = time.monotonic() - started
    cpu = target.cpu_seconds() - cpu_before
    delivered = sum(r.count for r in receivers)
    missing_after_sync = None
    if target.kind == "parley":
        expected_of = {id(r): {(i, n) for n in range(sent[i])} for i, r in enumerate(receivers)}
        missing_after_sync = 0
        for i, r in enumerate(receivers):
            missing_after_sync += await _heal_by_sync(
                [r], lambda _r, i=i: conversations[i], expected_of[id(r)]
            )
    await asyncio.gather(*(c.close() for c in senders + peers))
    closes = _close_codes(senders + peers)
    if population is not None:
        await population.close()
    extra: dict = {}
    if setup == "api":
        extra = {
            "reads": reads,
            "read_frames_sent": reads_sent["sent"],
            "read_frames_unsent": reads_sent["unsent"],
            # `receipt` frames telling a sender its peer read up to a seq above 0.
            "read_receipts_seen_by_senders": reads_sent["seen"],
            "closed_by_server": dict(closes),
            "heartbeat_closes_4408": closes.get("4408", 0),
        }
    return {
        "setup": setup,
        "setup_seconds": round(setup_seconds, 1),
        **extra,
        "pairs": count,
        "failed_to_connect": len(failed),
        "offered_rate": rate or "closed-loop",
        "sent": sum(sent),
        "acked": len(ack_latencies),
        "errors": errors,
        "delivered": delivered,
        "lost_live": sum(sent) - delivered,
        "lost_after_sync": missing_after_sync,
        "messages_per_second": round(delivered / elapsed, 1),
        "ack_latency_ms": latency_summary(ack_latencies),
        "delivery_latency_ms": latency_summary(latencies),
        "server_cpu_us_per_delivery": round(cpu / max(delivered, 1) * 1e6, 1),
    }


async def fanout(
    target: Target,
    *,
    members: int,
    rate: float,
    duration: float,
    kind: str = "group",
    setup: str = "db",
) -> dict:
    """One sender sends `rate` messages/s for `duration` s into a group of `members` (sender
    included); every other member's socket is connected and counts deliveries (setup="api":
    users registered over REST, the sender creates the group over REST with the others)."""
    population: public.Population | None = None
    if setup == "api":
        _require_parley(target, setup)
        if kind != "group":
            raise ValueError("setup='api' makes groups only (see herd_announce)")
        population = await _api_population(target, members)
        fixture: Fixture | public.Population = population
        conversation = await public.group_with_members(
            population.rests[0], population.user_ids[1:], name="fanout"
        )
    else:
        fixture = await _users(target, members, staff_first=True)
        conversation = await _conversation(kind, fixture.user_ids) if target.kind == "parley" else 0
    clients = [_client(target, fixture, i, room="fanout") for i in range(members)]
    failed = await connect_all(clients, concurrency=target.connect_concurrency)
    if clients[0] in failed:
        raise RuntimeError("the sender could not connect")
    clients = [c for c in clients if c not in failed]
    sender, others = clients[0], clients[1:]
    latencies: list[float] = []
    ack_latencies: list[float] = []
    receivers = [Receiver(c, latencies, set()) for c in others]
    total = max(1, int(rate * duration))
    await _server_quiet(target)
    cpu_before = target.cpu_seconds()
    started = time.monotonic()
    acks = []
    for n in range(total):
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent_at = time.time()
        ack = await sender.send(conversation, f"f-{n}", stamp_body(sent_at, 0, n))
        acks.append((sent_at, ack))
    expected_total = total * len(receivers)
    await _settle(lambda: sum(r.count for r in receivers), expected_total)
    elapsed = time.monotonic() - started
    cpu = target.cpu_seconds() - cpu_before
    for sent_at, ack in acks:
        with contextlib.suppress(*SEND_FAILURES):
            ack_latencies.append((await asyncio.wait_for(ack, timeout=5)).received_at - sent_at)
    delivered = sum(r.count for r in receivers)
    missing_after_sync = None
    if target.kind == "parley":
        expected = {(0, n) for n in range(total)}
        missing_after_sync = await _heal_by_sync(receivers, lambda _r: conversation, expected)
    await asyncio.gather(*(c.close() for c in clients))
    if population is not None:
        await population.close()
    return {
        "setup": setup,
        "members": members,
        "failed_to_connect": len(failed),
        "rate": rate,
        "messages": total,
        "acked": len(ack_latencies),
        "expected_deliveries": expected_total,
        "delivered": delivered,
        "lost_live": expected_total - delivered,
        "lost_after_sync": missing_after_sync,
        "deliveries_per_second": round(delivered / elapsed, 1),
        "elapsed_seconds": round(elapsed, 2),
        "ack_latency_ms": latency_summary(ack_latencies),
        "delivery_latency_ms": latency_summary(latencies),
        "server_cpu_us_per_delivery": round(cpu / max(delivered, 1) * 1e6, 1),
    }


async def announce(target: Target, *, sockets: int) -> dict:
    """One announcement to `sockets` connected users: how long until every one has it."""
    result = await fanout(target, members=sockets + 1, rate=1, duration=1, kind="announcement")
    result["all_received"] = result["lost_live"] == 0
    result["time_to_last_ms"] = result["delivery_latency_ms"]["max"]
    return result


async def herd_announce(
    target: Target, *, users: int, window: float = 30.0, setup: str = "api"
) -> dict:
    """`users` connected users registered over REST; a staff user posts the FIRST announcement
    (`POST /api/broadcasts/`), which creates the announcement conversation and joins every
    connected socket to it at once. Who had it live within `window` s, how fast, which sockets
    the server closed, and what a `sync` afterwards still had to recover."""
    _require_parley(target, "api")
    # Operator steps (no public API): an earlier run's announcement conversation goes, so this
    # broadcast is a first one again.
    removed = await asyncio.to_thread(public.operator_reset_announcements, target.env)

    async def trigger(actor: Client, rest, body: str) -> int:  # type: ignore[no-untyped-def]
        ack = await rest.request(
            "POST", "/api/broadcasts/", json_body={"client_msg_id": "herd-0", "body": body}
        )
        return int(ack["conversation"])

    result = await _herd(
        target, users=users, window=window, trigger=trigger, staff=True, setup=setup
    )
    return {"earlier_announcement_conversation_removed": bool(removed), **result}


async def herd_add(
    target: Target,
    *,
    users: int,
    window: float = 30.0,
    add_via: str = "create",
    setup: str = "api",
) -> dict:
    """`users` connected users registered over REST; one owner adds all of them to a group over
    REST, then sends one message on its socket. add_via="create": `POST /api/groups/` with the
    members (at most 10,000 a call; more are added one call each); "members": the group is
    created empty and each user added with `POST /api/groups/{id}/members/` (one per call, the
    API's only per-member path), `rest_concurrency` calls at a time."""
    _require_parley(target, "api")
    if add_via not in ("create", "members"):
        raise ValueError(f"add_via must be 'create' or 'members', not {add_via!r}")
    stamps: dict[str, float] = {}
    member_ids: list[int] = []

    async def trigger(actor: Client, rest, body: str) -> int:  # type: ignore[no-untyped-def]
        if add_via == "create":
            group_id = await public.group_with_members(rest, member_ids, name="herd")
        else:
            group_id = await public.group_with_members(rest, [], name="herd")
            await public.add_members(rest, group_id, member_ids, target.rest_concurrency)
        # The message's own clock starts when it is sent (the body's stamp says when).
        stamps["sent"] = time.time()
        ack = await actor.send(group_id, "herd-0", stamp_body(stamps["sent"], 0, 0))
        await asyncio.wait_for(ack, timeout=120)
        return group_id

    return await _herd(
        target,
        users=users,
        window=window,
        trigger=trigger,
        staff=False,
        setup=setup,
        members_out=member_ids,
        stamps=stamps,
        label=f"group add ({add_via})",
    )


async def _herd(
    target: Target,
    *,
    users: int,
    window: float,
    trigger,  # type: ignore[no-untyped-def]
    staff: bool,
    setup: str = "api",
    members_out: list[int] | None = None,
    stamps: dict[str, float] | None = None,
    label: str = "",
) -> dict:
    """The herds' common part: user 0 acts (`trigger` returns the conversation it made),
    users 1..`users` are connected receivers. setup="db": the users are written to the
    database (user 0 staff for an announcement) and only user 0 gets a REST client."""
    _require_parley(target, "api")
    setup_started = time.monotonic()
    if setup == "db":
        fixture = await _users(target, users + 1, staff_first=staff)
        population = public.Population(
            tokens=fixture.tokens,
            user_ids=fixture.user_ids,
            rests=[public.RestClient(target.http_urls[0], fixture.tokens[0], timeout=120)],
        )
    else:
        population = await _api_population(target, users + 1)
    clients: list[Client] = []
    try:
        if staff and setup != "db":
            await asyncio.to_thread(public.operator_make_staff, population.user_ids[0], target.env)
        if members_out is not None:
            members_out.extend(population.user_ids[1:])
        clients = [_client(target, population, i, room="herd") for i in range(users + 1)]
        failed = await connect_all(clients, concurrency=target.connect_concurrency)
        if clients[0] in failed:
            raise RuntimeError("the acting user could not connect")
        result = await _herd_measure(
            target, clients, failed, population, trigger=trigger, window=window, stamps=stamps
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        await population.close()
    return {
        "setup": setup,
        "variant": label or "first announcement",
        "users": users,
        "setup_seconds": round(result.pop("measure_started") - setup_started, 1),
        **result,
    }


async def _herd_measure(
    target: Target,
    clients: list[Client],
    failed: list[Client],
    population: public.Population,
    *,
    trigger,  # type: ignore[no-untyped-def]
    window: float,
    stamps: dict[str, float] | None,
) -> dict:
    actor = clients[0]
    others = [c for c in clients[1:] if c not in failed]
    latencies: list[float] = []
    receivers = [Receiver(c, latencies, set()) for c in others]
    measure_started = time.monotonic()
    await _server_quiet(target)
    cpu_before = target.cpu_seconds()
    trigger_at = time.time()
    started = time.monotonic()
    conversation = await trigger(actor, population.rests[0], stamp_body(trigger_at, 0, 0))
    trigger_seconds = time.monotonic() - started
    sent_at = (stamps or {}).get("sent", trigger_at)
    deadline = started + window
    while time.monotonic() < deadline and sum(r.count for r in receivers) < len(receivers):  # noqa: ASYNC110 (polls counters the receivers' callbacks move)
        await asyncio.sleep(0.05)
    cpu = target.cpu_seconds() - cpu_before
    live = sum(1 for r in receivers if r.count)
    closes = _close_codes(clients)
    closed = [r for r in receivers if r.client.dropped]
    missed_open = [r for r in receivers if not r.count and not r.client.dropped]
    still_missing = await _heal_by_sync(missed_open, lambda _r: conversation, {(0, 0)})
    from_trigger = [lat + (sent_at - trigger_at) for lat in latencies]
    return {
        "measure_started": measure_started,
        "failed_to_connect": len(failed),
        "connected": len(receivers),
        "trigger_seconds": round(trigger_seconds, 2),
        "window_seconds": window,
        "received_live": live,
        "all_received": live == len(receivers) and not failed,
        "lost_live": len(receivers) - live,
        "delivery_latency_ms": latency_summary(latencies),
        "since_trigger_ms": latency_summary(from_trigger),
        "closed_by_server": dict(closes),
        "heartbeat_closes_4408": closes.get("4408", 0),
        "missed_on_closed_sockets": sum(1 for r in closed if not r.count),
        "recovered_by_sync": len(missed_open) - still_missing,
        "lost_after_sync": still_missing + sum(1 for r in closed if not r.count),
        "server_cpu_seconds": round(cpu, 2),
    }


async def storm(target: Target, *, sockets: int, window: float = 60.0, setup: str = "db") -> dict:
    """`sockets` connected users (written to the database, or with setup="api" registered and
    logged in over REST), each an SDK client that reconnects
    as it does in production: with full-jitter backoff chosen by the close code
    (parley_client.policy). Every socket is cut at once, without a close frame, as a network
    failure between the clients and the server would; how long until each has a new `ready`,
    what the server closed meanwhile, and its CPU."""
    _require_parley(target, setup)
    fixture: Fixture | public.Population
    if setup == "api":
        fixture = await _api_population(target, sockets)
        await fixture.close()  # only their tokens are needed
    else:
        fixture = await _users(target, sockets)
    back: dict[int, float] = {}
    cut = {"at": 0.0}

    def on_ready(index: int):  # type: ignore[no-untyped-def]
        def handler(event: object) -> None:
            if type(event) is Ready and cut["at"] and index not in back:
                back[index] = time.monotonic() - cut["at"]

        return handler

    clients = []
    for index in range(sockets):
        sdk = ParleyClient(target.url_for(index), fixture.tokens[index], open_timeout=120)
        sdk.on(on_ready(index))
        clients.append(sdk)
    gate = asyncio.Semaphore(target.connect_concurrency)

    async def connect(sdk: ParleyClient) -> None:
        async with gate:
            await sdk.connect(timeout=120)

    started = time.monotonic()
    outcomes = await asyncio.gather(*(connect(c) for c in clients), return_exceptions=True)
    connect_seconds = time.monotonic() - started
    up = [c for c, outcome in zip(clients, outcomes, strict=True) if outcome is None]
    try:
        await _server_quiet(target)
        cpu_before = target.cpu_seconds()
        cut["at"] = time.monotonic()
        for sdk in up:
            sdk.drop()
        deadline = cut["at"] + window
        while time.monotonic() < deadline and len(back) < len(up):  # noqa: ASYNC110 (polls what the clients' handlers record)
            await asyncio.sleep(0.1)
        cpu = target.cpu_seconds() - cpu_before
        closes: Counter[str] = Counter(
            str(session.code)
            for sdk in up
            for session in sdk.unexpected_closes()
            if session.opened > cut["at"] and session.code is not None
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    times = sorted(back.values())
    return {
        "setup": setup,
        "sockets": sockets,
        "failed_to_connect": sockets - len(up),
        "connect_seconds": round(connect_seconds, 2),
        "window_seconds": window,
        "back_in_ready": len(back),
        "all_back": len(back) == len(up) and len(up) == sockets,
        "time_to_ready_ms": latency_summary(times),
        "reconnected_per_second": round(len(times) / times[-1], 1) if times else None,
        "closed_by_server_after_the_cut": dict(closes),
        "heartbeat_closes_4408": closes.get("4408", 0),
        "server_cpu_seconds": round(cpu, 2),
    }


def _require_parley(target: Target, setup: str) -> None:
    if target.kind != "parley":
        raise ValueError(f"setup={setup!r} drives Parley's public API: target must be parley")


async def _api_population(target: Target, count: int) -> public.Population:
    return await public.register_and_login(
        target.http_urls, count, concurrency=target.rest_concurrency
    )


async def _bounded(calls: list, concurrency: int) -> list:
    """Runs the coroutine functions `calls`, `concurrency` at a time; results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call):  # type: ignore[no-untyped-def]
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


def _read_on_receipt(client: Client, counts: Counter[str]) -> None:
    """The browser with the conversation on screen: every message received from someone else
    is answered with a `read` frame up to its seq."""
    sdk = client.sdk
    assert sdk is not None

    async def on_event(event: object) -> None:
        if type(event) is not Message or event.sender is None:
            return
        if sdk.user is not None and event.sender.id == sdk.user.id:
            return
        counts["sent" if await sdk.read(event.conversation, event.seq) else "unsent"] += 1

    sdk.on(on_event)


def _count_read_receipts(client: Client, counts: Counter[str]) -> None:
    sdk = client.sdk
    assert sdk is not None

    def on_event(event: object) -> None:
        if (
            type(event) is Receipt
            and event.read_seq
            and event.user != getattr(sdk.user, "id", None)
        ):
            counts["seen"] += 1

    sdk.on(on_event)


def _close_codes(clients: list[Client]) -> Counter[str]:
    """Sockets the server (or the network) closed while the benchmark held them, by close
    code ("none": the connection ended without a close frame)."""
    codes: Counter[str] = Counter()
    for client in clients:
        if client.sdk is None:
            continue
        for session in client.sdk.unexpected_closes():
            codes[str(session.code) if session.code is not None else "none"] += 1
    return codes


async def _server_quiet(target: Target, *, busy: float = 0.1, limit: float = 120.0) -> None:
    """Waits (bounded) until the servers use less than `busy` of a core for a second: the work
    of the connection phase (handshakes, presence) must not be measured as part of the load."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = target.cpu_seconds()
        await asyncio.sleep(1.0)
        if target.cpu_seconds() - before < busy:
            return


async def _settle(progress, expected: int, *, quiet: float = 3.0, limit: float = 60.0) -> None:
    """Waits until `expected` arrived, or nothing arrived for `quiet` seconds (bounded)."""
    deadline = time.monotonic() + limit
    last, last_change = progress(), time.monotonic()
    while time.monotonic() < deadline and last < expected:
        await asyncio.sleep(0.1)
        now = progress()
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > quiet:
            return
