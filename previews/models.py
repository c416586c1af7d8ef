from django.db import models


class LinkPreview(models.Model):
    """What a page linked from a message says about itself (OpenGraph / Twitter card)."""

    # Messages are partitioned: a plain id, no foreign key.
    message_id = models.BigIntegerField()
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    position = models.SmallIntegerField(default=0)
    url = models.URLField(max_length=2000)
    title = models.CharField(max_length=300)
    description = models.CharField(max_length=1000, blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["message_id", "position"], name="preview_message_idx")]

    def __str__(self) -> str:
        return f"{self.url} on message {self.message_id}"
