"""Reads for conversation features (mentions, reactions, threads, pins, edits)."""

from django.db.models.functions import Lower

from messaging.models import Conversation, Membership

from .markup import ALL_NAMES, Rendered, mention_candidates, render

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
