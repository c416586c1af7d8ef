"""Users, tokens and conversations for a benchmark run, written straight to Parley's database.

Runs in the bench's parent process with Parley's settings (same DATABASE_URL as the servers).
Passwords share one precomputed hash and rows are bulk-inserted, so 10,000 users take seconds.
"""

import os
import uuid
from dataclasses import dataclass, field


@dataclass
class Fixture:
    tokens: list[str]
    user_ids: list[int]
    conversations: list[int] = field(default_factory=list)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    # Tokens must outlive the run; the servers only check signature and expiry.
    os.environ.setdefault("JWT_ACCESS_MINUTES", "240")
    import django

    django.setup()


def make_users(count: int, *, staff_first: bool = False) -> Fixture:
    _django()
    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    run = uuid.uuid4().hex[:8]
    password = make_password(uuid.uuid4().hex)
    users = User.objects.bulk_create(
        [
            User(username=f"bench-{run}-{i}", password=password, is_staff=staff_first and i == 0)
            for i in range(count)
        ],
        batch_size=1000,
    )
    return Fixture(
        tokens=[str(AccessToken.for_user(u)) for u in users], user_ids=[u.pk for u in users]
    )


def make_conversation(kind: str, member_ids: list[int], *, name: str = "bench") -> int:
    _django()
    from announcements.services import announcement_conversation_ensure
    from messaging.models import Conversation, Membership

    if kind == "announcement":
        # There is one announcement conversation (a unique constraint): a later run enrols its
        # users in the same one (members of earlier runs stay, offline).
        conversation_id = announcement_conversation_ensure()
    else:
        conversation_id = Conversation.objects.create(
            kind=kind,
            name=name,
            direct_key=f"{member_ids[0]}:{member_ids[1]}" if kind == "direct" else None,
        ).pk
    Membership.objects.bulk_create(
        [Membership(conversation_id=conversation_id, user_id=uid) for uid in member_ids],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return conversation_id


def close_connections() -> None:
    from django.db import connections

    connections.close_all()
