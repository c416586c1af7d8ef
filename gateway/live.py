"""One socket's live conversations: what it has been sent of each, in seq order, once.

It keeps, per conversation, the highest seq it has pushed live (`cursors`), so the socket sees
live messages in seq order without duplicates: a message that arrives ahead of its predecessor
waits up to PARLEY_REORDER_WAIT seconds, after which the missing ones are read from the
database (`_heal`). Changes (edits, deletions, reactions, pins) are numbered by `change_seq`
and reach the socket once, whether as the answer to its own frame or as the live copy.

Events that reach the socket before `ready` is taken (it subscribes first, so nothing committed
after its snapshot is missed) wait in `early` until the cursors exist.
"""

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.conf import settings

from core.errors import DATABASE_ERRORS, NotFound
from messaging.events import MessageEvent
from messaging.selectors import HistoryAfter

from .batching import Batcher
from .outbox import Outbox, OutboxItem

logger = logging.getLogger(__name__)

# How many answered change numbers a socket remembers to drop their live copies.
ANSWERED_CHANGES_KEPT = 1000


class Subscriptions(Protocol):
    """The process's hub, as a socket sees it (realtime/hub.py)."""

    async def join(self, subscriber: Any, conversation_ids: Iterable[int]) -> None: ...
    async def leave(self, subscriber: Any, conversation_ids: Iterable[int]) -> None: ...


class LiveConversations:
    def __init__(
        self,
        *,
        user_id: int,
        outbox: Outbox,
        hub: Subscriptions,
        subscriber: Any,
        history: Batcher[HistoryAfter, tuple[list[MessageEvent], bool]],
    ) -> None:
        self.user_id = user_id
        self.outbox = outbox
        self.hub = hub
        # Gap fills go through the process's batcher: sockets that heal the same conversation
        # from the same seq at once (a herd joining it) share one read.
        self.history = history
        self.subscriber = subscriber  # what the hub knows this socket as
        self.cursors: dict[int, int] = {}
        # Where each conversation's history starts for this user: changes to older messages
        # are not theirs to see.
        self.floors: dict[int, int] = {}
        self.pending: dict[int, dict[int, str]] = {}
        self.heal_tasks: dict[int, asyncio.Task[None]] = {}
        self.answered_changes: set[tuple[int, int]] = set()
        self.early: list[tuple[str, dict[str, Any], str]] | None = []
        # Every conversation this socket subscribed to in the hub (a handshake that fails
        # after subscribing has no cursors yet, and must leave all the same).
        self.subscribed: set[int] = set()

    # --- the socket's life ---------------------------------------------------------------

    async def subscribe(self, conversation_ids: list[int]) -> None:
        """Subscribes the socket to the conversations before their snapshot is read, so any
        message committed after that read is also fanned out to it."""
        self.subscribed.update(conversation_ids)
        await self.hub.join(self.subscriber, conversation_ids)

    def start(self, positions: dict[int, tuple[int, int]]) -> None:
        """`ready` is written: from the snapshot on, events go through. `positions`: each
        conversation's (last_seq, joined_seq) in that snapshot."""
        self.cursors = {c: last_seq for c, (last_seq, _) in positions.items()}
        self.floors = {c: joined_seq for c, (_, joined_seq) in positions.items()}
        early, self.early = self.early or [], None
        for handler, event, text in early:
            self.event(handler, event, text)

    async def stop(self) -> None:
        for task in self.heal_tasks.values():
            task.cancel()
        await self.hub.leave(self.subscriber, list(self.subscribed | set(self.cursors)))

    # --- conversation events (from the hub) ----------------------------------------------

    def event(self, handler: str, event: dict[str, Any], text: str) -> None:
        """One conversation event, called by the hub in the event loop."""
        if self.early is not None:
            self.early.append((handler, event, text))
            return
        route = EVENT_ROUTES.get(handler)
        if route is None:
            logger.warning("no route for conversation event %s", handler)
            return
        route(self, event, text)

    def _message(self, event: dict[str, Any], text: str) -> None:
        self.outbox.put_many(self._accept_live(event["conversation"], event["seq"], text))

    def _change(self, event: dict[str, Any], text: str) -> None:
        conversation_id = event["conversation"]
        if conversation_id not in self.cursors or event["seq"] <= self.floors.get(
            conversation_id, 0
        ):
            return  # not ours (any more), or from before we joined
        if self.first_sighting_of_change(event):
            self.outbox.put(event)

    def _preview(self, event: dict[str, Any], text: str) -> None:
        conversation_id = event["conversation"]
        if conversation_id in self.cursors and event["seq"] > self.floors.get(conversation_id, 0):
            self.outbox.put(event)

    def _forward(self, event: dict[str, Any], text: str) -> None:
        self.outbox.put(event)

    def _typing(self, event: dict[str, Any], text: str) -> None:
        if event["user"] != self.user_id:  # not to the typist's own devices
            self.outbox.put(event)

    def _left(self, event: dict[str, Any], text: str) -> None:
        self.leave_now(event)

    def reset(self, conversation_ids: Iterable[int]) -> None:
        """The hub may have missed events: re-read these conversations from the database."""
        for conversation_id in conversation_ids:
            if conversation_id in self.cursors and conversation_id not in self.heal_tasks:
                self.heal_tasks[conversation_id] = asyncio.create_task(
                    self._heal(conversation_id, wait=0.0)
                )

    # --- membership changes (per-user events) --------------------------------------------

    async def joined(self, summary: dict[str, Any]) -> None:
        conversation_id = summary["id"]
        if conversation_id not in self.cursors and self.early is None:
            # From the join on: the socket reads what was committed while it subscribed
            # (its own join message included) from the database right away.
            self.cursors[conversation_id] = summary["joined_seq"]
            self.floors[conversation_id] = summary["joined_seq"]
            await self.subscribe([conversation_id])
            self.reset([conversation_id])
        self.outbox.put({"type": "conversation", "conversation": summary})

    def leave_now(self, event: dict[str, Any]) -> None:
        """No longer a member: stop carrying the conversation before anything else of it.
        Runs synchronously where the event arrives, so nothing queued after it gets through."""
        if event.get("user") != self.user_id:
            return  # another member left; their system message tells everyone
        conversation_id = event["conversation"]
        if self.cursors.pop(conversation_id, None) is None:
            return
        task = self.heal_tasks.pop(conversation_id, None)
        if task is not None:
            task.cancel()
        self.pending.pop(conversation_id, None)
        self.floors.pop(conversation_id, None)
        self.outbox.put({key: value for key, value in event.items() if key != "user"})
        hub, subscriber = self.hub, self.subscriber
        self.outbox.put_many([lambda: hub.leave(subscriber, [conversation_id])])

    # --- answers to the socket's own frames ----------------------------------------------

    def synced(self, conversation_id: int, last_seq: int) -> None:
        """The client now holds everything up to last_seq: live copies of those are dropped,
        and anything waiting just behind them can go."""
        if last_seq > self.cursors.get(conversation_id, last_seq):
            self.cursors[conversation_id] = last_seq
            self.outbox.put_many(self._flush(conversation_id))

    def first_sighting_of_change(self, event: dict[str, Any]) -> bool:
        """The requesting socket gets a change once: as its answer or as its live copy,
        whichever comes first (the live copy may overtake the answer)."""
        key = (event["conversation"], event["change_seq"])
        if key in self.answered_changes:
            return False
        if len(self.answered_changes) > ANSWERED_CHANGES_KEPT:
            self.answered_changes.clear()
        self.answered_changes.add(key)
        return True

    # --- ordering ------------------------------------------------------------------------

    def _accept_live(self, conversation_id: int, seq: int, text: str) -> list[OutboxItem]:
        """Takes one live message; returns the frames that may be sent now, in seq order."""
        cursor = self.cursors.get(conversation_id)
        if cursor is None or seq <= cursor:
            return []  # not (yet) ours, or already delivered
        self.pending.setdefault(conversation_id, {})[seq] = text
        return self._flush(conversation_id)

    def _flush(self, conversation_id: int) -> list[OutboxItem]:
        """Releases waiting messages that now follow the cursor without a gap."""
        waiting = self.pending.get(conversation_id)
        if not waiting:
            return []
        cursor = self.cursors[conversation_id]
        for stale in [seq for seq in waiting if seq <= cursor]:
            del waiting[stale]
        ready: list[OutboxItem] = []
        while cursor + 1 in waiting:
            cursor += 1
            ready.append(waiting.pop(cursor))
        self.cursors[conversation_id] = cursor
        if not waiting:
            self.pending.pop(conversation_id, None)
        elif conversation_id not in self.heal_tasks:
            self.heal_tasks[conversation_id] = asyncio.create_task(self._heal(conversation_id))
        return ready

    async def _heal(self, conversation_id: int, *, wait: float | None = None) -> None:
        """A predecessor did not arrive in time (or the hub lost events): read what is missing
        from the database."""
        try:
            await asyncio.sleep(settings.PARLEY_REORDER_WAIT if wait is None else wait)
            forced = wait is not None
            while forced or self.pending.get(conversation_id):
                forced = False
                after = self.cursors.get(conversation_id)
                if after is None:
                    return  # left meanwhile
                try:
                    # Read as this member (membership and join floor checked): a socket whose
                    # user was removed must not read on.
                    missing, has_more = await self.history.submit(
                        HistoryAfter(
                            user_id=self.user_id, conversation_id=conversation_id, after_seq=after
                        )
                    )
                except NotFound:
                    self.leave_now(
                        {
                            "type": "conversation_left",
                            "conversation": conversation_id,
                            "reason": "removed",
                            "user": self.user_id,
                        }
                    )
                    return
                except DATABASE_ERRORS:
                    logger.exception("gap fill for conversation %s failed", conversation_id)
                    self.pending.pop(conversation_id, None)
                    self.outbox.put(
                        {"type": "resync", "conversation": conversation_id, "after_seq": after}
                    )
                    return
                for event in missing:
                    self.outbox.put_many(
                        self._accept_live(conversation_id, event["seq"], json.dumps(event))
                    )
                if has_more:
                    forced = True
                elif not missing:
                    self.pending.pop(conversation_id, None)
        finally:
            self.heal_tasks.pop(conversation_id, None)


Route = Callable[[LiveConversations, dict[str, Any], str], None]

# Each conversation event's treatment on a socket, by its name: the `type` of the frame it
# becomes, the name its service published it under (realtime.publish).
EVENT_ROUTES: dict[str, Route] = {
    "message": LiveConversations._message,
    "message_updated": LiveConversations._change,
    "message_deleted": LiveConversations._change,
    # conversations.changes: numbered like edits.
    "thread_updated": LiveConversations._change,
    "reaction": LiveConversations._change,
    "pins": LiveConversations._change,
    "preview": LiveConversations._preview,
    "receipt": LiveConversations._forward,
    "typing": LiveConversations._typing,
    "conversation_left": LiveConversations._left,
}
