from django.conf import settings
from django.db import models

from messaging.models import Conversation


class DirectChatSender(models.Model):
    """A member who has sent at least one message in a direct chat. When both members of a
    direct chat have, they share presence (presence.selectors.contact_ids); a chat only one of
    them has written in tells neither about the other."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "conversation"], name="presence_direct_sender_unique"
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "user"], name="presence_direct_sender_conv")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} wrote in {self.conversation_id}"
