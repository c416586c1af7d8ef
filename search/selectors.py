"""Message search: what a user may read, and nothing else.

Visibility is history's rule, applied in the page query itself: the conversations the user is
a member of now, and in each the messages after their joined_seq;
deleted messages (tombstones) never match, and an edited message is indexed by its current
body only (its old text is gone from the index with the edit). Announcements are found by
everyone because every active user is a member of that conversation (announcements.services).
"""

import hashlib
import html
import json
import secrets
from datetime import datetime
from typing import Any, Literal, TypedDict

from django.core import signing
from django.db import connection
from django.db.models.expressions import RawSQL

from conversations.state import with_conversation_state
from core.errors import BadRequest
from messaging.events import MessageEvent, conversation_title
from messaging.ids import message_id_floor
from messaging.models import Conversation, Membership, Message
from messaging.selectors import message_objects
from receipts.selectors import with_receipts

from . import syntax
from .schema import FTS_TABLE, search_config

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# Bodies up to this long are highlighted whole; longer ones as fragments around the matches.
WHOLE_BODY_CHARS = 300
_CURSOR_SALT = "search.cursor"
_MAX_ID = 2**63 - 1

Sort = Literal["newest", "relevance"]


class ConversationRef(TypedDict):
    id: int
    kind: str
    title: str


class SearchResult(TypedDict):
    message: MessageEvent
    conversation: ConversationRef
    highlight: str


class SearchPage(TypedDict):
    results: list[SearchResult]
    next: str | None


def _id_bound(moment: datetime) -> int:
    """The id floor of a moment, inside bigint (a date in year 1 or 9999 stays a number the
    database takes)."""
    return max(0, min(_MAX_ID, message_id_floor(moment)))


def _digest(parts: dict[str, Any]) -> str:
    """What a cursor is bound to: the query and filters it was issued for."""
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _cursor_encode(*, sort: Sort, rank: float | None, message_id: int, digest: str) -> str:
    return signing.dumps({"s": sort, "r": rank, "i": message_id, "d": digest}, salt=_CURSOR_SALT)


def _cursor_decode(cursor: str, *, sort: Sort, digest: str) -> tuple[float | None, int]:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
    except signing.BadSignature:
        raise BadRequest("cursor is not one this server issued.", field="cursor") from None
    if not isinstance(data, dict) or data.get("d") != digest or data.get("s") != sort:
        raise BadRequest(
            "cursor belongs to a different search (q, filters or sort changed).", field="cursor"
        )
    rank, message_id = data.get("r"), data.get("i")
    if not isinstance(message_id, int) or (sort == "relevance" and not isinstance(rank, float)):
        raise BadRequest("cursor is not one this server issued.", field="cursor")
    return rank, message_id


def _postgres_prepare(*, q: str, config: str, user_id: int) -> list[tuple[int, int]]:
    """Checks q (400 when it has nothing to find) and reads the user's memberships
    (conversation id, joined_seq), in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT numnode(t), querytree(t),"  # noqa: S608 (config checked by search_config)
            " ARRAY(SELECT conversation_id FROM messaging_membership WHERE user_id = %s"
            "  ORDER BY conversation_id),"
            " ARRAY(SELECT joined_seq FROM messaging_membership WHERE user_id = %s"
            "  ORDER BY conversation_id)"
            f" FROM websearch_to_tsquery('{config}'::regconfig, %s) AS t",
            [user_id, user_id, q],
        )
        nodes, tree, conversation_ids, joined = cursor.fetchone()
    if nodes == 0:
        raise BadRequest(
            "q has no words to search for (only stop words or punctuation).", field="q"
        )
    if tree == "T":
        # Only negations: no index can answer it (it would read every message).
        raise BadRequest("q must have a word to find, not only -excluded words.", field="q")
    return list(zip(conversation_ids, joined, strict=True))


def _postgres_page(
    *,
    user_id: int,
    q: str,
    clauses: list[str],
    params: list[Any],
    sort: Sort,
    after_key: tuple[float | None, int] | None,
    limit: int,
) -> list[tuple[int, float | None]]:
    """The visibility rule without a join: the user's conversations as a list the planner can
    see (its statistics then tell a busy conversation from a quiet one, so it picks between
    the GIN index and the (conversation, seq) index on real numbers, and can combine them),
    and the join point of each conversation joined late as a filter."""
    config = search_config()
    tsquery = f"websearch_to_tsquery('{config}'::regconfig, %s)"
    memberships = _postgres_prepare(q=q, config=config, user_id=user_id)
    if not memberships:
        return []
    rank = f"ts_rank(m.search_vector, {tsquery})::float8"
    where = [
        f"m.search_vector @@ {tsquery}",
        "m.conversation_id = ANY(%s::bigint[])",
        "m.deleted_at IS NULL",
        *clauses,
    ]
    where_params: list[Any] = [q, [c for c, _ in memberships], *params]
    late = [(c, j) for c, j in memberships if j > 0]
    if late:
        where.append(
            "m.seq > coalesce((%s::bigint[])[array_position(%s::bigint[], m.conversation_id)], 0)"
        )
        where_params += [[j for _, j in late], [c for c, _ in late]]
    if after_key is not None:
        after_rank, after_id = after_key
        if sort == "relevance":
            where.append(f"({rank}, m.id) < (%s, %s)")
            where_params += [q, after_rank, after_id]
        else:
            where.append("m.id < %s")
            where_params.append(after_id)
    if sort == "relevance":
        # Higher ts_rank is better; ties newest first.
        select, select_params, order = f"{rank} AS rank", [q], "rank DESC, m.id DESC"
    else:
        select, select_params, order = "NULL AS rank", [], "m.id DESC"
    sql = (
        f"SELECT m.id, {select} FROM messaging_message m"  # noqa: S608 (no input in the text)
        f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*select_params, *where_params, limit + 1])
        return [(row[0], row[1]) for row in cursor.fetchall()]


def _sqlite_page(
    *,
    user_id: int,
    q: str,
    clauses: list[str],
    params: list[Any],
    sort: Sort,
    after_key: tuple[float | None, int] | None,
    limit: int,
) -> list[tuple[int, float | None]]:
    """FTS5 finds the matches; the membership join keeps what the user may read."""
    where = [
        f"{FTS_TABLE} MATCH %s",
        "mb.user_id = %s",
        "m.seq > mb.joined_seq",
        "m.deleted_at IS NULL",
        *clauses,
    ]
    where_params: list[Any] = [syntax.fts5_query(q), user_id, *params]
    if after_key is not None:
        after_rank, after_id = after_key
        if sort == "relevance":
            # bm25 (FTS5's rank): lower is better.
            where.append("(f.rank > %s OR (f.rank = %s AND m.id < %s))")
            where_params += [after_rank, after_rank, after_id]
        else:
            where.append("f.rowid < %s")
            where_params.append(after_id)
    if sort == "relevance":
        select, order = "f.rank", "f.rank ASC, m.id DESC"
    else:
        # The FTS rowid is the message id: FTS5 walks its matches newest first and the query
        # stops at the page's end, with no sort of every match.
        select, order = "NULL", "f.rowid DESC"
    sql = (
        f"SELECT m.id, {select} AS rank FROM {FTS_TABLE} f"  # noqa: S608 (no input in the text)
        " JOIN messaging_message m ON m.id = f.rowid"
        " JOIN messaging_membership mb ON mb.conversation_id = m.conversation_id"
        f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*where_params, limit + 1])
        return [(row[0], row[1]) for row in cursor.fetchall()]


def _page_ids(
    *,
    user_id: int,
    q: str,
    filters: list[tuple[str, list[Any]]],
    sort: Sort,
    after_key: tuple[float | None, int] | None,
    limit: int,
) -> list[tuple[int, float | None]]:
    """(id, rank) of the page, in its order: one more than `limit`, to tell whether more follow."""
    page = _postgres_page if connection.vendor == "postgresql" else _sqlite_page
    return page(
        user_id=user_id,
        q=q,
        clauses=[clause for clause, _ in filters],
        params=[p for _, ps in filters for p in ps],
        sort=sort,
        after_key=after_key,
        limit=limit,
    )


def _highlight(raw: str, start: str, stop: str) -> str:
    """The engine's highlight with its sentinels: everything HTML-escaped, then the sentinels
    (random letters and digits, which escaping leaves alone) turned into <mark> tags."""
    escaped = html.escape(raw, quote=True)
    return escaped.replace(start, "<mark>").replace(stop, "</mark>")


def _sentinels() -> tuple[str, str]:
    return f"S{secrets.token_hex(8)}S", f"E{secrets.token_hex(8)}E"


def _postgres_headline(q: str, start: str, stop: str) -> RawSQL:
    """ts_headline of a message, for the page's rows only (it reads and parses the body)."""
    config = search_config()
    tsquery = f"websearch_to_tsquery('{config}'::regconfig, %s)"
    whole = f"HighlightAll=true, StartSel={start}, StopSel={stop}"
    fragments = (
        'MaxFragments=2, MaxWords=30, MinWords=12, FragmentDelimiter=" … ",'
        f" StartSel={start}, StopSel={stop}"
    )
    body = '"messaging_message"."body"'
    return RawSQL(  # noqa: S611 (config checked; q is a parameter)
        f"CASE WHEN length({body}) <= {WHOLE_BODY_CHARS}"
        f" THEN ts_headline('{config}'::regconfig, {body}, {tsquery}, %s)"
        f" ELSE ts_headline('{config}'::regconfig, {body}, {tsquery}, %s) END",
        [q, whole, q, fragments],
    )


def _sqlite_highlights(q: str, ids: list[int], start: str, stop: str) -> dict[int, str]:
    """FTS5's highlight (whole body) or snippet (fragments) of the page's messages."""
    if not ids:
        return {}
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT rowid, CASE WHEN length(body) <= {WHOLE_BODY_CHARS}"  # noqa: S608 (no input in the text)
        f" THEN highlight({FTS_TABLE}, 0, %s, %s)"
        f" ELSE snippet({FTS_TABLE}, 0, %s, %s, ' … ', 32) END"
        f" FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND rowid IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, stop, start, stop, syntax.fts5_query(q), *ids])
        return {row[0]: row[1] or "" for row in cursor.fetchall()}


def _titles(user_id: int, conversations: dict[int, Conversation]) -> dict[int, str]:
    direct = [pk for pk, c in conversations.items() if c.kind == Conversation.Kind.DIRECT]
    names: dict[int, dict[int, str]] = {}
    for conversation_id, member_id, username in Membership.objects.filter(
        conversation_id__in=direct
    ).values_list("conversation_id", "user_id", "user__username"):
        names.setdefault(conversation_id, {})[member_id] = username
    return {
        pk: conversation_title(c, viewer_id=user_id, member_names=names.get(pk, {}))
        for pk, c in conversations.items()
    }


def message_search(
    *,
    user_id: int,
    q: str,
    conversation_id: int | None = None,
    sender_id: int | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    has: str | None = None,
    sort: Sort = "newest",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> SearchPage:
    """The page of messages the user may read (history's rule) that match q, newest first or
    by rank, each with its conversation and an escaped highlight; `next` continues the same
    search with no message repeated or skipped."""
    q = q.strip()
    if not q:
        raise BadRequest("q must not be empty.", field="q")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    filters: list[tuple[str, list[Any]]] = []
    if conversation_id is not None:
        filters.append(("m.conversation_id = %s", [conversation_id]))
    if sender_id is not None:
        filters.append(("m.sender_id = %s", [sender_id]))
    # Ids are time-ordered: a date range is an id range (and on PostgreSQL prunes partitions).
    if after is not None:
        filters.append(("m.id >= %s", [_id_bound(after)]))
    if before is not None:
        filters.append(("m.id < %s", [_id_bound(before)]))
    if has == "link":
        like = "ILIKE" if connection.vendor == "postgresql" else "LIKE"  # SQLite's is ILIKE
        filters.append((f"(m.body {like} %s OR m.body {like} %s)", ["%http://%", "%https://%"]))
    elif has == "file":
        # The upload_message_idx index answers this per candidate message.
        filters.append(("EXISTS (SELECT 1 FROM uploads_upload u WHERE u.message_id = m.id)", []))
    elif has is not None:
        raise BadRequest('has must be "link" or "file".', field="has")
    digest = _digest(
        {
            "q": q,
            "c": conversation_id,
            "f": sender_id,
            "b": before,
            "a": after,
            "h": has,
            "s": sort,
            "u": user_id,
        }
    )
    after_key = _cursor_decode(cursor, sort=sort, digest=digest) if cursor else None

    rows = _page_ids(
        user_id=user_id, q=q, filters=filters, sort=sort, after_key=after_key, limit=limit
    )
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [message_id for message_id, _ in rows]
    start, stop = _sentinels()
    # Deleted since the page query ran: left out rather than shown as a tombstone.
    found = Message.objects.filter(id__in=ids, deleted_at__isnull=True).select_related(
        "sender", "conversation"
    )
    if connection.vendor == "postgresql":
        found = found.annotate(headline=_postgres_headline(q, start, stop))
    messages = {m.pk: m for m in found} if ids else {}
    ids = [message_id for message_id in ids if message_id in messages]
    raw = (
        {pk: m.headline or "" for pk, m in messages.items()}
        if connection.vendor == "postgresql"
        else _sqlite_highlights(q, ids, start, stop)
    )
    highlights = {pk: _highlight(text, start, stop) for pk, text in raw.items()}
    conversations = {m.conversation_id: m.conversation for m in messages.values()}
    titles = _titles(user_id, conversations)

    # The message objects exactly as history shows them, receipts of the viewer's own included.
    events: dict[int, MessageEvent] = {}
    by_conversation: dict[int, list[MessageEvent]] = {}
    for event in message_objects([messages[message_id] for message_id in ids]):
        by_conversation.setdefault(event["conversation"], []).append(event)
    for conversation_id_, page in by_conversation.items():
        conversation_ = conversations[conversation_id_]
        page = with_receipts(page, viewer_id=user_id, conversation=conversation_)
        # Reactions, thread summaries and pins: one query per conversation that ever had any.
        page = with_conversation_state(
            page, viewer_id=user_id, any_changes=conversation_.last_change_seq > 0
        )
        for event in page:
            events[int(event["id"])] = event

    results: list[SearchResult] = []
    for message_id in ids:
        event = events[message_id]
        conversation = conversations[event["conversation"]]
        results.append(
            {
                "message": event,
                "conversation": {
                    "id": conversation.pk,
                    "kind": conversation.kind,
                    "title": titles[conversation.pk],
                },
                "highlight": highlights.get(message_id) or html.escape(event["body"] or ""),
            }
        )
    next_cursor = None
    if more and rows:
        last_id, last_rank = rows[-1]
        next_cursor = _cursor_encode(
            sort=sort,
            rank=float(last_rank) if last_rank is not None else None,
            message_id=last_id,
            digest=digest,
        )
    return {"results": results, "next": next_cursor}
