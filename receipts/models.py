from django.conf import settings
from django.db import models


class DepartedMember(models.Model):
    """The receipt cursors of one past membership, frozen when the member left or was removed:
    what they received and read stays true, so messages keep counting them. One row per stay
    (a member who leaves, rejoins and leaves again has two, covering disjoint seq ranges: each
    counts only for messages after its joined_seq)."""

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined_seq = models.BigIntegerField()
    delivered_seq = models.BigIntegerField()
    read_seq = models.BigIntegerField()
    left_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["conversation", "delivered_seq"], name="departed_conv_delivered_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} left {self.conversation_id} at read {self.read_seq}"
