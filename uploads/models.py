import uuid

from django.conf import settings
from django.db import models


class Upload(models.Model):
    """A stored file. It belongs to its owner alone until a message of theirs attaches it; from
    then on the members of that conversation who may see the message may download it."""

    # Random, so an id says nothing about others' uploads (access is still checked).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    # Where the bytes are in the `uploads` storage (settings.STORAGES); never shown to clients.
    key = models.CharField(max_length=255)
    thumbnail_key = models.CharField(max_length=255, blank=True)
    # The name the client gave, for display and Content-Disposition only (never a path).
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    # Sniffed from the bytes; the client's claim is ignored.
    content_type = models.CharField(max_length=100)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once, when a message attaches it (messages are partitioned: a plain id, no FK).
    message_id = models.BigIntegerField(null=True, blank=True)
    message_seq = models.BigIntegerField(null=True, blank=True)
    conversation = models.ForeignKey(
        "messaging.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # Order among the message's attachments.
    position = models.SmallIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["message_id"], name="upload_message_idx"),
            models.Index(fields=["owner", "created_at"], name="upload_owner_idx"),
            models.Index(
                fields=["created_at"],
                name="upload_unattached_idx",
                condition=models.Q(message_id__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes) of {self.owner_id}"
