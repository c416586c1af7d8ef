"""Reads of bots and API tokens."""

import hashlib

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from core.errors import Forbidden, NotFound
from messaging.models import Conversation, Membership
from messaging.selectors import membership_for

from .models import ApiToken, Bot, IncomingWebhook

# Every Parley API token starts with this, so a bearer token is told from a JWT by its first
# characters (and secret scanners can recognise a leaked one).
TOKEN_PREFIX = "parley_"  # noqa: S105 (a public marker, not a secret)


def token_digest(raw: str) -> str:
    """SHA-256 of the token: tokens are 256 random bits, so a plain digest cannot be reversed."""
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_for(*, raw: str) -> ApiToken | None:
    """The live token for this secret (not revoked, not expired, its user active), or None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )


def api_tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that still work, newest first."""
    return (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .order_by("-created_at", "-pk")
    )


def bots_of(*, owner: User) -> QuerySet[Bot]:
    """The bots a person owns (deactivated ones too), oldest first."""
    return Bot.objects.filter(owner=owner).select_related("user").order_by("user_id")


def is_bot(user: User) -> bool:
    return Bot.objects.filter(user_id=user.pk).exists()


def conversation_managed_by(*, user: User, conversation_id: int) -> Conversation:
    """The conversation, if the user may manage its webhooks: a group's owner or admins,
    either side of a direct chat (strangers get NotFound, other members Forbidden)."""
    membership = membership_for(user_id=user.pk, conversation_id=conversation_id)
    conversation = membership.conversation
    if conversation.kind == Conversation.Kind.GROUP:
        if membership.role not in (Membership.Role.OWNER, Membership.Role.ADMIN):
            raise Forbidden("Only the owner or an admin can manage webhooks.", field="role")
    elif conversation.kind != Conversation.Kind.DIRECT:
        raise Forbidden("Webhooks post into groups and direct chats.", field="conversation")
    return conversation


def incoming_webhooks_of(*, user: User, conversation_id: int) -> QuerySet[IncomingWebhook]:
    """The conversation's incoming webhooks, for those who may manage them."""
    conversation_managed_by(user=user, conversation_id=conversation_id)
    return (
        IncomingWebhook.objects.filter(conversation_id=conversation_id)
        .select_related("sender")
        .order_by("pk")
    )


def outgoing_webhooks_of(*, user: User) -> QuerySet:
    """The user's outgoing webhooks, oldest first."""
    from .models import OutgoingWebhook

    return (
        OutgoingWebhook.objects.filter(owner=user).prefetch_related("conversations").order_by("pk")
    )


def webhook_deliveries_of(*, user: User, webhook_id: int, limit: int = 100) -> list:
    """The newest deliveries of one of the user's webhooks (staff: any webhook)."""
    from .models import OutgoingWebhook, WebhookDelivery

    owned = OutgoingWebhook.objects.filter(pk=webhook_id)
    if not user.is_staff:
        owned = owned.filter(owner=user)
    if not owned.exists():
        raise NotFound("No such webhook.", field="webhook")
    return list(WebhookDelivery.objects.filter(webhook_id=webhook_id).order_by("-pk")[:limit])


def bots_known_to(*, user: User) -> QuerySet[Bot]:
    """The bots the user shares a conversation with, or owns: whom the UI marks "bot"."""
    shared = Membership.objects.filter(conversation__memberships__user=user).values("user_id")
    return (
        Bot.objects.filter(Q(user_id__in=shared) | Q(owner=user))
        .select_related("user")
        .order_by("user_id")
    )
