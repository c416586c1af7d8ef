from django.conf import settings
from django.db import models

from messaging.models import Conversation


class PushNotification(models.Model):
    """One notification to one user about one conversation over one channel, covering the
    messages of one coalescing window. Its id is derived from those four, so a task that is
    redone finds the same row and sends the same id."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        WEBPUSH = "webpush"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        # Muted, or no longer a member, by the time of delivery.
        SKIPPED = "skipped"

    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_notifications"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="push_notifications"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    message_count = models.PositiveIntegerField()
    payload = models.JSONField()
    # A delivery attempt in flight holds the row until then; a worker that died mid-attempt
    # lets the next one take over after it.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "conversation", "channel", "window_start"],
                name="push_one_per_window",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="push_status_idx")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.user_id} about {self.conversation_id} ({self.status})"


class WebPushSubscription(models.Model):
    """A browser's Push API subscription (the UI registers it)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webpush_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"web push of {self.user_id}"
