from django.conf import settings
from django.db import models


class Mention(models.Model):
    """A user named in a message (@username, or every member for @all): what a conversation's
    `unread_mentions` counts and what a muted member is still notified of. Rewritten with the
    message's mentions on each edit; gone when the message is deleted."""

    message_id = models.BigIntegerField()  # messages are partitioned: no foreign key
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    seq = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message_id", "user"], name="mention_unique"),
        ]
        indexes = [
            models.Index(fields=["user", "conversation", "seq"], name="mention_user_conv_seq_idx")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} in message {self.message_id}"
