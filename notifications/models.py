from django.conf import settings
from django.db import models


class Level(models.TextChoices):
    ALL = "all"
    MENTIONS = "mentions"  # mentions of you (@username) and direct messages only
    NONE = "none"


class ConversationNotify(models.Model):
    """A member's chosen notification level in a conversation. No row: the default (`all` in
    direct chats and small groups, `mentions` in groups over PARLEY_LARGE_GROUP members).
    `Membership.muted` is kept equal to `level == "none"` (old clients read it)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    level = models.CharField(max_length=8, choices=Level.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="notify_one_per_member")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} in {self.conversation_id}: {self.level}"


class NotificationPrefs(models.Model):
    """A user's global notification settings. No row: the defaults (no do-not-disturb, no
    quiet hours, email notifications on once the address is confirmed)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs"
    )
    do_not_disturb_until = models.DateTimeField(null=True, blank=True)
    # Local times in the user's timezone (User.timezone); a range may wrap past midnight.
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    email_notifications = models.BooleanField(default=True)
    # Email digests (notifications.digests): at most one per PARLEY_EMAIL_NOTIFY_INTERVAL.
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"notification settings of user {self.user_id}"


class DigestCursor(models.Model):
    """The newest seq of a conversation already mailed to a member (nothing is mailed twice)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    mailed_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="digest_one_per_member")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} mailed up to {self.mailed_seq} in {self.conversation_id}"
