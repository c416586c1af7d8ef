"""The benchmark scenarios. Each connects real clients, drives load for a bounded time, and
returns plain numbers. Deliveries are counted on receiving sockets only (never the sender's)."""

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field

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

    def url_for(self, index: int) -> str:
        return self.ws_urls[index % len(self.ws_urls)]

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


async def idle(target: Target, *, sockets: int, hold: float) -> dict:
    """Holds `sockets` authenticated sockets open, heart-beating, for `hold` seconds."""
    fixture = await _users(target, sockets)
    rss_before = target.rss_kib()
    clients = [_client(target, fixture, i, room=f"idle{i}") for i in range(sockets)]
    started = time.monotonic()
    failed = await connect_all(clients, concurrency=target.connect_concurrency)
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(hold)
    rss_after = target.rss_kib()
    dropped = sum(1 for c in clients if c not in failed and c.dropped)
    held = sockets - len(failed) - dropped
    await asyncio.gather(*(c.close() for c in clients if c not in failed))
    return {
        "sockets": sockets,
        "held": held,
        "failed_to_connect": len(failed),
        "dropped": dropped,
        "connect_seconds": round(connect_seconds, 2),
        "server_rss_before_mib": round(rss_before / 1024, 1),
        "server_rss_after_mib": round(rss_after / 1024, 1),
        "kib_per_socket": round((rss_after - rss_before) / max(held, 1), 1),
    }


async def pairs(target: Target, *, count: int, rate: float, duration: float) -> dict:
    """`count` 1:1 pairs; each sender sends to its peer. rate=0: closed loop (next message when
    the peer received the last); else `rate` messages/s in total, spread over the pairs."""
    fixture = await _users(target, count * 2)
    conversations = []
    if target.kind == "parley":
        conversations = [
            await _conversation("direct", [fixture.user_ids[2 * i], fixture.user_ids[2 * i + 1]])
            for i in range(count)
        ]
    senders = [_client(target, fixture, 2 * i, room=f"pair{i}") for i in range(count)]
    peers = [_client(target, fixture, 2 * i + 1, room=f"pair{i}") for i in range(count)]
    failed = await connect_all(senders + peers, concurrency=target.connect_concurrency)
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
    return {
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
    target: Target, *, members: int, rate: float, duration: float, kind: str = "group"
) -> dict:
    """One sender sends `rate` messages/s for `duration` s into a group of `members` (sender
    included); every other member's socket is connected and counts deliveries."""
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
    return {
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
