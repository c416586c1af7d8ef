"""Bots and API tokens: made, rotated and revoked here, each write in its own transaction;
sockets that lose their credentials close with 4401 after commit."""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

import realtime
from accounts.models import User
from accounts.services import session_sockets_close
from accounts.usernames import TAKEN_MESSAGE, username_normalize, username_policy_errors
from core.close_codes import Close
from core.errors import BadRequest, Forbidden, NotFound
from groups.services import group_member_add
from messaging.events import AckEvent
from messaging.models import Conversation, Membership
from messaging.services import BODY_MAX_CHARS, message_send
from messaging.text import storable_text
from protection.limits import rate_check

from .formats import alertmanager_text, github_text, is_alertmanager, slack_text
from .models import ApiToken, Bot, IncomingWebhook
from .selectors import TOKEN_PREFIX, conversation_managed_by, is_bot, token_digest
from .tokens import api_token_touch  # noqa: F401 (a service of this app)

Scope = ApiToken.Scope
ALL_SCOPES = tuple(Scope.values)
BOT_SCOPES = [Scope.READ.value, Scope.WRITE.value]
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


def bot_create(
    *, owner: User, username: str, display_name: str, avatar_url: str = ""
) -> tuple[Bot, IssuedToken]:
    """Creates an active bot user without a password, owned by `owner`, and its first token
    (read and write); a name taken in any case is a BadRequest on `username`."""
    if avatar_url and (not avatar_url.startswith(("https://", "http://")) or len(avatar_url) > 500):
        raise BadRequest(
            "avatar_url is an http(s) URL of at most 500 characters", field="avatar_url"
        )
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
            # The account's display name is what chats show (accounts' 64-character limit).
            user = User(username=username, display_name=display_name[:64])
            user.set_unusable_password()
            user.save()
            bot = Bot.objects.create(
                user=user, owner=owner, display_name=display_name, avatar_url=avatar_url
            )
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
            partial(realtime.close_user_sockets, bot.user_id, Close.UNAUTHORIZED), robust=True
        )


# --- incoming webhooks -------------------------------------------------------------------

HOOK_PREFIX = "hook_"
HOOK_NAME_MAX = 100


class BadSignature(Forbidden):
    code = "bad_signature"


@dataclass(frozen=True)
class IssuedWebhook:
    webhook: IncomingWebhook
    secret: str  # the URL's last part: shown once, never stored


def _webhook_sender(
    *, user: User, conversation: Conversation, bot_id: int | None, name: str
) -> User:
    if conversation.kind != Conversation.Kind.GROUP:
        if bot_id is not None:
            raise BadRequest("a direct chat has no room for a bot", field="bot")
        return user
    if bot_id is not None:
        bot = Bot.objects.select_related("user").filter(user_id=bot_id).first()
        if bot is None or (bot.owner_id != user.pk and not user.is_staff):
            raise BadRequest("no such bot of yours", field="bot")
        if not bot.user.is_active:
            raise BadRequest("the bot is deactivated", field="bot")
    else:
        bot, _ = bot_create(owner=user, username=f"hook-{secrets.token_hex(4)}", display_name=name)
    if not Membership.objects.filter(conversation=conversation, user=bot.user).exists():
        group_member_add(actor=user, group_id=conversation.pk, user_id=bot.user_id)
    return bot.user


def incoming_webhook_create(
    *,
    user: User,
    conversation_id: int,
    name: str,
    bot_id: int | None = None,
    github_secret: str = "",
) -> IssuedWebhook:
    """A webhook URL posting into the conversation: in a group as the given bot of the caller
    (added to the group if needed) or a new bot named after the webhook; in a direct chat as
    the caller. Only the secret's digest is stored."""
    _require_person(user)
    conversation = conversation_managed_by(user=user, conversation_id=conversation_id)
    name = storable_text((name or "").strip(), field="name")
    if not name or len(name) > HOOK_NAME_MAX:
        raise BadRequest(f"name is 1 to {HOOK_NAME_MAX} characters", field="name")
    github_secret = storable_text(github_secret or "", field="github_secret")[:200]
    secret = HOOK_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        sender = _webhook_sender(user=user, conversation=conversation, bot_id=bot_id, name=name)
        webhook = IncomingWebhook.objects.create(
            conversation=conversation,
            name=name,
            sender=sender,
            created_by=user,
            prefix=secret[: len(HOOK_PREFIX) + 6],
            digest=token_digest(secret),
            github_secret=github_secret,
        )
    return IssuedWebhook(webhook=webhook, secret=secret)


def incoming_webhook_delete(*, user: User, conversation_id: int, webhook_id: int) -> None:
    """The webhook's URL stops working at once (404); its messages stay."""
    conversation_managed_by(user=user, conversation_id=conversation_id)
    with transaction.atomic():
        deleted, _ = IncomingWebhook.objects.filter(
            pk=webhook_id, conversation_id=conversation_id
        ).delete()
    if not deleted:
        raise NotFound("No such webhook.", field="webhook")


def _github_signature_check(webhook: IncomingWebhook, body: bytes, signature: str | None) -> None:
    if not webhook.github_secret:
        return
    expected = (
        "sha256=" + hmac.new(webhook.github_secret.encode(), body, hashlib.sha256).hexdigest()
    )
    if not signature or not hmac.compare_digest(expected, signature.strip()):
        raise BadSignature("X-Hub-Signature-256 does not match the webhook's secret")


def _client_msg_id(webhook: IncomingWebhook, key: str | None) -> str:
    """One message per (webhook, idempotency key): the send path stores a repeat once."""
    if not key:
        return f"wh{webhook.pk}.{secrets.token_hex(16)}"
    return f"wh{webhook.pk}.{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def _fit(body: str) -> str:
    """Generated messages (GitHub, Alertmanager) are cut to the message limit, not refused."""
    return body if len(body) <= BODY_MAX_CHARS else body[: BODY_MAX_CHARS - 1] + "…"


def incoming_webhook_post(
    *,
    secret: str,
    body: bytes,
    github_event: str | None = None,
    github_signature: str | None = None,
    idempotency_key: str | None = None,
    signed_body: bytes | None = None,
) -> AckEvent | None:
    """Posts what the payload says (Slack, GitHub or Alertmanager format) as the webhook's
    sender through message_send, once per idempotency key; None when there was nothing to post
    (a GitHub event not turned into messages). Limited per webhook (PARLEY_RATE_WEBHOOK)."""
    webhook = (
        IncomingWebhook.objects.select_related("sender")
        .filter(digest=token_digest(secret), sender__is_active=True)
        .first()
        if secret.startswith(HOOK_PREFIX)
        else None
    )
    if webhook is None:
        raise NotFound("No such webhook.", field="webhook")
    rate_check("webhook", f"hook{webhook.pk}")
    # GitHub signs the request body as sent (form-encoded deliveries: the whole form).
    _github_signature_check(webhook, body if signed_body is None else signed_body, github_signature)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("the body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    if github_event:
        text = github_text(github_event, payload)
        if text is None:
            return None
        text = _fit(text)
    elif is_alertmanager(payload):
        # Alertmanager's repeats (repeat_interval) are meant to be seen again: no key.
        text = _fit(alertmanager_text(payload))
    else:
        text = slack_text(payload)
        if not idempotency_key and isinstance(payload.get("client_msg_id"), str):
            idempotency_key = payload["client_msg_id"]
    ack = message_send(
        sender=webhook.sender,
        conversation_id=webhook.conversation_id,
        client_msg_id=_client_msg_id(webhook, idempotency_key),
        body=text,
    )
    IncomingWebhook.objects.filter(pk=webhook.pk).update(last_used_at=timezone.now())
    return ack
