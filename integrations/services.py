"""Bots and API tokens: made, rotated and revoked here, each write in its own transaction;
sockets that lose their credentials close with 4401 after commit."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import CLOSE_UNAUTHORIZED, session_sockets_close
from accounts.usernames import TAKEN_MESSAGE, username_normalize, username_policy_errors
from messaging import realtime
from messaging.errors import BadRequest, Forbidden, NotFound
from messaging.text import storable_text

from .models import ApiToken, Bot
from .selectors import TOKEN_PREFIX, is_bot, token_digest

Scope = ApiToken.Scope
ALL_SCOPES = tuple(Scope.values)
BOT_SCOPES = [Scope.READ.value, Scope.WRITE.value]
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
TOKEN_NAME_MAX = 100
DISPLAY_NAME_MAX = 150
# The longest a personal token may live when it has an expiry (10 years, in seconds).
EXPIRES_IN_MAX = 10 * 365 * 86400


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # shown once, never stored


def _new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _issue(*, user: User, name: str, scopes: list[str], expires_at=None) -> IssuedToken:  # type: ignore[no-untyped-def]
    raw = _new_secret()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(raw),
        scopes=scopes,
        expires_at=expires_at,
    )
    return IssuedToken(token=token, raw=raw)


def _close_token_sockets(token_ids: list[int]) -> None:
    for token_id in token_ids:
        session_sockets_close(session_id=f"apitoken{token_id}")


def _require_person(user: User) -> None:
    if is_bot(user):
        raise Forbidden("bots cannot manage bots or tokens")


def _validated_scopes(scopes: object) -> list[str]:
    if scopes is None:
        return BOT_SCOPES
    if not isinstance(scopes, list) or not scopes:
        raise BadRequest("scopes is a non-empty list", field="scopes")
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise BadRequest(f"unknown scopes {unknown!r}; use {list(ALL_SCOPES)}", field="scopes")
    return [s for s in ALL_SCOPES if s in scopes]


def api_token_create(
    *, user: User, name: str, scopes: object = None, expires_in: int | None = None
) -> IssuedToken:
    """Issues a personal token (shown once, stored as a digest) with the given scopes; it
    expires `expires_in` seconds from now, or never when that is None."""
    _require_person(user)
    name = storable_text((name or "").strip(), field="name")
    if not name or len(name) > TOKEN_NAME_MAX:
        raise BadRequest(f"name is 1 to {TOKEN_NAME_MAX} characters", field="name")
    chosen = _validated_scopes(scopes)
    expires_at = None
    if expires_in is not None:
        if not 60 <= expires_in <= EXPIRES_IN_MAX:
            raise BadRequest(
                f"expires_in is 60 to {EXPIRES_IN_MAX} seconds, or null", field="expires_in"
            )
        expires_at = timezone.now() + timedelta(seconds=expires_in)
    with transaction.atomic():
        return _issue(user=user, name=name, scopes=chosen, expires_at=expires_at)


def api_token_revoke(*, user: User, token_id: int) -> None:
    """The token stops working at once; sockets opened with it close with 4401 after commit."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not updated:
            raise NotFound("No such token.", field="token")
        transaction.on_commit(partial(_close_token_sockets, [token_id]), robust=True)


def api_tokens_revoke(*, token_ids: list[int]) -> int:
    """Staff revoke (the admin): these tokens stop working at once and their sockets close with
    4401 after commit; returns how many were still live."""
    with transaction.atomic():
        ids = list(
            ApiToken.objects.filter(pk__in=token_ids, revoked_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
        transaction.on_commit(partial(_close_token_sockets, ids), robust=True)
    return len(ids)


def api_token_touch(*, token: ApiToken) -> None:
    """Records that the token was used now (at most one write per token per minute)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def bot_create(*, owner: User, username: str, display_name: str) -> tuple[Bot, IssuedToken]:
    """Creates an active bot user without a password, owned by `owner`, and its first token
    (read and write); a name taken in any case is a BadRequest on `username`."""
    _require_person(owner)
    username = username_normalize((username or "").strip())
    errors = username_policy_errors(username) if username else ["username must not be empty"]
    if errors or len(username) > 150:
        raise BadRequest(errors[0] if errors else "username is too long", field="username")
    display_name = storable_text((display_name or "").strip(), field="display_name")
    if not display_name:
        display_name = username
    if len(display_name) > DISPLAY_NAME_MAX:
        raise BadRequest(
            f"display_name must be at most {DISPLAY_NAME_MAX} characters", field="display_name"
        )
    if User.objects.filter(username__iexact=username).exists():
        raise BadRequest(TAKEN_MESSAGE, field="username")
    try:
        with transaction.atomic():
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            bot = Bot.objects.create(user=user, owner=owner, display_name=display_name)
            issued = _issue(user=user, name="bot token", scopes=BOT_SCOPES)
    except IntegrityError as exc:
        raise BadRequest(TAKEN_MESSAGE, field="username") from exc
    return bot, issued


def _owned_bot(*, owner: User, bot_id: int) -> Bot:
    bot = Bot.objects.select_for_update().select_related("user").filter(user_id=bot_id).first()
    if bot is None or (bot.owner_id != owner.pk and not owner.is_staff):
        raise NotFound("No such bot.", field="bot")
    return bot


def _revoke_all(user: User) -> list[int]:
    ids = list(
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).values_list("pk", flat=True)
    )
    ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
    return ids


def bot_token_rotate(*, owner: User, bot_id: int) -> tuple[Bot, IssuedToken]:
    """The bot's tokens are all revoked and one new token issued; sockets opened with the old
    ones close with 4401 after commit."""
    with transaction.atomic():
        bot = _owned_bot(owner=owner, bot_id=bot_id)
        if not bot.user.is_active:
            raise BadRequest("the bot is deactivated", field="bot")
        revoked = _revoke_all(bot.user)
        issued = _issue(user=bot.user, name="bot token", scopes=BOT_SCOPES)
        transaction.on_commit(partial(_close_token_sockets, revoked), robust=True)
    return bot, issued


def bot_deactivate(*, owner: User, bot_id: int) -> None:
    """The bot can no longer sign in: its user is deactivated, its tokens revoked and every
    socket of it closes with 4401 after commit. Its messages stay."""
    with transaction.atomic():
        bot = _owned_bot(owner=owner, bot_id=bot_id)
        User.objects.filter(pk=bot.user_id).update(is_active=False)
        _revoke_all(bot.user)
        transaction.on_commit(
            partial(realtime.close_user_sockets, bot.user_id, CLOSE_UNAUTHORIZED), robust=True
        )
