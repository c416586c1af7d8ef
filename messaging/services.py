"""Writes to conversations and messages. Each service owns its transaction and publishes
realtime events only after commit."""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import realtime
from accounts.models import User
from audit.services import audit_record
from chatsite import metrics
from chatsite.db import replicas
from conversations.selectors import body_rendered
from conversations.services import (
    mentions_record,
    message_edit_record,
    message_forget,
    thread_reply_deleted,
    threads_record,
)
from core.errors import (
    OUTAGE_ERRORS,
    BadRequest,
    ChatError,
    Conflict,
    EditWindowClosed,
    Forbidden,
    NotFound,
)
from presence.services import presence_direct_senders_record
from previews.services import previews_schedule
from uploads import services as uploads

from . import dedup, history_cache, partitions, signals
from .events import (
    AckEvent,
    ConversationJoinedEvent,
    ConversationLeftEvent,
    MessageDeletedEvent,
    MessageUpdatedEvent,
    ack_event,
    message_change_event,
    message_event,
)
from .ids import next_message_id
from .models import Conversation, Membership, Message, MessageKey
from .selectors import conversation_summaries
from .text import plain_html, storable_text

logger = logging.getLogger(__name__)

BODY_MAX_CHARS = 4000
CLIENT_MSG_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def validate_client_msg_id(client_msg_id: object) -> str:
    if not isinstance(client_msg_id, str) or not CLIENT_MSG_ID_RE.fullmatch(client_msg_id):
        raise BadRequest(
            "client_msg_id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -", field="client_msg_id"
        )
    return client_msg_id


def validate_body(body: object) -> str:
    if not isinstance(body, str):
        raise BadRequest("body must be a string", field="body")
    if not body.strip():
        raise BadRequest("body must not be empty or only whitespace", field="body")
    if len(body) > BODY_MAX_CHARS:
        raise BadRequest(f"body must be at most {BODY_MAX_CHARS} characters", field="body")
    return storable_text(body, field="body")


@dataclass(frozen=True)
class Draft:
    """A message about to be stored: a user's (sender set) or a system message (system set)."""

    conversation_id: int
    sender: User | None
    client_msg_id: str | None
    body: str
    system: dict[str, Any] | None = None
    attachments: tuple[Any, ...] = ()  # uploads' AttachmentRefs, claimed by the send
    # Rendered by conversations.markup; system messages get their text escaped.
    html: str = ""
    mentions: list[int] | None = None
    mentions_all: bool = False
    reply_to_id: int | None = None
    thread_id: int | None = None
    parent: Message | None = None  # the message replied to, its sender loaded


@dataclass(frozen=True)
class SendRequest:
    """One `send`, as a client made it (validated by message_send_many)."""

    sender: User
    conversation_id: int
    client_msg_id: object
    body: object
    attachments: object = None  # upload ids (uploads.services.attachment_ids)
    reply_to: object = None  # the id (a string of digits) of the message answered


MAX_ID = 2**63 - 1


def validate_reply_to(reply_to: object) -> int | None:
    """The id of the message answered, or None; a string of digits (an integer is accepted)."""
    if reply_to is None:
        return None
    if isinstance(reply_to, str) and reply_to.isascii() and reply_to.isdigit():
        reply_to = int(reply_to) if len(reply_to) <= 19 else 0
    if not isinstance(reply_to, int) or isinstance(reply_to, bool) or not 1 <= reply_to <= MAX_ID:
        raise BadRequest("reply_to must be a message id (a string of digits)", field="reply_to")
    return reply_to


def _take_seqs(counts: dict[int, int]) -> dict[int, int]:
    """Takes counts[c] consecutive seqs of each conversation c in one statement; returns each
    conversation's new last_seq. The UPDATE row-locks only these conversations, so senders
    elsewhere are not serialized; a rollback returns the numbers (no gaps). With more than one
    conversation the caller must already hold their row locks, taken in id order, or two
    batches could deadlock."""
    table = Conversation._meta.db_table
    ids = sorted(counts)
    cases = " ".join("WHEN %s THEN %s" for _ in ids)
    placeholders = ", ".join("%s" for _ in ids)
    params: list[Any] = [value for cid in ids for value in (cid, counts[cid])]
    params += [timezone.now(), *ids]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + CASE id {cases} END, "  # noqa: S608
            f"last_message_at = %s WHERE id IN ({placeholders}) RETURNING id, last_seq",
            params,
        )
        taken = {int(row[0]): int(row[1]) for row in cursor.fetchall()}
    if len(taken) != len(ids):
        raise NotFound("No such conversation.", field="conversation")
    return taken


def _original_ack(*, sender: User, client_msg_id: str, conversation_id: int) -> AckEvent | None:
    # The key table's unique index finds the id; the id alone picks the message's partition.
    key = MessageKey.objects.filter(sender_id=sender.pk, client_msg_id=client_msg_id).first()
    original = Message.objects.filter(pk=key.message_id).first() if key is not None else None
    if original is None:
        return None
    if original.conversation_id != conversation_id:
        raise Conflict(
            "client_msg_id was already used for a message in another conversation",
            field="client_msg_id",
        )
    return ack_event(original, duplicate=True)


def _store_messages(drafts: list[Draft]) -> list[Message]:
    """The one way messages are stored, user or system: takes each conversation's next seqs (in
    the drafts' order), writes the uniqueness keys and the rows in one INSERT each, and after
    commit publishes them to their conversations in one trip and adds them to the history
    cache. Call inside a transaction the caller owns (see _take_seqs on locks)."""
    counts: dict[int, int] = {}
    for draft in drafts:
        counts[draft.conversation_id] = counts.get(draft.conversation_id, 0) + 1
    last = _take_seqs(counts)
    next_seq = {cid: last[cid] - count + 1 for cid, count in counts.items()}
    created_at = timezone.now()
    messages = []
    for draft in drafts:
        seq = next_seq[draft.conversation_id]
        next_seq[draft.conversation_id] = seq + 1
        messages.append(
            Message(
                id=next_message_id(),
                conversation_id=draft.conversation_id,
                seq=seq,
                sender=draft.sender,
                client_msg_id=draft.client_msg_id,
                body=draft.body,
                created_at=created_at,
                system=draft.system,
                html=draft.html or plain_html(draft.body),
                mentions=draft.mentions,
                mentions_all=draft.mentions_all,
                reply_to_id=draft.reply_to_id,
                thread_id=draft.thread_id,
            )
        )
    # A month without a partition (beat stopped) is created here rather than failing the send.
    partitions.partitions_cover([m.pk for m in messages])
    # The key rows enforce uniqueness across monthly partitions (MessageKey).
    MessageKey.objects.bulk_create(
        [
            MessageKey(
                message_id=m.pk,
                conversation_id=m.conversation_id,
                seq=m.seq,
                sender_id=m.sender_id,
                client_msg_id=m.client_msg_id,
            )
            for m in messages
        ]
    )
    Message.objects.bulk_create(messages)
    events = [
        {
            **message_event(m, d.sender, parent=d.parent),
            "attachments": list(d.attachments),
            "previews": [],
        }
        for m, d in zip(messages, drafts, strict=True)
    ]

    def after_commit() -> None:
        realtime.publish_to_conversations(
            "message", [(event["conversation"], dict(event)) for event in events]
        )
        history_cache.messages_added(events)

    transaction.on_commit(after_commit, robust=True)
    return messages


def system_message_store(*, conversation_id: int, body: str, system: dict[str, Any]) -> Message:
    """Records an event in the conversation (a member joined, left, ...) as a message with a
    seq, so every member sees it in order, live and on sync. Call inside the caller's
    transaction, after any membership change it records has been made."""
    draft = Draft(
        conversation_id=conversation_id, sender=None, client_msg_id=None, body=body, system=system
    )
    return _store_messages([draft])[0]


_DUPLICATE_ELSEWHERE = "client_msg_id was already used for a message in another conversation"


def message_send(
    *,
    sender: User,
    conversation_id: int,
    client_msg_id: str,
    body: str = "",
    attachments: object = None,
    reply_to: str | int | None = None,
) -> AckEvent:
    """Stores a message exactly once per (sender, client_msg_id) with the conversation's next
    seq, and publishes it to the conversation after commit. A repeat returns the original ack.
    `attachments`: the sender's own unattached upload ids; `reply_to`: a message of the same
    conversation this one answers."""
    result = message_send_many(
        [
            SendRequest(
                sender,
                conversation_id,
                client_msg_id,
                body,
                attachments=attachments,
                reply_to=reply_to,
            )
        ]
    )[0]
    if isinstance(result, Exception):
        raise result
    return result


def message_send_many(requests: list[SendRequest]) -> list[AckEvent | Exception]:
    """Sends, each exactly as message_send would, stored together in one transaction: the
    gateway batches the sends that arrive while earlier ones are being stored (messaging/
    batching.py), so under load one commit, one seq statement, one INSERT per table and one
    publish carry many messages. Returns, per request and in order, its ack or the error it
    earned (a ChatError, or the unexpected exception storing it alone raised); one request's
    error never fails the others. Only an outage (OUTAGE_ERRORS) is raised for all."""
    results: list[AckEvent | Exception | None] = [None] * len(requests)
    valid: list[int] = []
    for index, request in enumerate(requests):
        try:
            validate_client_msg_id(request.client_msg_id)
            # With files attached, the text may be empty (or absent on the WebSocket).
            with_files = bool(uploads.attachment_ids(request.attachments))
            body = "" if request.body is None and with_files else request.body
            blank = isinstance(body, str) and not body.strip() and len(body) <= BODY_MAX_CHARS
            if not (with_files and blank):
                validate_body(body)
            validate_reply_to(request.reply_to)
        except ChatError as exc:
            results[index] = exc
        else:
            valid.append(index)

    # The dedup fast path (messaging/dedup.py): a retry is answered from the cache.
    cached = dedup.cached_acks(
        [(requests[i].sender.pk, str(requests[i].client_msg_id)) for i in valid]
    )
    first_of: dict[tuple[int, str], int] = {}
    repeats: dict[int, int] = {}  # a repeat within the batch -> the request it repeats
    to_store: list[int] = []
    for index in valid:
        request = requests[index]
        key = (request.sender.pk, str(request.client_msg_id))
        hit = cached.get(key)
        if hit is not None:
            results[index] = (
                {**hit, "duplicate": True}
                if hit["conversation"] == request.conversation_id
                else Conflict(_DUPLICATE_ELSEWHERE, field="client_msg_id")
            )
        elif key in first_of:
            repeats[index] = first_of[key]
        else:
            first_of[key] = index
            to_store.append(index)

    if to_store:
        try:
            with transaction.atomic():
                stored = _store_sends([requests[i] for i in to_store])
        except OUTAGE_ERRORS:
            raise  # the database or Redis is down: nothing was stored, every sender hears it
        except Exception as exc:
            # Not an outage, so about one of the requests: the unique (sender, client_msg_id)
            # key fired (a concurrent or earlier send stored it, its cache entry gone), or a
            # value the database refused. The transaction stored nothing; in a batch, each
            # request is redone alone, so one request can never fail another's.
            if len(to_store) > 1:
                logger.warning(
                    "a batch of %d sends failed (%r); storing each alone", len(to_store), exc
                )
                stored = _send_each_alone([requests[i] for i in to_store])
            elif not isinstance(exc, IntegrityError):
                raise
            else:
                # Alone, a repeat gets the original's ack.
                request = requests[to_store[0]]
                try:
                    duplicate = _original_ack(
                        sender=request.sender,
                        client_msg_id=str(request.client_msg_id),
                        conversation_id=request.conversation_id,
                    )
                except Conflict as conflict:
                    duplicate = conflict
                if duplicate is None:
                    raise
                stored = [duplicate]
        for index, result in zip(to_store, stored, strict=True):
            results[index] = result

    for index, original in repeats.items():
        result = results[original]
        if isinstance(result, dict):
            results[index] = {**result, "duplicate": True}
        else:
            results[index] = result
    return results  # type: ignore[return-value]


def _send_each_alone(requests: list[SendRequest]) -> list[AckEvent | Exception]:
    """Each request in its own transaction, each with its own result: its ack, the ChatError it
    earned or the exception storing it raised. Once an outage is met, it is every remaining
    request's result (no point hammering a database that is down)."""
    results: list[AckEvent | Exception] = []
    outage: Exception | None = None
    for request in requests:
        if outage is not None:
            results.append(outage)
            continue
        try:
            results.append(message_send_many([request])[0])
        except OUTAGE_ERRORS as exc:
            outage = exc
            results.append(exc)
        except Exception as exc:
            results.append(exc)
    return results


def _sender_memberships(requests: list[SendRequest]) -> dict[tuple[int, int], str]:
    """{(conversation_id, sender_id): conversation kind} of the senders that are members, in
    one query that also row-locks those conversations in id order (PostgreSQL), so two
    batches never wait on each other's locks in opposite orders. Plain SQL: the ORM's query
    building was a tenth of the send path's CPU."""
    conversation_ids = sorted({r.conversation_id for r in requests})
    sender_ids = sorted({r.sender.pk for r in requests})
    membership = Membership._meta.db_table
    conversation = Conversation._meta.db_table
    lock = f" FOR UPDATE OF {conversation}" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.conversation_id, m.user_id, {conversation}.kind "  # noqa: S608
            f"FROM {membership} m JOIN {conversation} ON {conversation}.id = m.conversation_id "
            f"WHERE m.conversation_id IN ({', '.join('%s' for _ in conversation_ids)}) "
            f"AND m.user_id IN ({', '.join('%s' for _ in sender_ids)}) "
            f"ORDER BY m.conversation_id{lock}",
            [*conversation_ids, *sender_ids],
        )
        return {(int(cid), int(uid)): kind for cid, uid, kind in cursor.fetchall()}


def _reply_parents(
    requests: list[SendRequest],
) -> tuple[dict[tuple[int, int], dict[int, Message]], set[int]]:
    """{(conversation, sender): {id: message}} of the messages these requests answer that the
    sender may see: in the same conversation, from the sender's join on (deleted ones too: a
    tombstone can be answered); and the ids asked for that exist at all (an id that exists but
    is not among the sender's is refused; one that does not exist is "unknown": accepted)."""
    wanted: dict[tuple[int, int], set[int]] = {}
    for request in requests:
        try:
            reply_to = validate_reply_to(request.reply_to)
        except BadRequest:
            continue
        if reply_to is not None:
            wanted.setdefault((request.conversation_id, request.sender.pk), set()).add(reply_to)
    if not wanted:
        return {}, set()
    floors = {
        (cid, uid): joined
        for cid, uid, joined in Membership.objects.filter(
            conversation_id__in={cid for cid, _ in wanted}, user_id__in={uid for _, uid in wanted}
        ).values_list("conversation_id", "user_id", "joined_seq")
    }
    ids = set().union(*wanted.values())
    found = Message.objects.filter(id__in=ids).select_related("sender")
    parents: dict[tuple[int, int], dict[int, Message]] = {}
    for key, message_ids in wanted.items():
        floor = floors.get(key)
        parents[key] = {
            m.pk: m
            for m in found
            if m.pk in message_ids
            and m.conversation_id == key[0]
            and floor is not None
            and m.seq > floor
        }
    return parents, {m.pk for m in found}


def _store_sends(requests: list[SendRequest]) -> list[AckEvent | ChatError]:
    """The transaction of message_send_many: checks membership (and locks the conversations,
    in id order), stores the messages of those allowed, and schedules their after-commit
    work."""
    kinds = _sender_memberships(requests)
    results: list[AckEvent | ChatError | None] = [None] * len(requests)
    allowed: list[int] = []
    for index, request in enumerate(requests):
        kind = kinds.get((request.conversation_id, request.sender.pk))
        if kind is None:
            results[index] = NotFound("No such conversation.", field="conversation")
        elif kind == Conversation.Kind.ANNOUNCEMENT and not request.sender.is_staff:
            results[index] = Forbidden("Only staff can post announcements.", field="conversation")
        else:
            allowed.append(index)
    parents, existing = _reply_parents([requests[i] for i in allowed])
    for index in list(allowed):
        request = requests[index]
        reply_to = validate_reply_to(request.reply_to)
        if (
            reply_to is not None
            and reply_to in existing
            and reply_to not in parents.get((request.conversation_id, request.sender.pk), {})
        ):
            results[index] = BadRequest(
                "reply_to must be a message of this conversation", field="reply_to"
            )
            allowed.remove(index)
    # The uploads each send attaches: the sender's own, not attached yet (locked till commit).
    claims: dict[int, uploads.Claim] = {}
    with_files = [i for i in allowed if requests[i].attachments]
    wanted = [
        (requests[i].sender.pk, uploads.attachment_ids(requests[i].attachments)) for i in with_files
    ]
    for index, claim in zip(with_files, uploads.attachments_claim(wanted=wanted), strict=True):
        if isinstance(claim, ChatError):
            results[index] = claim
            allowed.remove(index)
        else:
            claims[index] = claim
    if not allowed:
        return results  # type: ignore[return-value]
    drafts = []
    for i in allowed:
        request = requests[i]
        reply_to = validate_reply_to(request.reply_to)
        # None for an unknown id (the contract accepts it: the reply shows no excerpt).
        parent = (
            parents.get((request.conversation_id, request.sender.pk), {}).get(reply_to)
            if reply_to is not None
            else None
        )
        rendered = body_rendered(
            conversation_id=request.conversation_id,
            kind=kinds[(request.conversation_id, request.sender.pk)],
            sender_id=request.sender.pk,
            body=str(request.body or ""),
        )
        drafts.append(
            Draft(
                conversation_id=request.conversation_id,
                sender=request.sender,
                client_msg_id=str(request.client_msg_id),
                body=str(request.body or ""),
                html=rendered.html,
                mentions=rendered.mentions,
                mentions_all=rendered.mentions_all,
                reply_to_id=reply_to,
                thread_id=(parent.thread_id or parent.pk) if parent is not None else reply_to,
                parent=parent,
                attachments=tuple(claims[i].refs) if i in claims else (),
            )
        )
    messages = _store_messages(drafts)
    uploads.attachments_attach(
        attached=[
            (m.pk, m.conversation_id, m.seq, claims[i])
            for i, m in zip(allowed, messages, strict=True)
            if i in claims
        ]
    )
    mentions_record(messages=[m for m in messages if m.mentions or m.mentions_all])
    threads_record(messages=[m for m in messages if m.thread_id is not None])
    # Who has written in which direct chat decides who shares presence (presence.selectors).
    presence_direct_senders_record(
        sends=[
            (m.conversation_id, m.sender_id)
            for m in messages
            if kinds[(m.conversation_id, m.sender_id)] == Conversation.Kind.DIRECT
        ]
    )
    previews_schedule(messages=messages)  # link previews, fetched after commit
    acks: list[tuple[int, AckEvent]] = []
    for index, message in zip(allowed, messages, strict=True):
        ack = ack_event(message, duplicate=False)
        results[index] = ack
        acks.append((requests[index].sender.pk, ack))

    def count_and_announce() -> None:
        for message in messages:
            metrics.message_stored(kind=kinds[(message.conversation_id, message.sender_id)])
        # Offline push, among others, subscribes (messaging/signals.py).
        stored = [(message.conversation_id, message.pk) for message in messages]
        for receiver, error in signals.messages_stored.send_robust(None, messages=stored):
            if error is not None:
                logger.error("%s failed on stored messages", receiver, exc_info=error)

    transaction.on_commit(partial(dedup.acks_remember, acks), robust=True)
    transaction.on_commit(count_and_announce, robust=True)
    # The senders read their own messages at once, even from a lagging replica's page.
    replicas.writes_noted_on_commit(user_ids=[sender_id for sender_id, _ in acks])
    return results  # type: ignore[return-value]


def publish_conversation_joined(conversation_id: int, user_ids: list[int]) -> None:
    """After commit, tells each new member's sockets about the conversation (their own view of
    it: title and unread differ per member). Call inside the transaction that added them."""

    def publish() -> None:
        for user_id in user_ids:
            for summary in conversation_summaries(
                user_id=user_id, conversation_ids=[conversation_id]
            ):
                event: ConversationJoinedEvent = {
                    "type": "conversation",
                    "conversation": summary,
                }
                realtime.publish_to_user(user_id, event["type"], dict(event))

    transaction.on_commit(publish, robust=True)


def publish_conversation_created(conversation_id: int, user_ids: list[int]) -> None:
    """After commit, tells the first members of a conversation just created about it in one
    publish: nothing is sent or read in it yet, so every member's summary is the same (one
    title, nothing unread) and is built once, not once per member (a group created with
    thousands of members). Call inside the transaction that created it."""

    def publish() -> None:
        if not user_ids:
            return
        for summary in conversation_summaries(
            user_id=user_ids[0], conversation_ids=[conversation_id]
        ):
            event: ConversationJoinedEvent = {"type": "conversation", "conversation": summary}
            realtime.publish_to_users(user_ids, event["type"], dict(event))

    transaction.on_commit(publish, robust=True)


def conversation_direct_open(*, user: User, other_id: int) -> tuple[Conversation, bool]:
    """The one direct conversation of a pair, created on first use; (conversation, created)."""
    if other_id == user.pk:
        raise BadRequest("You cannot open a direct chat with yourself.", field="user")
    if not User.objects.filter(pk=other_id, is_active=True).exists():
        raise NotFound("No such user.", field="user")
    low, high = sorted((user.pk, other_id))
    key = f"{low}:{high}"
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=Conversation.Kind.DIRECT, direct_key=key, created_by=user
            )
            Membership.objects.bulk_create(
                [Membership(conversation=conversation, user_id=uid) for uid in (low, high)]
            )
            publish_conversation_joined(conversation.pk, [low, high])
    except IntegrityError:
        # The other side opened it at the same moment.
        return Conversation.objects.get(direct_key=key), False
    return conversation, True


def publish_conversation_left(conversation_id: int, user_id: int, *, reason: str) -> None:
    """After commit, tells the user's sockets on every process to stop carrying the
    conversation. Call inside the transaction that removed the membership, before storing the
    system message that records it.

    It travels once, on the conversation's own channel, so every socket handles the leave
    before that system message (same channel, same order). Should it be lost (at-most-once),
    the socket's next gap read of the conversation finds it no longer a member and leaves."""
    event: ConversationLeftEvent = {
        "type": "conversation_left",
        "conversation": conversation_id,
        "reason": reason,  # type: ignore[typeddict-item]
    }
    addressed = {**event, "user": user_id}

    transaction.on_commit(
        lambda: realtime.publish_to_conversation(conversation_id, event["type"], addressed),
        robust=True,
    )


def _next_change_seq(conversation_id: int) -> int:
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_change_seq = last_change_seq + 1 "  # noqa: S608
            "WHERE id = %s RETURNING last_change_seq",
            [conversation_id],
        )
        row = cursor.fetchone()
    return int(row[0])


def _message_for_change(*, conversation_id: int, message_id: int) -> Message:
    message = (
        Message.objects.select_for_update()
        .select_related("conversation")
        .filter(pk=message_id, conversation_id=conversation_id)
        .first()
    )
    if message is None:
        raise NotFound("No such message.", field="id")
    return message


def _publish_change(message: Message) -> MessageUpdatedEvent | MessageDeletedEvent:
    event = message_change_event(message)
    transaction.on_commit(
        partial(
            realtime.publish_to_conversation, message.conversation_id, event["type"], dict(event)
        ),
        robust=True,
    )
    # The cached newest page holds the old text; an edit does not move last_seq, so the cache
    # cannot tell by itself.
    transaction.on_commit(
        partial(history_cache.history_cache_invalidate, message.conversation_id), robust=True
    )
    replicas.writes_noted_on_commit(user_ids=[message.sender_id])
    return event


def message_edit(
    *, editor: User, conversation_id: int, message_id: int, body: str
) -> MessageUpdatedEvent:
    """Only the sender edits, within PARLEY_EDIT_WINDOW of sending and never after a delete;
    each edit takes the conversation's next change_seq and is published after commit."""
    body = validate_body(body)
    with transaction.atomic():
        membership = (
            Membership.objects.filter(conversation_id=conversation_id, user_id=editor.pk)
            .only("joined_seq")
            .first()
        )
        if membership is None:
            raise NotFound("No such conversation.", field="conversation")
        message = _message_for_change(conversation_id=conversation_id, message_id=message_id)
        if message.seq <= membership.joined_seq:
            raise NotFound("No such message.", field="id")
        if message.sender_id != editor.pk:
            raise Forbidden("You can only edit your own messages.", field="id")
        if message.deleted_at is not None:
            raise Conflict("The message was deleted.", field="id")
        window = settings.PARLEY_EDIT_WINDOW
        if timezone.now() - message.created_at > timedelta(seconds=window):
            raise EditWindowClosed(
                f"Messages can be edited for {window} seconds after sending.", field="id"
            )
        rendered = body_rendered(
            conversation_id=conversation_id,
            kind=message.conversation.kind,
            sender_id=editor.pk,
            body=body,
        )
        had_mentions = bool(message.mentions or message.mentions_all)
        edited_at = timezone.now()
        message_edit_record(message=message, edited_at=edited_at)
        message.body = body
        message.html = rendered.html
        message.mentions = rendered.mentions
        message.mentions_all = rendered.mentions_all
        message.edited_at = edited_at
        message.change_seq = _next_change_seq(conversation_id)
        message.save(
            update_fields=["body", "html", "mentions", "mentions_all", "edited_at", "change_seq"]
        )
        if had_mentions or rendered.mentions or rendered.mentions_all:
            mentions_record(messages=[message])
        event = _publish_change(message)
    return event  # type: ignore[return-value]


def can_moderate(*, user: User, membership: Membership | None) -> bool:
    """Staff moderate everywhere; a group's owner and admins moderate their group."""
    if user.is_staff:
        return True
    return (
        membership is not None
        and membership.conversation.kind == Conversation.Kind.GROUP
        and membership.role in (Membership.Role.OWNER, Membership.Role.ADMIN)
    )


def message_delete(
    *, actor: User, conversation_id: int, message_id: int, reason: str = "", via: str = "api"
) -> MessageDeletedEvent:
    """The sender, the group's owner/admins and staff delete: the row stays as a tombstone
    (seq kept, body erased) with the next change_seq, published after commit. Deleting another
    person's message is audited. Deleting a tombstone again changes nothing."""
    reason = storable_text(reason, field="reason")
    with transaction.atomic():
        membership = (
            Membership.objects.select_related("conversation")
            .filter(conversation_id=conversation_id, user_id=actor.pk)
            .first()
        )
        if membership is None and not actor.is_staff:
            raise NotFound("No such conversation.", field="conversation")
        message = _message_for_change(conversation_id=conversation_id, message_id=message_id)
        if membership is not None and not actor.is_staff and message.seq <= membership.joined_seq:
            raise NotFound("No such message.", field="id")
        own = message.sender_id is not None and message.sender_id == actor.pk
        if not own and not can_moderate(user=actor, membership=membership):
            raise Forbidden("You can only delete your own messages.", field="id")
        if message.system is not None and not actor.is_staff:
            raise Forbidden("System messages cannot be deleted.", field="id")
        if message.deleted_at is not None:
            return message_change_event(message)  # type: ignore[return-value]
        had_mentions = bool(message.mentions or message.mentions_all)
        message.body = ""
        message.html = ""
        message.mentions = None
        message.mentions_all = False
        message.deleted_at = timezone.now()
        message.change_seq = _next_change_seq(conversation_id)
        message.save(
            update_fields=["body", "html", "mentions", "mentions_all", "deleted_at", "change_seq"]
        )
        uploads.attachments_release(message_id=message.pk)  # files go after commit
        if had_mentions:
            mentions_record(messages=[message])
        message_forget(message=message, actor=actor)
        if message.thread_id is not None:
            thread_reply_deleted(message=message)
        if not own:
            audit_record(
                actor=actor,
                action="message_delete",
                target=f"message {message.pk} (#{message.seq} in conversation {conversation_id})",
                target_type="message",
                target_id=str(message.pk),
                reason=reason,
                via=via,
            )
        event = _publish_change(message)
    return event  # type: ignore[return-value]


def membership_update(*, user: User, conversation_id: int, muted: object) -> Membership:
    """Changes the caller's own settings in a conversation; a muted one sends them no push."""
    if not isinstance(muted, bool):
        raise BadRequest("muted must be true or false", field="muted")
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(conversation_id=conversation_id, user_id=user.pk)
            .first()
        )
        if membership is None:
            raise NotFound("No such conversation.", field="conversation")
        if membership.muted != muted:
            membership.muted = muted
            membership.save(update_fields=["muted"])
    return membership
