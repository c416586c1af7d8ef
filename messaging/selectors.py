"""Reads of conversations and messages. Every function here checks nothing but what it says;
access checks go through `membership_for`."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from accounts.events import public_user
from accounts.selectors import PUBLIC_USER_FIELDS
from chatsite.db import replicas
from conversations.models import ConversationChange, Mention
from conversations.state import with_conversation_state
from core.errors import NotFound
from previews.selectors import with_previews
from uploads.selectors import with_attachments

from . import history_cache
from .events import (
    ConversationSummary,
    MessageDeletedEvent,
    MessageEvent,
    MessageUpdatedEvent,
    UserRef,
    conversation_title,
    message_change_event,
    message_event,
)
from .models import Conversation, Membership, Message, MessageKey
from .signals import history_read

MAX_PAGE = 500


def membership_for(*, user_id: int, conversation_id: int) -> Membership:
    """The caller's membership, or NotFound: a stranger cannot tell a conversation exists."""
    membership = (
        Membership.objects.select_related("conversation")
        .filter(user_id=user_id, conversation_id=conversation_id)
        .first()
    )
    if membership is None:
        raise NotFound("No such conversation.", field="conversation")
    return membership


def conversation_ids_for_user(*, user_id: int) -> list[int]:
    return list(
        Membership.objects.filter(user_id=user_id).values_list("conversation_id", flat=True)
    )


def conversation_summaries(
    *, user_id: int, conversation_ids: list[int] | None = None, include_members: bool = False
) -> list[ConversationSummary]:
    """The user's conversations, most recently active first, with unread counts.

    `unread` counts messages from others (system messages included) after the read cursor and
    after the member joined.
    """
    unread = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            seq__gt=Greatest(OuterRef("read_seq"), OuterRef("joined_seq")),
        )
        .exclude(sender_id=user_id)
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    # Unread messages that mention the viewer (conversations.models.Mention).
    unread_mentions = (
        Mention.objects.filter(
            user_id=user_id,
            conversation_id=OuterRef("conversation_id"),
            seq__gt=Greatest(OuterRef("read_seq"), OuterRef("joined_seq")),
        )
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    memberships = (
        Membership.objects.filter(user_id=user_id)
        .select_related("conversation")
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
        .annotate(
            unread_mentions=Coalesce(
                Subquery(unread_mentions, output_field=IntegerField()), Value(0)
            )
        )
        .order_by("-conversation__last_message_at", "-conversation_id")
    )
    if conversation_ids is not None:
        memberships = memberships.filter(conversation_id__in=conversation_ids)
    memberships = list(memberships)

    # Member names: needed for direct-chat titles always, for every kind when listing members.
    # Announcement member lists are everyone, so they are never listed.
    wanted = [
        m.conversation_id
        for m in memberships
        if m.conversation.kind == Conversation.Kind.DIRECT
        or (include_members and m.conversation.kind == Conversation.Kind.GROUP)
    ]
    names: dict[int, dict[int, str]] = {}
    people: dict[int, dict[int, UserRef]] = {}
    for conversation_id, member_id, username, display_name, avatar_key in Membership.objects.filter(
        conversation_id__in=wanted
    ).values_list("conversation_id", "user_id", *(f"user__{f}" for f in PUBLIC_USER_FIELDS)):
        names.setdefault(conversation_id, {})[member_id] = username
        people.setdefault(conversation_id, {})[member_id] = public_user(
            id=member_id, username=username, display_name=display_name, avatar_key=avatar_key
        )

    last_messages = last_messages_of(memberships)
    summaries: list[ConversationSummary] = []
    for m in memberships:
        conversation = m.conversation
        member_names = names.get(conversation.pk, {})
        summary: ConversationSummary = {
            "id": conversation.pk,
            "kind": conversation.kind,
            "title": conversation_title(conversation, viewer_id=user_id, member_names=member_names),
            "last_seq": conversation.last_seq,
            "read_seq": m.read_seq,
            "unread": m.unread,
            "unread_mentions": m.unread_mentions,
            "joined_seq": m.joined_seq,
            "last_change_seq": conversation.last_change_seq,
            "last_message": last_messages.get(conversation.pk),
        }
        if include_members:
            summary["members"] = [
                person for _, person in sorted(people.get(conversation.pk, {}).items())
            ]
        summaries.append(summary)
    return summaries


LAST_MESSAGES_CHUNK = 500


def last_messages_of(memberships: list[Membership]) -> dict[int, MessageEvent]:
    """The newest message of each conversation that the member may see (after their join), by
    conversation id: what a conversation list previews. Two queries per LAST_MESSAGES_CHUNK
    conversations (SQLite refuses an expression deeper than 1,000 terms: a user in 2,000
    conversations could not get `ready` on the embedded default)."""
    keys = [
        Q(conversation_id=m.conversation_id, seq=m.conversation.last_seq)
        for m in memberships
        if m.conversation.last_seq > m.joined_seq
    ]
    found: dict[int, MessageEvent] = {}
    for start in range(0, len(keys), LAST_MESSAGES_CHUNK):
        wanted = Q()
        for key in keys[start : start + LAST_MESSAGES_CHUNK]:
            wanted |= key
        ids = list(MessageKey.objects.filter(wanted).values_list("message_id", flat=True))
        rows = Message.objects.filter(id__in=ids).select_related("sender")
        found.update((event["conversation"], event) for event in map(last_message_event, rows))
    return found


def last_message_event(message: Message) -> MessageEvent:
    """A message as a preview shows it: the message object without its attachments' and
    previews' details (the open conversation loads those through history)."""
    return message_event(message, message.sender)


def message_objects(messages) -> list[MessageEvent]:  # type: ignore[no-untyped-def]
    """Message objects as history and sync show them (reply references, attachments and
    previews included), in the given order; one query per kind of extra, whatever the number
    of messages."""
    parents = reply_parents(messages)
    return with_previews(
        with_attachments(
            [message_event(m, m.sender, parent=parents.get(m.reply_to_id)) for m in messages]
        )
    )


def reply_parents(messages: list[Message]) -> dict[int, Message]:
    """The messages these reply to, by id (with their senders), in one query."""
    ids = {m.reply_to_id for m in messages if m.reply_to_id is not None}
    if not ids:
        return {}
    return {m.pk: m for m in Message.objects.filter(id__in=ids).select_related("sender")}


def _messages_of(keys) -> list[Message]:  # type: ignore[no-untyped-def]
    """The messages of these keys, in the keys' order. The (conversation, seq) index lives in
    the non-partitioned MessageKey table; the messages are then read by id, which touches only
    the partitions that hold them."""
    ids = list(keys.values_list("message_id", flat=True))
    found = {m.pk: m for m in Message.objects.filter(id__in=ids).select_related("sender")}
    return [found[i] for i in ids if i in found]


def messages_after(
    *, conversation_id: int, after_seq: int, limit: int, floor_seq: int = 0
) -> tuple[list[MessageEvent], bool]:
    """Messages with seq > after_seq (and > floor_seq), ascending; and whether more follow."""
    limit = max(1, min(limit, MAX_PAGE))
    keys = MessageKey.objects.filter(
        conversation_id=conversation_id, seq__gt=max(after_seq, floor_seq)
    ).order_by("seq")[: limit + 1]
    rows = _messages_of(keys)
    return message_objects(rows[:limit]), len(rows) > limit


def messages_before(
    *, conversation_id: int, before_seq: int | None, limit: int, floor_seq: int = 0
) -> tuple[list[MessageEvent], bool]:
    """The `limit` messages just before before_seq (the newest when None), listed ascending;
    and whether older ones exist."""
    limit = max(1, min(limit, MAX_PAGE))
    keys = MessageKey.objects.filter(conversation_id=conversation_id, seq__gt=floor_seq)
    if before_seq is not None:
        keys = keys.filter(seq__lt=before_seq)
    page = _messages_of(keys.order_by("-seq")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    page.reverse()
    return message_objects(page), has_more


def message_history(
    *, user_id: int, conversation_id: int, after_seq: int | None, before_seq: int | None, limit: int
) -> tuple[list[MessageEvent], bool, int]:
    """History as its member may see it (from their join on); also the conversation's last_seq."""
    membership = membership_for(user_id=user_id, conversation_id=conversation_id)
    floor = membership.joined_seq
    if after_seq is not None:
        page, has_more = messages_after(
            conversation_id=conversation_id, after_seq=after_seq, limit=limit, floor_seq=floor
        )
    elif before_seq is None:
        page, has_more = newest_page(
            conversation_id=conversation_id,
            last_seq=membership.conversation.last_seq,
            floor_seq=floor,
            limit=limit,
        )
    else:
        page, has_more = messages_before(
            conversation_id=conversation_id, before_seq=before_seq, limit=limit, floor_seq=floor
        )
    return _as_viewer(page, membership), has_more, membership.conversation.last_seq


def _as_viewer(page: list[MessageEvent], membership: Membership) -> list[MessageEvent]:
    """The page as its member sees it: receipts and any other app that adds the viewer's view
    of a message subscribe to history_read; then threads, reactions and pins."""
    page = list(page)  # the subscribers change it in place; the page may be shared
    history_read.send(
        sender=None, page=page, viewer_id=membership.user_id, conversation=membership.conversation
    )
    return with_conversation_state(
        page,
        viewer_id=membership.user_id,
        any_changes=membership.conversation.last_change_seq > 0,
    )


@dataclass(frozen=True, slots=True)
class HistoryAfter:
    """A member's read of a conversation's messages after a seq (a socket's gap fill)."""

    user_id: int
    conversation_id: int
    after_seq: int
    limit: int = MAX_PAGE


def message_history_after_many(
    requests: list[HistoryAfter],
) -> list[tuple[list[MessageEvent], bool] | Exception]:
    """Each request answered as message_history(after_seq=...) would answer it (the page as
    its member sees it and whether more follow; NotFound for a non-member), with one
    membership query per conversation and one page read per distinct (conversation, after_seq,
    join floor, limit) whatever the number of members asking: when thousands of sockets of a
    process join one conversation at once (a first announcement, a mass add), each reads back
    what was committed while it subscribed, all from the same seq (gateway/live.py)."""
    by_conversation: dict[int, set[int]] = {}
    for request in requests:
        by_conversation.setdefault(request.conversation_id, set()).add(request.user_id)
    memberships = {
        (m.conversation_id, m.user_id): m
        for conversation_id, user_ids in by_conversation.items()
        for m in Membership.objects.select_related("conversation").filter(
            conversation_id=conversation_id, user_id__in=user_ids
        )
    }
    pages: dict[tuple[int, int, int, int], tuple[list[MessageEvent], bool]] = {}
    results: list[tuple[list[MessageEvent], bool] | Exception] = []
    for request in requests:
        membership = memberships.get((request.conversation_id, request.user_id))
        if membership is None:
            results.append(NotFound("No such conversation.", field="conversation"))
            continue
        key = (request.conversation_id, request.after_seq, membership.joined_seq, request.limit)
        if key not in pages:
            pages[key] = messages_after(
                conversation_id=request.conversation_id,
                after_seq=request.after_seq,
                limit=request.limit,
                floor_seq=membership.joined_seq,
            )
        page, has_more = pages[key]
        results.append((_as_viewer(page, membership), has_more))
    return results


def message_changes(
    *, user_id: int, conversation_id: int, after_change_seq: int, limit: int
) -> tuple[list[MessageUpdatedEvent | MessageDeletedEvent], bool, int]:
    """Edits and deletes with change_seq > after_change_seq, ascending, as their member may
    see them (messages from their join on); whether more follow; the last_change_seq."""
    membership = membership_for(user_id=user_id, conversation_id=conversation_id)
    limit = max(1, min(limit, MAX_PAGE))
    rows = list(
        Message.objects.filter(
            conversation_id=conversation_id,
            change_seq__gt=after_change_seq,
            seq__gt=membership.joined_seq,
        ).order_by("change_seq")[: limit + 1]
    )
    # Thread summaries, reactions and pins (conversations.models.ConversationChange) share the
    # conversation's change_seq: merged in order with the messages' own edits and deletes.
    others = list(
        ConversationChange.objects.filter(
            conversation_id=conversation_id,
            change_seq__gt=after_change_seq,
            message_seq__gt=membership.joined_seq,
        )
        .order_by("change_seq")
        .values_list("event", flat=True)[: limit + 1]
    )
    merged = sorted(
        [message_change_event(m) for m in rows] + others,  # type: ignore[operator]
        key=lambda event: event["change_seq"],
    )
    return (
        merged[:limit],
        len(merged) > limit,
        membership.conversation.last_change_seq,
    )


def newest_page(
    *, conversation_id: int, last_seq: int, floor_seq: int, limit: int
) -> tuple[list[MessageEvent], bool]:
    """The newest page, from the history cache when warm; a miss reads the database and
    warms it."""
    cached = history_cache.newest_page(
        conversation_id=conversation_id, last_seq=last_seq, floor_seq=floor_seq, limit=limit
    )
    if cached is not None:
        return cached
    generation = history_cache.generation(conversation_id)
    # One more than the page, to tell whether older messages exist.
    size = max(limit, settings.PARLEY_HISTORY_CACHE_SIZE) + 1
    newest, older = messages_before(conversation_id=conversation_id, before_seq=None, limit=size)
    if not replicas.reading_from_replica():  # a lagging replica's page may predate an edit
        history_cache.page_store(
            conversation_id=conversation_id,
            generation_seen=generation,
            messages=newest,
            complete=not older,
        )
    answered = history_cache.answer(newest, complete=not older, floor_seq=floor_seq, limit=limit)
    if answered is not None:
        return answered
    # Only when the page is as large as MAX_PAGE allows.
    return messages_before(
        conversation_id=conversation_id, before_seq=None, limit=limit, floor_seq=floor_seq
    )
