from django.conf import settings
from django.db import models


class Conversation(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct"
        GROUP = "group"
        ANNOUNCEMENT = "announcement"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True, max_length=1000)
    # "<smaller user id>:<larger user id>" for direct chats, so a pair has one conversation.
    direct_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # Highest seq given out; incremented in the transaction that stores the message.
    last_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Highest change_seq given out: counts edits and deletes, so clients can ask for the
    # changes since the last one they saw.
    last_change_seq = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(kind="announcement"),
                name="conversation_one_announcement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.name}".strip()


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Receipt cursors, both monotonic, delivered_seq >= read_seq.
    delivered_seq = models.BigIntegerField(default=0)
    read_seq = models.BigIntegerField(default=0)
    # The conversation's last_seq when the member joined: history before it is not theirs.
    joined_seq = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)
    # A muted conversation sends its member no offline push notifications.
    muted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="membership_unique_member"
            ),
        ]
        indexes = [models.Index(fields=["user", "conversation"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id} ({self.role})"


class Message(models.Model):
    """One message. On PostgreSQL the table is partitioned by month on `id` (docs/operations.md,
    "Message partitions"); uniqueness that spans partitions lives in MessageKey."""

    # Time-ordered snowflake id (messaging.ids), assigned by the send service.
    id = models.BigIntegerField(primary_key=True)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.BigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # NULL for system messages.
    client_msg_id = models.CharField(max_length=64, null=True)  # noqa: DJ001
    body = models.TextField()
    created_at = models.DateTimeField()
    # What a system message records, e.g. {"event": "member_added", "user": {...}}; NULL for
    # messages people wrote.
    system = models.JSONField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # A deleted message keeps its row and seq (a tombstone) and loses its body.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The conversation's last_change_seq when this message was last edited or deleted; 0 never.
    change_seq = models.BigIntegerField(default=0)
    # The body rendered (conversations.markup): sanitized HTML, redone on each edit.
    html = models.TextField(blank=True, default="")
    # Users named with @username (ids), and whether @all / @everyone named every member.
    mentions = models.JSONField(null=True, blank=True)
    mentions_all = models.BooleanField(default=False)
    # The message this one replies to, and the root of its reply chain (ids; no foreign keys on
    # the partitioned table).
    reply_to_id = models.BigIntegerField(null=True, blank=True)
    thread_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        # Plain indexes: on the partitioned table they exist per partition. Unique constraints
        # there would have to include `id`, which would make them useless, so MessageKey holds
        # (conversation, seq) and (sender, client_msg_id) uniqueness.
        indexes = [
            models.Index(fields=["conversation", "seq"], name="message_conv_seq_idx"),
            models.Index(fields=["sender", "client_msg_id"], name="message_sender_client_idx"),
            models.Index(fields=["conversation", "change_seq"], name="message_change_idx"),
            models.Index(fields=["thread_id", "seq"], name="message_thread_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.conversation_id}"


class MessageKey(models.Model):
    """The uniqueness of messages, in one small non-partitioned table written in the same
    transaction as each message: a repeated (sender, client_msg_id) or a reused
    (conversation, seq) fails here, whatever month the message would land in."""

    message_id = models.BigIntegerField(primary_key=True)
    conversation_id = models.BigIntegerField()
    seq = models.BigIntegerField()
    sender_id = models.BigIntegerField(null=True)
    client_msg_id = models.CharField(max_length=64, null=True)  # noqa: DJ001

    class Meta:
        db_table = "messaging_message_key"
        constraints = [
            models.UniqueConstraint(fields=["conversation_id", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["sender_id", "client_msg_id"], name="message_unique_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"key of message {self.message_id}"
