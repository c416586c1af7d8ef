"""Slash commands: `/me`, `/shrug` and `/topic` built in; registered ones POST the invocation,
signed like outgoing webhooks, and answer the caller only (`ephemeral`, not stored) or the whole
conversation (posted by the command's bot, through message_send).

Services: command_register, command_delete, command_run. One service runs a command for both
transports (the WebSocket `command` frame and POST /api/conversations/{id}/commands/).
"""

import re
import secrets
import time
import uuid
from typing import Any, TypedDict

import requests
from django.db import transaction
from django.db.models import Q

from accounts.models import User
from core.errors import BadRequest, ChatError, Forbidden, NotFound
from groups.services import group_update
from messaging.models import Conversation
from messaging.selectors import membership_for
from messaging.services import message_send, validate_client_msg_id
from push.backends import canonical_json

from .egress import EndpointRefused, check_webhook_url, webhook_session
from .models import Bot, SlashCommand
from .outgoing import webhook_signature
from .selectors import conversation_managed_by, is_bot

COMMAND_RE = re.compile(r"^/[a-z0-9][a-z0-9_-]{0,30}$")
BUILT_IN = {
    "/me": "Say something about yourself in the third person: /me waves",
    "/shrug": "Append ¯\\_(ツ)_/¯ to your message",
    "/topic": "Rename the group (owner and admins): /topic New name",
}
# Written in Markdown (bodies are rendered, conversations.markup), so that it shows as
# ¯\_(ツ)_/¯: a bare "\_" would be read as an escaped underscore and lose the arm.
SHRUG = "¯\\\\\\_(ツ)\\_/¯"
# Seconds a registered command's URL has to answer (the caller waits for it).
COMMAND_TIMEOUT = 5


class CommandFailed(ChatError):
    code = "command_failed"
    status = 502


class UnknownCommand(NotFound):
    code = "unknown_command"


class CommandResult(TypedDict, total=False):
    ack: dict[str, Any]  # a message was stored (its ack)
    ephemeral: dict[str, Any]  # {"type": "ephemeral", "conversation", "text", "command"}
    done: bool


def _ephemeral(conversation_id: int, command: str, text: str) -> CommandResult:
    return {
        "ephemeral": {
            "type": "ephemeral",
            "conversation": conversation_id,
            "command": command,
            "text": text,
        }
    }


def command_register(
    *,
    user: User,
    command: str,
    url: str,
    conversations: Any = None,
    bot_id: int | None = None,
) -> tuple[SlashCommand, str]:
    """Registers `/command` for the listed conversations (whose owner/admin the caller is, or
    either side of a direct chat) or, for staff with no list, everywhere; returns it and its
    signing secret (shown once). Built-in names and a name taken where it would apply are
    refused."""
    if is_bot(user):
        raise Forbidden("bots cannot register commands")
    if not isinstance(command, str) or not COMMAND_RE.fullmatch(command):
        raise BadRequest(
            "command is / and 1 to 31 lower-case letters, digits, _ or -", field="command"
        )
    if command in BUILT_IN:
        raise BadRequest(f"{command} is built in", field="command")
    if not isinstance(url, str) or len(url) > 500:
        raise BadRequest("url is a URL of at most 500 characters", field="url")
    try:
        check_webhook_url(url)
    except EndpointRefused as error:
        raise BadRequest(f"url refused: {error}", field="url") from error
    if conversations is None:
        if not user.is_staff:
            raise BadRequest("list the conversations the command is for", field="conversations")
        conversation_ids: list[int] = []
    elif isinstance(conversations, list) and conversations:
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in conversations):
            raise BadRequest("conversations lists ids", field="conversations")
        conversation_ids = sorted(set(conversations))
        for conversation_id in conversation_ids:
            conversation_managed_by(user=user, conversation_id=conversation_id)
    else:
        raise BadRequest("conversations is a non-empty list of ids", field="conversations")
    bot_user = None
    if bot_id is not None:
        bot = Bot.objects.select_related("user").filter(user_id=bot_id).first()
        if bot is None or (bot.owner_id != user.pk and not user.is_staff):
            raise BadRequest("no such bot of yours", field="bot")
        bot_user = bot.user
    clash = SlashCommand.objects.filter(command=command).filter(
        Q(is_global=True) | Q(conversations__id__in=conversation_ids)
        if conversation_ids
        else Q(pk__isnull=False)
    )
    if clash.exists():
        raise BadRequest(f"{command} is already registered there", field="command")
    secret = secrets.token_hex(32)
    with transaction.atomic():
        registered = SlashCommand.objects.create(
            command=command,
            url=url,
            secret=secret,
            owner=user,
            is_global=not conversation_ids,
            bot=bot_user,
        )
        registered.conversations.set(conversation_ids)
    return registered, secret


def command_delete(*, user: User, command_id: int) -> None:
    """The command stops working at once."""
    with transaction.atomic():
        mine = SlashCommand.objects.filter(pk=command_id)
        if not user.is_staff:
            mine = mine.filter(owner=user)
        deleted, _ = mine.delete()
    if not deleted:
        raise NotFound("No such command.", field="command")


def commands_available(*, user: User, conversation_id: int) -> list[dict[str, str]]:
    """What the composer suggests after `/` in this conversation: built-ins, then registered."""
    membership_for(user_id=user.pk, conversation_id=conversation_id)
    found = [{"command": name, "description": text} for name, text in BUILT_IN.items()]
    registered = (
        SlashCommand.objects.filter(Q(is_global=True) | Q(conversations__id=conversation_id))
        .distinct()
        .order_by("command")
    )
    found += [
        {"command": c.command, "description": f"registered by {c.owner.username}"}
        for c in registered.select_related("owner")
    ]
    return found


def _registered(command: str, conversation_id: int) -> SlashCommand | None:
    return (
        SlashCommand.objects.select_related("bot")
        .filter(command=command)
        .filter(Q(is_global=True) | Q(conversations__id=conversation_id))
        .order_by("pk")
        .first()
    )


def _call(registered: SlashCommand, invocation: dict[str, Any]) -> dict[str, Any]:
    body = canonical_json(invocation)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Parley-Command/1",
        "X-Parley-Event": "command",
        "X-Parley-Delivery": invocation["delivery"],
        "X-Parley-Timestamp": timestamp,
        "X-Parley-Signature": webhook_signature(
            secret=registered.secret, timestamp=timestamp, body=body
        ),
    }
    try:
        with webhook_session() as session:
            response = session.post(
                registered.url,
                data=body,
                headers=headers,
                timeout=COMMAND_TIMEOUT,
                allow_redirects=False,
            )
    except EndpointRefused as error:
        raise CommandFailed(f"{registered.command}: its URL was refused ({error})") from error
    except requests.RequestException as error:
        raise CommandFailed(
            f"{registered.command} did not answer ({type(error).__name__})"
        ) from error
    if not 200 <= response.status_code < 300:
        raise CommandFailed(f"{registered.command} answered HTTP {response.status_code}")
    try:
        answer = response.json() if response.content.strip() else {}
    except ValueError as error:
        raise CommandFailed(f"{registered.command} answered something other than JSON") from error
    return answer if isinstance(answer, dict) else {}


def command_run(
    *, user: User, conversation_id: int, text: str, client_msg_id: str | None = None
) -> CommandResult:
    """Runs the `/command args` line the user typed in the conversation: a built-in, or a
    registered command (its URL asked, with a timeout). A message it makes is stored once per
    (user, client_msg_id); an ephemeral answer is returned to the caller only."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise BadRequest("text is a command line starting with /", field="text")
    membership = membership_for(user_id=user.pk, conversation_id=conversation_id)
    name, _, args = text.strip().partition(" ")
    name, args = name.lower(), args.strip()
    cid = validate_client_msg_id(client_msg_id or f"cmd-{uuid.uuid4().hex}")
    if name == "/me":
        if not args:
            raise BadRequest("/me needs some text: /me waves", field="text")
        ack = message_send(
            sender=user,
            conversation_id=conversation_id,
            client_msg_id=cid,
            body=f"_{user.username} {args}_",
        )
        return {"ack": dict(ack)}
    if name == "/shrug":
        body = f"{args} {SHRUG}" if args else SHRUG
        ack = message_send(
            sender=user, conversation_id=conversation_id, client_msg_id=cid, body=body
        )
        return {"ack": dict(ack)}
    if name == "/topic":
        if membership.conversation.kind != Conversation.Kind.GROUP:
            raise BadRequest("/topic renames groups only", field="text")
        if not args:
            raise BadRequest("/topic needs the new name: /topic Release planning", field="text")
        group_update(actor=user, group_id=conversation_id, name=args)
        return {"done": True}
    registered = _registered(name, conversation_id)
    if registered is None:
        raise UnknownCommand(f"unknown command {name[:40]}", field="text")
    delivery = str(uuid.uuid4())
    answer = _call(
        registered,
        {
            "command": registered.command,
            "text": args,
            "delivery": delivery,
            "conversation": conversation_id,
            "user": {"id": user.pk, "username": user.username},
        },
    )
    reply = answer.get("text")
    if not isinstance(reply, str) or not reply.strip():
        return {"done": True}
    if answer.get("response_type") == "in_channel" and registered.bot is not None:
        try:
            ack = message_send(
                sender=registered.bot,
                conversation_id=conversation_id,
                client_msg_id=f"cmd.{uuid.UUID(delivery).hex}",
                body=reply,
            )
        except ChatError:
            pass  # e.g. the bot is not a member: the caller at least sees the answer
        else:
            return {"ack": dict(ack)}
    return _ephemeral(conversation_id, registered.command, reply[:4000])
