"""Login sessions of the API (a refresh token and its rotations share a `sid` claim): listing
them and ending one. Browser sessions end with "log out" or "log out everywhere"."""

from datetime import datetime

import jwt
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from core.errors import NotFound

from .models import User
from .selectors import GENERATION_CLAIM, SESSION_CLAIM
from .services import session_sockets_close


def _claims(token: str) -> dict:
    # Tokens from our own table, signed by us when issued: only their claims are read here.
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def _live_tokens(user: User) -> list[tuple[OutstandingToken, str, bool]]:
    """(token row, session id, still usable) of the user's unexpired tokens of this
    generation (older generations were revoked all at once)."""
    rows = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()).annotate(
        blacklisted=Exists(BlacklistedToken.objects.filter(token_id=OuterRef("pk")))
    )
    found = []
    for row in rows:
        claims = _claims(row.token)
        if claims.get(GENERATION_CLAIM, 0) != user.token_generation or not claims.get(
            SESSION_CLAIM
        ):
            continue
        found.append((row, str(claims[SESSION_CLAIM]), not row.blacklisted))
    return found


def login_sessions(*, user: User, current: str | None) -> list[dict]:
    """The user's API login sessions still able to refresh, newest activity first: when each
    started and was last refreshed, and which one is the caller's."""
    sessions: dict[str, dict] = {}
    for row, sid, usable in _live_tokens(user):
        entry = sessions.setdefault(
            sid,
            {
                "id": sid,
                "started_at": row.created_at,
                "last_refreshed_at": row.created_at,
                "expires_at": row.expires_at,
                "current": sid == current,
                "usable": False,
            },
        )
        entry["usable"] = entry["usable"] or usable
        if row.created_at and (entry["started_at"] is None or row.created_at < entry["started_at"]):
            entry["started_at"] = row.created_at
        if row.created_at and (
            entry["last_refreshed_at"] is None or row.created_at > entry["last_refreshed_at"]
        ):
            entry["last_refreshed_at"] = row.created_at
        entry["expires_at"] = max(entry["expires_at"], row.expires_at)
    alive = [s for s in sessions.values() if s.pop("usable")]
    epoch = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    return sorted(alive, key=lambda s: s["last_refreshed_at"] or epoch, reverse=True)


def login_session_end(*, user: User, session_id: str) -> None:
    """Ends one of the user's API sessions: its refresh tokens are blacklisted, its access
    tokens refused and its sockets closed (4401); NotFound when it is not theirs or over."""
    tokens = [row for row, sid, usable in _live_tokens(user) if sid == session_id and usable]
    if not tokens:
        raise NotFound("No such session.", field="session")
    with transaction.atomic():
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=row) for row in tokens], ignore_conflicts=True
        )
    session_sockets_close(session_id=session_id)
