"""Groups: creation, settings, members and roles.

Every membership change runs under a row lock on the group, is stored as a system message in
the same transaction (so it gets a seq and reaches everyone in order, live and on sync) and is
published after commit. Changes made by owners/admins (or staff in the admin) are audited.
"""

from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from audit.models import AuditLogEntry
from audit.services import audit_record
from core.errors import BadRequest, Conflict, Forbidden, MemberLimit, NotFound
from messaging.events import user_ref
from messaging.models import Conversation, Membership
from messaging.services import (
    publish_conversation_created,
    publish_conversation_joined,
    publish_conversation_left,
    system_message_store,
)
from messaging.text import storable_text
from presence.services import presence_group_joined
from receipts.services import departed_member_record

GROUP_NAME_MAX = 120
DESCRIPTION_MAX = 1000
Role = Membership.Role
MANAGERS = (Role.OWNER, Role.ADMIN)
ROLE_NOUN = {Role.OWNER: "the owner", Role.ADMIN: "an admin", Role.MEMBER: "a member"}


def _validated_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name must not be empty", field="name")
    name = storable_text(name.strip(), field="name")
    if len(name) > GROUP_NAME_MAX:
        raise BadRequest(f"name must be at most {GROUP_NAME_MAX} characters", field="name")
    return name


def group_create(*, creator: User, name: str, member_ids: list[int]) -> Conversation:
    """Creates a group conversation owned by its creator, with the given active users as members."""
    name = _validated_name(name)
    wanted = {uid for uid in member_ids if uid != creator.pk}
    limit = settings.PARLEY_GROUP_MEMBER_LIMIT
    if len(wanted) + 1 > limit:
        raise MemberLimit(f"a group has at most {limit} members", field="members")
    found = set(User.objects.filter(pk__in=wanted, is_active=True).values_list("pk", flat=True))
    missing = sorted(wanted - found)
    if missing:
        raise BadRequest(f"no such users: {missing}", field="members")
    with transaction.atomic():
        group = Conversation.objects.create(
            kind=Conversation.Kind.GROUP, name=name, created_by=creator
        )
        Membership.objects.bulk_create(
            [Membership(conversation=group, user=creator, role=Role.OWNER)]
            + [Membership(conversation=group, user_id=uid) for uid in sorted(found)]
        )
        publish_conversation_created(group.pk, [creator.pk, *sorted(found)])
        presence_group_joined(group_id=group.pk, user_ids=[creator.pk, *sorted(found)])
    return group


def _lock_group(group_id: int) -> Conversation:
    """The group, row-locked for the rest of the transaction: membership changes to one group
    run one at a time (member limit, single owner)."""
    group = (
        Conversation.objects.select_for_update()
        .filter(pk=group_id, kind=Conversation.Kind.GROUP)
        .first()
    )
    if group is None:
        raise NotFound("No such group.", field="group")
    return group


def _actor_role(*, actor: User, group: Conversation, via: str) -> str:
    """The actor's role; staff acting in the admin count as owner. Strangers get NotFound."""
    if via == AuditLogEntry.Via.ADMIN and actor.is_staff:
        return Role.OWNER
    role = (
        Membership.objects.filter(conversation=group, user=actor)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise NotFound("No such group.", field="group")
    return role


def _require(role: str, allowed: tuple[str, ...], what: str) -> None:
    if role not in allowed:
        who = "the owner" if allowed == (Role.OWNER,) else "the owner or an admin"
        raise Forbidden(f"Only {who} can {what}.", field="role")


def _target(group: Conversation, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user")
        .filter(conversation=group, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound("That user is not a member of this group.", field="user")
    return membership


def _audit(
    actor: User, action: str, group: Conversation, detail: str, *, via: str, reason: str = ""
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=f"group {group.name!r} (#{group.pk}): {detail}",
        target_type="group",
        target_id=str(group.pk),
        reason=reason,
        via=via,
    )


def _system(group: Conversation, body: str, **system: Any) -> None:
    system_message_store(conversation_id=group.pk, body=body, system=system)


def group_update(
    *,
    actor: User,
    group_id: int,
    name: str | None = None,
    description: str | None = None,
    via: str = "api",
) -> Conversation:
    """The owner and admins rename the group and change its description; recorded as a
    system message and audited."""
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = _validated_name(name)
    if description is not None:
        if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
            raise BadRequest(
                f"description must be at most {DESCRIPTION_MAX} characters", field="description"
            )
        changes["description"] = storable_text(description.strip(), field="description")
    with transaction.atomic():
        group = _lock_group(group_id)
        _require(_actor_role(actor=actor, group=group, via=via), MANAGERS, "change the group")
        changes = {k: v for k, v in changes.items() if getattr(group, k) != v}
        if not changes:
            return group
        for field, value in changes.items():
            setattr(group, field, value)
        group.save(update_fields=list(changes))
        what = " and ".join(
            f"renamed the group to {changes['name']!r}"
            if k == "name"
            else "changed the description"
            for k in changes
        )
        _system(
            group,
            f"{actor.username} {what}",
            event="group_updated",
            actor=user_ref(actor),
            **changes,
        )
        _audit(actor, AuditLogEntry.Action.GROUP_UPDATE, group, what, via=via)
    return group


def group_member_add(
    *, actor: User, group_id: int, user_id: int, role: str = Role.MEMBER, via: str = "api"
) -> Membership:
    """The owner and admins add active users (only the owner adds admins), up to
    PARLEY_GROUP_MEMBER_LIMIT. The new member's history starts at the join message."""
    if role not in (Role.MEMBER, Role.ADMIN):
        raise BadRequest("role must be member or admin", field="role")
    with transaction.atomic():
        group = _lock_group(group_id)
        actor_role = _actor_role(actor=actor, group=group, via=via)
        _require(actor_role, MANAGERS, "add members")
        if role == Role.ADMIN:
            _require(actor_role, (Role.OWNER,), "add admins")
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise NotFound("No such user.", field="user")
        if Membership.objects.filter(conversation=group, user=user).exists():
            raise Conflict("That user is already a member.", field="user")
        limit = settings.PARLEY_GROUP_MEMBER_LIMIT
        if Membership.objects.filter(conversation=group).count() >= limit:
            raise MemberLimit(
                f"The group is full: a group has at most {limit} members.", field="user"
            )
        # The join message comes first so its seq marks where the new member's history begins.
        message = system_message_store(
            conversation_id=group.pk,
            body=f"{actor.username} added {user.username}",
            system={
                "event": "member_added",
                "actor": user_ref(actor),
                "user": user_ref(user),
                "role": role,
            },
        )
        start = message.seq - 1
        membership = Membership.objects.create(
            conversation=group,
            user=user,
            role=role,
            joined_seq=start,
            delivered_seq=start,
            read_seq=start,
        )
        publish_conversation_joined(group.pk, [user.pk])
        presence_group_joined(group_id=group.pk, user_ids=[user.pk])
        _audit(
            actor,
            AuditLogEntry.Action.MEMBER_ADD,
            group,
            f"added {user.username} as {role}",
            via=via,
        )
    return membership


def _remove(group: Conversation, membership: Membership, *, reason: str) -> None:
    """Deletes the membership, keeping its receipt cursors (what they read stays counted); the
    user's sockets are told before the system message goes out, so they never see it or
    anything after it."""
    departed_member_record(membership_id=membership.pk)
    membership.delete()
    publish_conversation_left(group.pk, membership.user_id, reason=reason)


def _successor(group: Conversation) -> Membership | None:
    """The oldest admin, else the oldest member."""
    for role in (Role.ADMIN, Role.MEMBER):
        found = (
            Membership.objects.select_related("user")
            .filter(conversation=group, role=role)
            .order_by("joined_at", "pk")
            .first()
        )
        if found is not None:
            return found
    return None


def group_member_remove(
    *, actor: User, group_id: int, user_id: int, reason: str = "", via: str = "api"
) -> None:
    """The owner removes anyone but themself; admins remove members. The removed user's
    sockets stop carrying the group at once and they lose its history. Audited."""
    reason = storable_text(reason, field="reason")
    if user_id == actor.pk:
        group_leave(user=actor, group_id=group_id)
        return
    with transaction.atomic():
        group = _lock_group(group_id)
        actor_role = _actor_role(actor=actor, group=group, via=via)
        _require(actor_role, MANAGERS, "remove members")
        target = _target(group, user_id)
        if target.role == Role.OWNER:
            raise Forbidden(
                "The owner cannot be removed; they can hand ownership over.", field="user"
            )
        if target.role == Role.ADMIN:
            _require(actor_role, (Role.OWNER,), "remove admins")
        _remove(group, target, reason="removed")
        _system(
            group,
            f"{actor.username} removed {target.user.username}",
            event="member_removed",
            actor=user_ref(actor),
            user=user_ref(target.user),
        )
        _audit(
            actor,
            AuditLogEntry.Action.MEMBER_REMOVE,
            group,
            f"removed {target.user.username}",
            via=via,
            reason=reason,
        )


def group_member_role_set(
    *, actor: User, group_id: int, user_id: int, role: str, via: str = "api"
) -> Membership:
    """Only the owner promotes and demotes admins; making someone the owner hands ownership
    over (the old owner becomes an admin). A group always has exactly one owner."""
    if role not in Role.values:
        raise BadRequest("role must be owner, admin or member", field="role")
    with transaction.atomic():
        group = _lock_group(group_id)
        _require(_actor_role(actor=actor, group=group, via=via), (Role.OWNER,), "change roles")
        target = _target(group, user_id)
        if target.role == role:
            return target
        if target.role == Role.OWNER:
            raise BadRequest("Hand ownership over to another member instead.", field="role")
        if role == Role.OWNER:
            previous = (
                Membership.objects.select_related("user")
                .filter(conversation=group, role=Role.OWNER)
                .first()
            )
            if previous is not None:
                previous.role = Role.ADMIN
                previous.save(update_fields=["role"])
            target.role = Role.OWNER
            target.save(update_fields=["role"])
            _system(
                group,
                f"{target.user.username} is now the owner",
                event="owner_changed",
                actor=user_ref(actor),
                user=user_ref(target.user),
                previous=user_ref(previous.user) if previous else None,
            )
            _audit(
                actor,
                AuditLogEntry.Action.OWNERSHIP_TRANSFER,
                group,
                f"handed ownership to {target.user.username}",
                via=via,
            )
            return target
        target.role = role
        target.save(update_fields=["role"])
        _system(
            group,
            f"{actor.username} made {target.user.username} {ROLE_NOUN[role]}",
            event="role_changed",
            actor=user_ref(actor),
            user=user_ref(target.user),
            role=role,
        )
        _audit(
            actor,
            AuditLogEntry.Action.MEMBER_ROLE,
            group,
            f"made {target.user.username} {role}",
            via=via,
        )
    return target


def group_leave(*, user: User, group_id: int) -> None:
    """Any member leaves; an owner who leaves hands ownership to the oldest admin, else the
    oldest member. The user's sockets stop carrying the group at once."""
    with transaction.atomic():
        group = _lock_group(group_id)
        membership = _target_or_404(group, user.pk)
        _remove(group, membership, reason="left")
        _system(group, f"{user.username} left", event="member_left", user=user_ref(user))
        if membership.role == Role.OWNER:
            successor = _successor(group)
            if successor is not None:
                successor.role = Role.OWNER
                successor.save(update_fields=["role"])
                _system(
                    group,
                    f"{successor.user.username} is now the owner",
                    event="owner_changed",
                    actor=user_ref(user),
                    user=user_ref(successor.user),
                    previous=user_ref(user),
                )


def _target_or_404(group: Conversation, user_id: int) -> Membership:
    membership = Membership.objects.filter(conversation=group, user_id=user_id).first()
    if membership is None:
        raise NotFound("No such group.", field="group")
    return membership
