"""The one write on the authentication path (kept apart from services.py so the handshake
middleware can import it without importing the chat services)."""

from datetime import timedelta

from django.utils import timezone

from .models import ApiToken

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def api_token_touch(*, token: ApiToken) -> None:
    """Records that the token was used now (at most one write per token per minute)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
