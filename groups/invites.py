"""Public groups and invite links: who may see a group without being in it, and how people
join it themselves. Joining runs under the group's row lock like every membership change and
is recorded as a `member_added` system message (actor: the user who joined)."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from conversations.models import GroupVisibility, Invite
from core.errors import BadRequest, MemberLimit, NotFound
from messaging.events import user_ref
from messaging.models import Membership
from messaging.services import publish_conversation_joined, system_message_store
from presence.services import presence_group_joined

from .selectors import invite_usable
from .services import MANAGERS, _actor_role, _lock_group, _require

Visibility = GroupVisibility.Visibility
MAX_INVITE_SECONDS = 365 * 24 * 3600
MAX_INVITE_USES = 100_000


def group_visibility_set(*, actor: User, group_id: int, visibility: object) -> str:
    """The owner and admins make their group public (listed, anyone may join) or private."""
    if visibility not in Visibility.values:
        raise BadRequest("visibility must be private or public", field="visibility")
    with transaction.atomic():
        group = _lock_group(group_id)
        _require(_actor_role(actor=actor, group=group, via="api"), MANAGERS, "change visibility")
        GroupVisibility.objects.update_or_create(
            conversation=group, defaults={"visibility": visibility}
        )
    return str(visibility)


def _join(group_id: int, user: User, *, how: str) -> tuple[Membership, bool]:
    """Adds the user as a member (inside the caller's transaction, group locked); an existing
    member stays as they are. (membership, joined now)."""
    existing = Membership.objects.filter(conversation_id=group_id, user=user).first()
    if existing is not None:
        return existing, False
    limit = settings.PARLEY_GROUP_MEMBER_LIMIT
    if Membership.objects.filter(conversation_id=group_id).count() >= limit:
        raise MemberLimit(f"The group is full: a group has at most {limit} members.", field="group")
    message = system_message_store(
        conversation_id=group_id,
        body=f"{user.username} joined",
        system={
            "event": "member_added",
            "actor": user_ref(user),
            "user": user_ref(user),
            "role": Membership.Role.MEMBER,
            "via": how,
        },
    )
    start = message.seq - 1
    membership = Membership.objects.create(
        conversation_id=group_id,
        user=user,
        role=Membership.Role.MEMBER,
        joined_seq=start,
        delivered_seq=start,
        read_seq=start,
    )
    publish_conversation_joined(group_id, [user.pk])
    presence_group_joined(group_id=group_id, user_ids=[user.pk])
    return membership, True


def group_join(*, user: User, group_id: int) -> Membership:
    """Anyone joins a public group as a member; a private group does not exist for them."""
    with transaction.atomic():
        group = _lock_group(group_id)
        public = GroupVisibility.objects.filter(
            conversation=group, visibility=Visibility.PUBLIC
        ).exists()
        if not public and not Membership.objects.filter(conversation=group, user=user).exists():
            raise NotFound("No such group.", field="group")
        membership, _ = _join(group.pk, user, how="public")
    return membership


def invite_create(
    *, actor: User, group_id: int, expires_in: object = None, max_uses: object = None
) -> Invite:
    """The owner and admins make an invite link: 192 random bits, optionally expiring after
    `expires_in` seconds and after `max_uses` joins."""
    for name, value, top in (
        ("expires_in", expires_in, MAX_INVITE_SECONDS),
        ("max_uses", max_uses, MAX_INVITE_USES),
    ):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top
        ):
            raise BadRequest(f"{name} must be a whole number from 1 to {top}", field=name)
    with transaction.atomic():
        group = _lock_group(group_id)
        _require(_actor_role(actor=actor, group=group, via="api"), MANAGERS, "create invites")
        return Invite.objects.create(
            code=secrets.token_urlsafe(24),
            conversation=group,
            created_by=actor,
            expires_at=(
                timezone.now() + timedelta(seconds=expires_in)  # type: ignore[arg-type]
                if expires_in is not None
                else None
            ),
            max_uses=max_uses,  # type: ignore[misc]
        )


def invite_accept(*, user: User, code: str) -> Membership:
    """Joins the invite's group; each new member uses the invite once (a member who follows
    it again uses nothing). Expired or used up: Gone; unknown or revoked: NotFound."""
    with transaction.atomic():
        invite = Invite.objects.filter(code=code).first()
        if invite is None:
            raise NotFound("No such invite.", field="code")
        _lock_group(invite.conversation_id)
        invite = Invite.objects.select_for_update().filter(code=code).first()
        if invite is None:
            raise NotFound("No such invite.", field="code")
        if Membership.objects.filter(conversation_id=invite.conversation_id, user=user).exists():
            return Membership.objects.get(conversation_id=invite.conversation_id, user=user)
        invite_usable(invite)
        membership, _ = _join(invite.conversation_id, user, how="invite")
        Invite.objects.filter(code=code).update(uses=F("uses") + 1)
    return membership


def invite_revoke(*, actor: User, group_id: int, code: str) -> None:
    """The owner and admins revoke an invite of their group; the link stops working."""
    with transaction.atomic():
        group = _lock_group(group_id)
        _require(_actor_role(actor=actor, group=group, via="api"), MANAGERS, "revoke invites")
        if not Invite.objects.filter(code=code, conversation=group).delete()[0]:
            raise NotFound("No such invite.", field="code")
