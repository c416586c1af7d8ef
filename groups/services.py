from django.conf import settings
from django.db import transaction

from accounts.models import User
from messaging.errors import BadRequest
from messaging.models import Conversation, Membership
from messaging.services import publish_conversation_joined

GROUP_NAME_MAX = 120


def group_create(*, creator: User, name: str, member_ids: list[int]) -> Conversation:
    """Creates a group conversation owned by its creator, with the given active users as members."""
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name must not be empty", field="name")
    name = name.strip()
    if len(name) > GROUP_NAME_MAX:
        raise BadRequest(f"name must be at most {GROUP_NAME_MAX} characters", field="name")
    wanted = {uid for uid in member_ids if uid != creator.pk}
    limit = settings.PARLEY_GROUP_MEMBER_LIMIT
    if len(wanted) + 1 > limit:
        raise BadRequest(f"a group has at most {limit} members", field="members")
    found = set(User.objects.filter(pk__in=wanted, is_active=True).values_list("pk", flat=True))
    missing = sorted(wanted - found)
    if missing:
        raise BadRequest(f"no such users: {missing}", field="members")
    with transaction.atomic():
        group = Conversation.objects.create(
            kind=Conversation.Kind.GROUP, name=name, created_by=creator
        )
        Membership.objects.bulk_create(
            [Membership(conversation=group, user=creator, role=Membership.Role.OWNER)]
            + [Membership(conversation=group, user_id=uid) for uid in sorted(found)]
        )
        publish_conversation_joined(group.pk, [creator.pk, *sorted(found)])
    return group
