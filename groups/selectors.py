"""Reads of groups, for their members only (strangers get NotFound, as for conversations)."""

from typing import TypedDict

from django.conf import settings

from accounts.events import public_user
from accounts.selectors import PUBLIC_USER_FIELDS
from messaging.errors import NotFound
from messaging.events import UserRef, iso
from messaging.models import Conversation, Membership


class GroupMember(TypedDict):
    user: UserRef
    role: str
    joined_at: str


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
    }


def group_members(*, user_id: int, group_id: int) -> list[GroupMember]:
    """Members in join order (owner and admins are marked by role)."""
    _membership(user_id=user_id, group_id=group_id)
    return [
        {"user": _person(uid, name, shown, key), "role": role, "joined_at": iso(joined)}
        for uid, name, shown, key, role, joined in Membership.objects.filter(
            conversation_id=group_id
        )
        .order_by("joined_at", "pk")
        .values_list("user_id", *(f"user__{f}" for f in PUBLIC_USER_FIELDS), "role", "joined_at")
    ]


def group_member(*, user_id: int, group_id: int, member_id: int) -> GroupMember:
    _membership(user_id=user_id, group_id=group_id)
    row = (
        Membership.objects.filter(conversation_id=group_id, user_id=member_id)
        .values_list("user_id", *(f"user__{f}" for f in PUBLIC_USER_FIELDS), "role", "joined_at")
        .first()
    )
    if row is None:
        raise NotFound("That user is not a member of this group.", field="user")
    uid, name, shown, key, role, joined = row
    return {"user": _person(uid, name, shown, key), "role": role, "joined_at": iso(joined)}


def _person(uid: int, username: str, display_name: str, avatar_key: str) -> UserRef:
    return public_user(id=uid, username=username, display_name=display_name, avatar_key=avatar_key)
