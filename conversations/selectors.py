"""Reads for conversation features (mentions, reactions, threads, pins, edits)."""

from django.db.models.functions import Lower
from emoji import EMOJI_DATA, STATUS

from core.errors import NotFound
from messaging.events import MessageEvent, iso, message_event, user_ref
from messaging.models import Conversation, Membership, Message
from messaging.selectors import MAX_PAGE, membership_for, reply_parents
from receipts.selectors import with_receipts

from .events import EditEntry, PinEntry
from .markup import ALL_NAMES, Rendered, mention_candidates, render
from .models import MessageEdit, Pin
from .state import with_conversation_state

MANAGER_ROLES = (Membership.Role.OWNER, Membership.Role.ADMIN)


def body_rendered(*, conversation_id: int, kind: str, sender_id: int, body: str) -> Rendered:
    """The body's HTML and mentions as the sender may make them: @username of a member of the
    conversation; @all / @everyone only in a group, only by its owner or an admin."""
    names = mention_candidates(body)
    members: dict[str, int] = {}
    all_allowed = False
    if names:
        rows = (
            Membership.objects.filter(conversation_id=conversation_id)
            .annotate(name=Lower("user__username"))
            .filter(name__in=names - ALL_NAMES)
            .values_list("name", "user_id")
        )
        members = dict(rows)
        if names & ALL_NAMES and kind == Conversation.Kind.GROUP:
            all_allowed = Membership.objects.filter(
                conversation_id=conversation_id, user_id=sender_id, role__in=MANAGER_ROLES
            ).exists()
    return render(body, members=members, all_allowed=all_allowed)


def thread_replies(
    *, user_id: int, conversation_id: int, root_id: int, after_seq: int, limit: int
) -> tuple[MessageEvent, list[MessageEvent], bool]:
    """The root (as its member may see it) and its replies with seq > after_seq, ascending;
    whether more follow. Replies are ordinary messages: same shape as history."""
    membership = membership_for(user_id=user_id, conversation_id=conversation_id)
    root = (
        Message.objects.select_related("sender")
        .filter(pk=root_id, conversation_id=conversation_id, seq__gt=membership.joined_seq)
        .first()
    )
    if root is None:
        raise NotFound("No such message.", field="root_id")
    limit = max(1, min(limit, MAX_PAGE))
    rows = list(
        Message.objects.select_related("sender")
        .filter(thread_id=root_id, conversation_id=conversation_id)
        .filter(seq__gt=max(after_seq, membership.joined_seq))
        .order_by("seq")[: limit + 1]
    )
    parents = reply_parents([root, *rows[:limit]])
    events = [message_event(m, m.sender, parent=parents.get(m.reply_to_id)) for m in rows[:limit]]
    events = with_receipts(events, viewer_id=user_id, conversation=membership.conversation)
    [root_event, *events] = with_conversation_state(
        [message_event(root, root.sender, parent=parents.get(root.reply_to_id)), *events],
        viewer_id=user_id,
    )
    return root_event, events, len(rows) > limit


def visible_message(*, membership: Membership, message_id: int) -> Message:
    """A message of the member's conversation from their join on, or NotFound."""
    message = Message.objects.filter(
        pk=message_id, conversation_id=membership.conversation_id, seq__gt=membership.joined_seq
    ).first()
    if message is None:
        raise NotFound("No such message.", field="message")
    return message


def emoji_search(*, query: str, limit: int = 60) -> list[dict[str, str]]:
    """Emoji whose Unicode CLDR name contains every word of `query` (fully-qualified ones
    only), for the picker; no network."""
    words = [w for w in query.lower().replace("_", " ").split() if w]
    found = []
    for character, data in EMOJI_DATA.items():
        if data.get("status") != STATUS["fully_qualified"]:
            continue
        name = data["en"].strip(":").replace("_", " ").lower()
        if all(word in name for word in words):
            found.append({"emoji": character, "name": name})
            if len(found) >= limit:
                break
    return found


def pins_list(*, user_id: int, conversation_id: int) -> list[PinEntry]:
    """The conversation's pinned messages the member may see, most recently pinned first."""
    membership = membership_for(user_id=user_id, conversation_id=conversation_id)
    pins = list(
        Pin.objects.filter(conversation_id=conversation_id, message_seq__gt=membership.joined_seq)
        .select_related("pinned_by")
        .order_by("-pinned_at", "-id")
    )
    messages = {
        m.pk: m
        for m in Message.objects.filter(id__in=[p.message_id for p in pins]).select_related(
            "sender"
        )
    }
    parents = reply_parents(list(messages.values()))
    entries: list[PinEntry] = []
    for pin in pins:
        message = messages.get(pin.message_id)
        if message is None:
            continue
        entries.append(
            {
                "message": message_event(
                    message, message.sender, parent=parents.get(message.reply_to_id)
                ),
                "pinned_by": user_ref(pin.pinned_by) if pin.pinned_by else None,
                "pinned_at": iso(pin.pinned_at),
            }
        )
    return entries


def message_edits(*, user_id: int, conversation_id: int, message_id: int) -> list[EditEntry]:
    """The bodies a message had before each of its edits, oldest first."""
    membership = membership_for(user_id=user_id, conversation_id=conversation_id)
    message = visible_message(membership=membership, message_id=message_id)
    return [
        {"body": body, "edited_at": iso(edited_at)}
        for body, edited_at in MessageEdit.objects.filter(message_id=message.pk)
        .order_by("edited_at", "id")
        .values_list("body", "edited_at")
    ]
