"""Reads of groups, for their members only (strangers get NotFound, as for conversations)."""

from datetime import datetime
from typing import TypedDict

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from accounts.events import public_user
from accounts.selectors import PUBLIC_USER_FIELDS
from conversations.models import GroupVisibility, Invite
from core.errors import Gone, NotFound
from messaging.events import UserRef, iso
from messaging.models import Conversation, Membership


class GroupMember(TypedDict):
    user: UserRef
    role: str
    joined_at: str
    # The member's receipt cursors (what `receipt` frames already tell every member live), so
    # a page opened later can name who has read a message ("Seen by").
    delivered_seq: int
    read_seq: int


class GroupDetail(TypedDict):
    id: int
    name: str
    description: str
    created_at: str
    owner: UserRef | None
    member_count: int
    member_limit: int
    your_role: str
    last_seq: int
    visibility: str  # "private" or "public" (conversations.models.GroupVisibility)


def _membership(*, user_id: int, group_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("conversation")
        .filter(user_id=user_id, conversation_id=group_id, conversation__kind="group")
        .first()
    )
    if membership is None:
        raise NotFound("No such group.", field="group")
    return membership


def group_detail(*, user_id: int, group_id: int) -> GroupDetail:
    """The group as its member sees it, with their own role."""
    membership = _membership(user_id=user_id, group_id=group_id)
    group: Conversation = membership.conversation
    owner = (
        Membership.objects.filter(conversation=group, role=Membership.Role.OWNER)
        .values_list("user_id", *(f"user__{f}" for f in PUBLIC_USER_FIELDS))
        .first()
    )
    return {
        "id": group.pk,
        "name": group.name,
        "description": group.description,
        "created_at": iso(group.created_at),
        "owner": _person(*owner) if owner else None,
        "member_count": Membership.objects.filter(conversation=group).count(),
        "member_limit": settings.PARLEY_GROUP_MEMBER_LIMIT,
        "your_role": membership.role,
        "last_seq": group.last_seq,
        "visibility": group_visibility(group_id=group.pk),
    }


MEMBER_FIELDS = (
    *(f"user__{f}" for f in PUBLIC_USER_FIELDS),
    "role",
    "joined_at",
    "delivered_seq",
    "read_seq",
)


def group_members(*, user_id: int, group_id: int) -> list[GroupMember]:
    """Members in join order (owner and admins are marked by role)."""
    _membership(user_id=user_id, group_id=group_id)
    return [
        _member(*row)
        for row in Membership.objects.filter(conversation_id=group_id)
        .order_by("joined_at", "pk")
        .values_list("user_id", *MEMBER_FIELDS)
    ]


def group_member(*, user_id: int, group_id: int, member_id: int) -> GroupMember:
    _membership(user_id=user_id, group_id=group_id)
    row = (
        Membership.objects.filter(conversation_id=group_id, user_id=member_id)
        .values_list("user_id", *MEMBER_FIELDS)
        .first()
    )
    if row is None:
        raise NotFound("That user is not a member of this group.", field="user")
    return _member(*row)


def _member(
    uid: int,
    name: str,
    shown: str,
    key: str,
    role: str,
    joined: datetime,
    delivered_seq: int,
    read_seq: int,
) -> GroupMember:
    return {
        "user": _person(uid, name, shown, key),
        "role": role,
        "joined_at": iso(joined),
        "delivered_seq": delivered_seq,
        "read_seq": read_seq,
    }


def _person(uid: int, username: str, display_name: str, avatar_key: str) -> UserRef:
    return public_user(id=uid, username=username, display_name=display_name, avatar_key=avatar_key)


def public_groups(*, search: str = "", limit: int = 100) -> list[dict]:
    """Public groups anyone may see and join: name, description, member count; biggest first."""
    groups = (
        Conversation.objects.filter(
            kind=Conversation.Kind.GROUP,
            pk__in=GroupVisibility.objects.filter(visibility="public").values("conversation_id"),
        )
        .annotate(member_count=Count("memberships"))
        .order_by("-member_count", "name", "pk")
    )
    if search.strip():
        groups = groups.filter(Q(name__icontains=search.strip()) | Q(description__icontains=search))
    return [
        {
            "id": group.pk,
            "name": group.name,
            "description": group.description,
            "member_count": group.member_count,
            "visibility": "public",
        }
        for group in groups[:limit]
    ]


def group_visibility(*, group_id: int) -> str:
    return (
        GroupVisibility.objects.filter(conversation_id=group_id)
        .values_list("visibility", flat=True)
        .first()
        or "private"
    )


def invite_preview(*, user_id: int, code: str) -> dict:
    """What an invite shows a logged-in user: the group's name; NotFound when unknown or
    revoked, Gone when expired or used up."""
    invite = Invite.objects.select_related("conversation").filter(code=code).first()
    if invite is None:
        raise NotFound("No such invite.", field="code")
    invite_usable(invite)
    group = invite.conversation
    return {
        "code": invite.code,
        "group": {
            "id": group.pk,
            "name": group.name,
            "description": group.description,
            "member_count": Membership.objects.filter(conversation=group).count(),
        },
        "member": Membership.objects.filter(conversation=group, user_id=user_id).exists(),
        "expires_at": iso(invite.expires_at) if invite.expires_at else None,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
    }


def invite_usable(invite: Invite) -> None:
    """Gone when the invite expired or is used up."""
    if invite.expires_at is not None and invite.expires_at <= timezone.now():
        raise Gone("This invite has expired.", field="code")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise Gone("This invite has been used up.", field="code")


def member_groups(*, user_id: int) -> list[dict]:
    """The groups the user is in, in the shape of public_groups."""
    groups = (
        Conversation.objects.filter(kind=Conversation.Kind.GROUP, memberships__user_id=user_id)
        .annotate(member_count=Count("memberships", distinct=True))
        .order_by("name", "pk")
    )
    public = set(
        GroupVisibility.objects.filter(conversation__in=groups, visibility="public").values_list(
            "conversation_id", flat=True
        )
    )
    return [
        {
            "id": group.pk,
            "name": group.name,
            "description": group.description,
            "member_count": group.member_count,
            "visibility": "public" if group.pk in public else "private",
        }
        for group in groups
    ]
