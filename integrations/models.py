"""Bots, API tokens, incoming webhooks: how tools reach Parley without a password."""

from django.conf import settings
from django.db import models


class Bot(models.Model):
    """A bot is a user (`user`) with a person answerable for it (`owner`). It takes part in
    conversations like anyone, but has no password: it signs in only with its API token."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot", primary_key=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_bots"
    )
    display_name = models.CharField(max_length=150)
    avatar_url = models.URLField(blank=True, max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name


class ApiToken(models.Model):
    """A long-lived bearer token. Only its SHA-256 digest is stored, and a short prefix in clear
    so people can tell their tokens apart; the token itself is shown once, when made."""

    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"
        ADMIN = "admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def session_id(self) -> str:
        """The login-session id of the sockets this token opened (closed as one on revoke)."""
        return f"apitoken{self.pk}"


class IncomingWebhook(models.Model):
    """A secret URL (`/hooks/<secret>/`) that posts into one conversation as `sender`: the
    webhook's bot in a group, the person who made it in a direct chat (a direct chat has two
    members, no room for a bot). Only the secret's digest is stored."""

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="incoming_webhooks"
    )
    name = models.CharField(max_length=100)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="incoming_webhooks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    # When set, GitHub deliveries must carry a valid X-Hub-Signature-256 under it (an HMAC
    # key, so it is kept in clear: it is only ever compared, never shown again).
    github_secret = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} → conversation {self.conversation_id}"


class OutgoingWebhook(models.Model):
    """Events of some conversations POSTed, signed, to a URL (integrations/outgoing.py)."""

    class Scope(models.TextChoices):
        LISTED = "listed"  # the conversations listed
        ALL_MINE = "all_mine"  # every conversation the owner is a member of
        ALL = "all"  # every conversation (staff only)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outgoing_webhooks"
    )
    url = models.URLField(max_length=500)
    # The HMAC key of X-Parley-Signature; shown once, when the webhook is made.
    secret = models.CharField(max_length=64)
    events = models.JSONField(default=list)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.LISTED)
    conversations = models.ManyToManyField("messaging.Conversation", blank=True, related_name="+")
    # Answers {"text": ...} are posted by this bot (it must be a member of the conversation).
    bot = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one webhook: its attempts and outcome (the delivery log). Deliveries of
    one (webhook, conversation) go out one at a time in id order."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    webhook = models.ForeignKey(
        OutgoingWebhook, on_delete=models.CASCADE, related_name="deliveries"
    )
    delivery_id = models.UUIDField(unique=True)
    conversation_id = models.BigIntegerField()
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["webhook", "conversation_id", "status", "id"])]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id} ({self.status})"


class SlashCommand(models.Model):
    """A registered `/command`: its invocations are POSTed, signed, to `url`; the answer is
    shown to the caller only, or posted in the conversation by `bot`."""

    command = models.CharField(max_length=32)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slash_commands"
    )
    # Where it can be used: these conversations, or (is_global, staff only) everywhere.
    conversations = models.ManyToManyField("messaging.Conversation", blank=True, related_name="+")
    is_global = models.BooleanField(default=False)
    bot = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.command
