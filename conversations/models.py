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


class ThreadSummary(models.Model):
    """The replies under a root message, kept current by the send service (one row per root
    that has replies)."""

    root_id = models.BigIntegerField(primary_key=True)
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    root_seq = models.BigIntegerField()
    replies = models.IntegerField(default=0)
    last_reply_at = models.DateTimeField()
    participants = models.JSONField(default=list)  # user ids, first reply first

    def __str__(self) -> str:
        return f"thread of {self.root_id}: {self.replies} replies"


class ConversationChange(models.Model):
    """The newest change of one thing in a conversation that is not a message's own text
    (a thread summary, one user's reaction, a pin), numbered with the conversation's
    change_seq so `changes` replays it after a reconnect. One row per thing (`key`): a newer
    change replaces the row, so the table is as large as the state, not the history."""

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=200)
    change_seq = models.BigIntegerField()
    message_seq = models.BigIntegerField()  # the changed message's seq (for the join floor)
    event = models.JSONField()  # the frame, complete

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "key"], name="conversation_change_key"),
        ]
        indexes = [
            models.Index(fields=["conversation", "change_seq"], name="conversation_change_seq_idx"),
            # The state of a page of messages (conversations.state) is read by message seq.
            models.Index(
                fields=["conversation", "message_seq"], name="conversation_change_msg_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} at change {self.change_seq} in {self.conversation_id}"


class Reaction(models.Model):
    """One user's emoji on one message (at most one of each emoji per user)."""

    message_id = models.BigIntegerField()
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message_id", "emoji", "user"], name="reaction_unique_per_user"
            ),
        ]
        indexes = [models.Index(fields=["message_id", "created_at"], name="reaction_message_idx")]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"


class Pin(models.Model):
    """A message pinned in its conversation."""

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    message_id = models.BigIntegerField()
    message_seq = models.BigIntegerField()
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    pinned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "message_id"], name="pin_unique"),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} pinned in {self.conversation_id}"


class MessageEdit(models.Model):
    """A body a message had before an edit replaced it; deleted with the message's text."""

    message_id = models.BigIntegerField(db_index=True)
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    body = models.TextField()
    edited_at = models.DateTimeField()  # when the edit replaced this body

    def __str__(self) -> str:
        return f"earlier text of {self.message_id}"


class GroupVisibility(models.Model):
    """A group's visibility: no row is `private` (only members see it); `public` groups are
    listed to everyone and anyone may join."""

    class Visibility(models.TextChoices):
        PRIVATE = "private"
        PUBLIC = "public"

    conversation = models.OneToOneField(
        "messaging.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )

    def __str__(self) -> str:
        return f"{self.conversation_id} is {self.visibility}"


class Invite(models.Model):
    """An invite link to a group: an unguessable code (192 random bits), optionally expiring
    and limited in uses; revoking deletes it."""

    code = models.CharField(max_length=64, primary_key=True)
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.IntegerField(null=True, blank=True)
    uses = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"invite to {self.conversation_id}"
