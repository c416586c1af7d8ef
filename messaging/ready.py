"""The conversations a `ready` frame carries, and its optional cursor (`?since=`).

A client that opens its socket with `?since=` (docs/protocol.md) gets a `cursor` in `ready`.
The cursor names the state of each of the user's conversations as that `ready` showed it: a
fingerprint per conversation (what its summary is made of: kind, name, last_seq,
last_change_seq, the member's read_seq and joined_seq, and for a direct chat the other
person's username), kept in the cache for PARLEY_READY_CURSOR_TTL seconds under a digest of
those fingerprints. Opening the next socket with `?since=<cursor>`, the client gets only the
conversations whose fingerprint changed (and `removed`: the ones it is no longer in); the
fingerprints cost one query on memberships, the summaries (unread counts, last messages) are
built for the changed conversations only. An unknown, expired or malformed cursor gets the
full list, as without one. A socket without `?since=` gets today's `ready`, unchanged.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

from .events import ConversationSummary
from .models import Conversation, Membership
from .selectors import conversation_summaries

CURSOR_MAX_CHARS = 64


@dataclass
class ReadyConversations:
    summaries: list[ConversationSummary]
    # Every conversation of the user: (last_seq, joined_seq) as of this read, for the socket's
    # live cursors (the summaries of a partial list cover only some).
    positions: dict[int, tuple[int, int]]
    cursor: str | None = None  # only when the client asked for one (`since` not None)
    partial: bool = False  # `summaries` holds only what changed since the client's cursor
    removed: list[int] = field(default_factory=list)

    def ready_fields(self) -> dict[str, Any]:
        """The fields `ready` gains for a client that sent `?since=` (none otherwise)."""
        if self.cursor is None:
            return {}
        return {"cursor": self.cursor, "partial": self.partial, "removed": self.removed}


def conversation_fingerprints(*, user_id: int) -> dict[int, list[Any]]:
    """What each of the user's conversation summaries is made of, by conversation id: one
    query on memberships, plus one on the members of direct chats (their titles)."""
    rows = Membership.objects.filter(user_id=user_id).values_list(
        "conversation_id",
        "conversation__kind",
        "conversation__name",
        "conversation__last_seq",
        "conversation__last_change_seq",
        "read_seq",
        "joined_seq",
    )
    fingerprints: dict[int, list[Any]] = {row[0]: list(row[1:]) for row in rows}
    direct = [c for c, f in fingerprints.items() if f[0] == Conversation.Kind.DIRECT]
    if direct:
        others = (
            Membership.objects.filter(conversation_id__in=direct)
            .exclude(user_id=user_id)
            .values_list("conversation_id", "user__username")
        )
        for conversation_id, username in others:
            fingerprints[conversation_id].append(username)
    return fingerprints


def _cursor_key(user_id: int, cursor: str) -> str:
    return f"parley:ready:{int(user_id)}:{cursor}"


def _digest(user_id: int, fingerprints: dict[int, list[Any]]) -> str:
    text = json.dumps([user_id, sorted(fingerprints.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _valid(since: str) -> bool:
    return 0 < len(since) <= CURSOR_MAX_CHARS and since.isalnum() and since.isascii()


def ready_conversations(*, user_id: int, since: str | None) -> ReadyConversations:
    """The conversations for `ready`: all of them (no cursor, or one the server does not know),
    or those changed since the client's cursor; with a new cursor whenever `since` is given."""
    if since is None:
        summaries = conversation_summaries(user_id=user_id)
        return ReadyConversations(
            summaries=summaries,
            positions={s["id"]: (s["last_seq"], s["joined_seq"]) for s in summaries},
        )
    fingerprints = conversation_fingerprints(user_id=user_id)
    known: dict[str, list[Any]] | None = None
    if _valid(since):
        known = cache.get(_cursor_key(user_id, since))
    if known is None:
        summaries = conversation_summaries(user_id=user_id)
        removed: list[int] = []
    else:
        # JSON keys: the cache may have stored the ids as strings.
        changed = [c for c, f in fingerprints.items() if known.get(str(c)) != f]
        summaries = (
            conversation_summaries(user_id=user_id, conversation_ids=changed) if changed else []
        )
        removed = sorted(int(c) for c in known if int(c) not in fingerprints)
    cursor = _digest(user_id, fingerprints)
    cache.set(
        _cursor_key(user_id, cursor),
        {str(c): f for c, f in fingerprints.items()},
        timeout=settings.PARLEY_READY_CURSOR_TTL,
    )
    positions = {c: (f[2], f[5]) for c, f in fingerprints.items()}
    # A summary read after the fingerprints may be newer: its own numbers count.
    positions.update({s["id"]: (s["last_seq"], s["joined_seq"]) for s in summaries})
    return ReadyConversations(
        summaries=summaries,
        positions=positions,
        cursor=cursor,
        partial=known is not None,
        removed=removed,
    )
