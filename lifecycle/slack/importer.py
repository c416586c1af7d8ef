"""Writing a checked Slack export into Parley: users, conversations, messages (with their
original times, seqs in time order and ids in the month of their time), threads, reactions,
edits, deletions, files and system messages.

Idempotent: every Slack object imported is recorded in SlackMapping, and a run skips what is
already there. An export is checked completely (reader.SlackExport.check) before anything is
written, so a malformed export imports nothing; the writing then goes conversation by
conversation in bounded transactions, so a run interrupted by an outage is finished by running
the same import again (docs/operations.md, "Importing from Slack").
"""

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import emoji as emoji_data
from django.db import connection, transaction
from django.db.models.functions import Lower

from accounts.models import User
from accounts.usernames import username_normalize, username_policy_errors
from conversations.markup import render
from conversations.models import GroupVisibility, Reaction, ThreadSummary
from integrations.models import Bot
from messaging import history_cache, partitions
from messaging.ids import MAX_NODE, PARLEY_EPOCH_MS, TIME_SHIFT
from messaging.models import Conversation, Membership, Message, MessageKey
from messaging.services import publish_conversation_joined
from messaging.text import plain_html
from uploads.models import Upload

from ..models import SlackMapping
from .markup import plain_text, slack_to_markdown
from .reader import SlackChannel, SlackExport, SlackImportError, ts_key

logger = logging.getLogger(__name__)

# Imported ids use the highest node number, which live processes only get by configuration:
# an imported id never equals one a server issues for a message sent at the same millisecond.
IMPORT_NODE = MAX_NODE
CHUNK = 2000
TEXT_SUBTYPES = {None, "", "bot_message", "me_message", "thread_broadcast", "file_share"}
DELETED_SUBTYPES = {"tombstone", "message_deleted"}
Progress = Callable[[dict[str, Any]], None]


@dataclass
class ImportSummary:
    dry_run: bool = False
    users_created: int = 0
    users_matched: int = 0
    bots_created: int = 0
    conversations_created: int = 0
    messages_imported: int = 0
    messages_skipped: int = 0  # already imported by an earlier run
    system_messages: int = 0
    reactions: int = 0
    files_attached: int = 0
    files_linked: int = 0
    channels: dict[str, int] = field(default_factory=dict)  # name -> messages in the export
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def slack_time(ts: str) -> datetime:
    seconds, micros = ts_key(ts)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def imported_message_id(moment: datetime, taken: set[int]) -> int:
    """An id in the month (and millisecond) of `moment`, not in `taken`."""
    ms = int(moment.timestamp() * 1000)
    candidate = (
        ((ms - PARLEY_EPOCH_MS) << TIME_SHIFT) | (IMPORT_NODE << 12) | (moment.microsecond % 1000)
    )
    while candidate in taken:
        candidate += 1
    taken.add(candidate)
    return candidate


def _username_candidate(slack_name: str) -> str:
    name = username_normalize(slack_name or "")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "slack-user"
    return name[:140]


def _free_username(wanted: str) -> str:
    name, n = wanted, 1
    while username_policy_errors(name) or User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{wanted}-{n}"
    return name


def _mapping(kind: str) -> dict[str, int]:
    return dict(SlackMapping.objects.filter(kind=kind).values_list("slack_id", "object_id"))


class SlackImporter:
    def __init__(
        self,
        export: SlackExport,
        *,
        map_users: str = "email",
        owner: User | None = None,
        progress: Progress | None = None,
    ) -> None:
        if map_users not in ("email", "username"):
            raise SlackImportError("--map-users is email or username")
        self.export = export
        self.map_users = map_users
        self.owner = owner
        self.progress = progress or (lambda _: None)
        self.summary = ImportSummary()
        self.users: dict[str, int] = {}  # slack user / bot id -> Parley user id
        self.usernames: dict[int, str] = {}
        self.channel_names: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    # --- the run --------------------------------------------------------------------------------

    def run(self, *, dry_run: bool = False) -> ImportSummary:
        self.progress({"stage": "checking"})
        self.counts = self.export.check()
        self.summary.warnings = list(self.export.warnings)
        self.summary.channels = {c.name: self.counts[c.slack_id] for c in self.export.channels}
        self.channel_names = {c.slack_id: c.name for c in self.export.channels}
        if dry_run:
            self.summary.dry_run = True
            return self._dry_run()
        self.progress({"stage": "users", "done": 0, "total": len(self.export.users)})
        with transaction.atomic():
            self._import_users()
        total = sum(self.counts.values())
        done = 0
        for channel in self.export.channels:
            with transaction.atomic():
                conversation = self._conversation(channel)
            if conversation is None:
                continue
            if channel.folder is not None:
                done = self._import_messages(channel, conversation, done=done, total=total)
        self.progress({"stage": "done", "done": total, "total": total})
        return self.summary

    def _dry_run(self) -> ImportSummary:
        known = _mapping(SlackMapping.Kind.USER)
        for entry in self.export.users:
            if entry["id"] in known or self._match_user(entry) is not None:
                self.summary.users_matched += 1
            else:
                self.summary.users_created += 1
        channels = _mapping(SlackMapping.Kind.CHANNEL)
        self.summary.conversations_created = sum(
            1 for c in self.export.channels if c.slack_id not in channels
        )
        imported = SlackMapping.objects.filter(kind=SlackMapping.Kind.MESSAGE).count()
        self.summary.messages_imported = max(0, sum(self.counts.values()) - imported)
        return self.summary

    # --- users ----------------------------------------------------------------------------------

    def _match_user(self, entry: dict[str, Any]) -> User | None:
        if entry.get("is_bot") or entry.get("is_app_user"):
            return None
        if self.map_users == "email":
            email = str((entry.get("profile") or {}).get("email") or "").strip()
            if not email:
                return None
            return User.objects.filter(email__iexact=email).first()
        name = _username_candidate(entry["name"])
        return User.objects.annotate(lower=Lower("username")).filter(lower=name.lower()).first()

    def _bot_owner(self) -> User:
        if self.owner is None:
            self.owner = (
                User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
            )
        if self.owner is None:
            raise SlackImportError("imported bots need an owner: create a staff account first")
        return self.owner

    def _import_users(self) -> None:
        known = _mapping(SlackMapping.Kind.USER)
        for index, entry in enumerate(self.export.users):
            slack_id = entry["id"]
            if slack_id in known:
                self.users[slack_id] = known[slack_id]
                continue
            user = self._match_user(entry)
            if user is not None:
                self.summary.users_matched += 1
            else:
                user = self._create_user(entry)
            SlackMapping.objects.create(
                kind=SlackMapping.Kind.USER, slack_id=slack_id, object_id=user.pk
            )
            self.users[slack_id] = user.pk
            if index % 200 == 0:
                self.progress({"stage": "users", "done": index, "total": len(self.export.users)})
        for entry in self.export.users:
            # A bot user's messages name its bot_id (profile.bot_id), not its user id.
            bot_id = (entry.get("profile") or {}).get("bot_id")
            if isinstance(bot_id, str) and bot_id and entry["id"] in self.users:
                self.users.setdefault(bot_id, self.users[entry["id"]])
        for slack_id, object_id in _mapping(SlackMapping.Kind.BOT).items():
            self.users.setdefault(slack_id, object_id)
        self.usernames = dict(
            User.objects.filter(pk__in=set(self.users.values())).values_list("pk", "username")
        )

    def _create_user(self, entry: dict[str, Any]) -> User:
        profile = entry.get("profile") or {}
        display = str(
            profile.get("display_name") or profile.get("real_name") or entry.get("real_name") or ""
        ).replace("\x00", "")[:64]
        user = User(
            username=_free_username(_username_candidate(entry["name"])), display_name=display
        )
        email = str(profile.get("email") or "").strip()
        if email and not User.objects.filter(email__iexact=email).exists():
            user.email = email
        # Inactive until they set a password (reset by mail) or sign in by SSO.
        user.is_active = False
        user.set_unusable_password()
        user.save()
        if entry.get("is_bot") or entry.get("is_app_user"):
            Bot.objects.create(
                user=user, owner=self._bot_owner(), display_name=display or user.username
            )
            self.summary.bots_created += 1
        else:
            self.summary.users_created += 1
        return user

    def _bot_user(self, message: dict[str, Any]) -> int | None:
        """The sender of a bot_message: the bot's user, made on first sight (bots that post
        through integrations are not in users.json, only their bot_id is)."""
        bot_id = str(message.get("bot_id") or "")
        if not bot_id:
            return None
        if bot_id in self.users:
            return self.users[bot_id]
        name = str(
            message.get("username") or (message.get("bot_profile") or {}).get("name") or bot_id
        )
        user = User(username=_free_username(_username_candidate(name)), display_name=name[:64])
        user.is_active = False
        user.set_unusable_password()
        user.save()
        Bot.objects.create(user=user, owner=self._bot_owner(), display_name=name[:150])
        SlackMapping.objects.create(kind=SlackMapping.Kind.BOT, slack_id=bot_id, object_id=user.pk)
        self.summary.bots_created += 1
        self.users[bot_id] = user.pk
        self.usernames[user.pk] = user.username
        return user.pk

    # --- conversations --------------------------------------------------------------------------

    def _conversation(self, channel: SlackChannel) -> Conversation | None:
        mapped = SlackMapping.objects.filter(
            kind=SlackMapping.Kind.CHANNEL, slack_id=channel.slack_id
        ).first()
        if mapped is not None:
            return Conversation.objects.filter(pk=mapped.object_id).first()
        member_ids = list(dict.fromkeys(self.users[m] for m in channel.members if m in self.users))
        if channel.kind == "direct":
            conversation = self._direct(channel, member_ids)
            if conversation is None:
                return None
        else:
            conversation = self._group(channel, member_ids)
        SlackMapping.objects.create(
            kind=SlackMapping.Kind.CHANNEL, slack_id=channel.slack_id, object_id=conversation.pk
        )
        return conversation

    def _direct(self, channel: SlackChannel, member_ids: list[int]) -> Conversation | None:
        if len(member_ids) != 2:
            self.summary.warnings.append(
                f"{channel.slack_id}: a direct chat with {len(member_ids)} known members "
                "(Parley's are between two people): skipped"
            )
            return None
        low, high = sorted(member_ids)
        key = f"{low}:{high}"
        conversation = Conversation.objects.filter(direct_key=key).first()
        if conversation is None:
            conversation = Conversation.objects.create(
                kind=Conversation.Kind.DIRECT, direct_key=key, created_by_id=low
            )
            Membership.objects.bulk_create(
                [Membership(conversation=conversation, user_id=uid) for uid in (low, high)]
            )
            publish_conversation_joined(conversation.pk, [low, high])
            self.summary.conversations_created += 1
        return conversation

    def _group(self, channel: SlackChannel, member_ids: list[int]) -> Conversation:
        name = channel.name
        if channel.kind == "group_dm":
            people = [p for p in re.sub(r"^mpdm-|-\d+$", "", name).split("--") if p]
            name = ", ".join(people) or name
        name = name.replace("\x00", "").strip()[:120] or channel.slack_id
        creator = self.users.get(channel.creator)
        owner = creator if creator in member_ids else (member_ids[0] if member_ids else None)
        conversation = Conversation.objects.create(
            kind=Conversation.Kind.GROUP,
            name=name,
            description=(channel.purpose or channel.topic).replace("\x00", "")[:1000],
            created_by_id=owner,
        )
        Membership.objects.bulk_create(
            [
                Membership(
                    conversation=conversation,
                    user_id=uid,
                    role=Membership.Role.OWNER if uid == owner else Membership.Role.MEMBER,
                )
                for uid in member_ids
            ]
        )
        if channel.kind == "public":
            GroupVisibility.objects.create(
                conversation=conversation, visibility=GroupVisibility.Visibility.PUBLIC
            )
        publish_conversation_joined(conversation.pk, member_ids)
        self.summary.conversations_created += 1
        return conversation

    # --- messages -------------------------------------------------------------------------------

    def _username_of(self, slack_id: str) -> str | None:
        uid = self.users.get(slack_id)
        return self.usernames.get(uid) if uid is not None else None

    def _import_messages(
        self, channel: SlackChannel, conversation: Conversation, *, done: int, total: int
    ) -> int:
        messages = self.export.messages(channel)
        members = {
            name.lower(): uid
            for name, uid in Membership.objects.filter(conversation=conversation).values_list(
                "user__username", "user_id"
            )
        }
        imported = 0
        for start in range(0, len(messages), CHUNK):
            chunk = messages[start : start + CHUNK]
            with transaction.atomic():
                imported += self._import_chunk(channel, conversation, chunk, members)
            done += len(chunk)
            self.progress(
                {
                    "stage": "messages",
                    "channel": channel.name,
                    "done": done,
                    "total": total,
                    "channel_done": start + len(chunk),
                    "channel_total": len(messages),
                }
            )
        if imported:
            # Imported history is not news: the members have "read" it.
            last_seq = Conversation.objects.get(pk=conversation.pk).last_seq
            Membership.objects.filter(conversation=conversation).update(
                read_seq=last_seq, delivered_seq=last_seq
            )
            transaction.on_commit(
                lambda: history_cache.history_cache_invalidate(conversation.pk), robust=True
            )
        self.summary.messages_imported += imported
        return done

    def _import_chunk(
        self,
        channel: SlackChannel,
        conversation: Conversation,
        chunk: list[dict[str, Any]],
        members: dict[str, int],
    ) -> int:
        keys = [f"{channel.slack_id}:{m['ts']}" for m in chunk]
        known = _mapping_for(keys)
        fresh = [(k, m) for k, m in zip(keys, chunk, strict=True) if k not in known]
        self.summary.messages_skipped += len(chunk) - len(fresh)
        if not fresh:
            return 0
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        seq = locked.last_seq
        taken: set[int] = set()
        rows: list[Message] = []
        extra: list[tuple[Message, dict[str, Any]]] = []
        by_ts = {**known}
        for key, entry in fresh:
            moment = slack_time(entry["ts"])
            message_id = imported_message_id(moment, taken)
            seq += 1
            message = self._message(
                entry,
                conversation=conversation,
                message_id=message_id,
                seq=seq,
                moment=moment,
                members=members,
            )
            # A reply names its root by ts: earlier in this chunk, or imported before.
            thread_ts = entry.get("thread_ts")
            if thread_ts and thread_ts != entry["ts"]:
                root = by_ts.get(f"{channel.slack_id}:{thread_ts}") or _mapping_for(
                    [f"{channel.slack_id}:{thread_ts}"]
                ).get(f"{channel.slack_id}:{thread_ts}")
                if root is not None:
                    message.reply_to_id = root
                    message.thread_id = root
            by_ts[key] = message_id
            rows.append(message)
            extra.append((message, entry))
        self._unique_ids(rows)
        for month in sorted({partitions.month_start(m.created_at) for m in rows}):
            if partitions.is_partitioned(connection):
                partitions.partitions_ensure(ahead=0, today=month)
        MessageKey.objects.bulk_create(
            [
                MessageKey(
                    message_id=m.pk,
                    conversation_id=m.conversation_id,
                    seq=m.seq,
                    sender_id=m.sender_id,
                    client_msg_id=None,
                )
                for m in rows
            ]
        )
        Message.objects.bulk_create(rows)
        SlackMapping.objects.bulk_create(
            [
                SlackMapping(kind=SlackMapping.Kind.MESSAGE, slack_id=key, object_id=m.pk)
                for (key, _), m in zip(fresh, rows, strict=True)
            ]
        )
        newest = max(rows, key=lambda m: m.created_at).created_at
        Conversation.objects.filter(pk=conversation.pk).update(
            last_seq=seq,
            last_message_at=max(newest, locked.last_message_at or newest),
        )
        self._reactions(extra)
        self._files(extra)
        self._threads(rows)
        from conversations.services import mentions_record

        mentions_record(messages=[m for m in rows if m.mentions or m.mentions_all])
        return len(rows)

    def _unique_ids(self, rows: list[Message]) -> None:
        """Moves an id that a message already stored has (same millisecond, another channel or
        a live message) to the next free one."""
        while True:
            clash = set(
                MessageKey.objects.filter(message_id__in=[m.pk for m in rows]).values_list(
                    "message_id", flat=True
                )
            )
            if not clash:
                return
            taken = {m.pk for m in rows} | clash
            for message in rows:
                if message.pk in clash:
                    message.id = imported_message_id(message.created_at, taken)

    def _message(
        self,
        entry: dict[str, Any],
        *,
        conversation: Conversation,
        message_id: int,
        seq: int,
        moment: datetime,
        members: dict[str, int],
    ) -> Message:
        subtype = entry.get("subtype")
        text = str(entry.get("text") or "").replace("\x00", "")
        sender_id = self.users.get(str(entry.get("user") or ""))
        if subtype == "bot_message" or (sender_id is None and entry.get("bot_id")):
            sender_id = self._bot_user(entry) or sender_id
        message = Message(
            id=message_id,
            conversation_id=conversation.pk,
            seq=seq,
            sender_id=sender_id,
            client_msg_id=None,
            body="",
            created_at=moment,
        )
        edited = entry.get("edited")
        if isinstance(edited, dict) and isinstance(edited.get("ts"), str):
            try:
                message.edited_at = slack_time(edited["ts"])
            except ValueError:
                message.edited_at = moment
        if subtype in DELETED_SUBTYPES or (entry.get("hidden") and subtype not in TEXT_SUBTYPES):
            message.deleted_at = message.edited_at or moment
            message.edited_at = None
            return message
        if subtype not in TEXT_SUBTYPES:
            body = plain_text(text, username_of=self._username_of) or subtype
            user = self.usernames.get(sender_id) if sender_id else None
            message.sender_id = None
            message.body = body
            message.html = plain_html(body)
            message.system = {"event": f"slack_{subtype}", "user": user, "text": body}
            self.summary.system_messages += 1
            return message
        body = slack_to_markdown(
            text, username_of=self._username_of, channel_name_of=self.channel_names.get
        )
        if subtype == "me_message" and body:
            body = f"_{body}_"
        rendered = render(body, members=members, all_allowed="@all" in body) if body else None
        message.body = body
        message.html = rendered.html if rendered else ""
        message.mentions = (rendered.mentions or None) if rendered else None
        message.mentions_all = bool(rendered and rendered.mentions_all)
        return message

    def _reactions(self, extra: list[tuple[Message, dict[str, Any]]]) -> None:
        rows = []
        for message, entry in extra:
            for reaction in entry.get("reactions") or []:
                name = str(reaction.get("name") or "").split("::")[0]
                emoji = emoji_data.emojize(f":{name}:", language="alias")
                if not emoji_data.is_emoji(emoji):
                    self.summary.warnings.append(
                        f"reaction :{name}: is not a Unicode emoji (skipped)"
                    )
                    continue
                for user in reaction.get("users") or []:
                    uid = self.users.get(str(user))
                    if uid is not None:
                        rows.append(
                            Reaction(
                                message_id=message.pk,
                                conversation_id=message.conversation_id,
                                user_id=uid,
                                emoji=emoji,
                            )
                        )
        if rows:
            Reaction.objects.bulk_create(rows, ignore_conflicts=True)
            self.summary.reactions += len(rows)

    def _files(self, extra: list[tuple[Message, dict[str, Any]]]) -> None:
        from uploads.services import upload_create

        for message, entry in extra:
            files = entry.get("files") or []
            if not files or message.deleted_at is not None:
                continue
            links = []
            position = 0
            for info in files:
                file_id = str(info.get("id") or "")
                name = str(info.get("name") or info.get("title") or file_id or "file")
                member = self.export.file_member(file_id) if file_id else None
                owner = User.objects.filter(pk=message.sender_id).first()
                upload = None
                if member is not None and owner is not None:
                    data = self.export.read_member(member)
                    try:
                        upload = upload_create(
                            owner=owner, stream=io.BytesIO(data), name=name, size=len(data)
                        )
                    except Exception as exc:  # quota, type, size: fall back to the link
                        self.summary.warnings.append(f"file {name} ({file_id}): {exc}")
                if upload is not None:
                    Upload.objects.filter(pk=upload.pk).update(
                        message_id=message.pk,
                        message_seq=message.seq,
                        conversation_id=message.conversation_id,
                        position=position,
                    )
                    position += 1
                    self.summary.files_attached += 1
                else:
                    url = str(info.get("permalink") or info.get("url_private") or "")
                    links.append(f"[{name}]({url})" if url else name)
                    self.summary.files_linked += 1
            if links:
                message.body = "\n".join(filter(None, [message.body, *links]))
                rendered = render(message.body, members={}, all_allowed=False)
                message.html = rendered.html
                Message.objects.filter(pk=message.pk).update(body=message.body, html=message.html)

    def _threads(self, rows: list[Message]) -> None:
        by_root: dict[int, list[Message]] = {}
        for message in rows:
            if message.thread_id is not None:
                by_root.setdefault(message.thread_id, []).append(message)
        for root_id, replies in by_root.items():
            summary = ThreadSummary.objects.filter(root_id=root_id).first()
            if summary is None:
                root = Message.objects.filter(pk=root_id).values_list("seq", flat=True).first()
                if root is None:
                    continue
                summary = ThreadSummary(
                    root_id=root_id,
                    conversation_id=replies[0].conversation_id,
                    root_seq=root,
                    replies=0,
                    participants=[],
                )
            summary.replies += len(replies)
            summary.last_reply_at = max(m.created_at for m in replies)
            for message in replies:
                if message.sender_id is not None and message.sender_id not in summary.participants:
                    summary.participants.append(message.sender_id)
            summary.save()


def _mapping_for(keys: list[str]) -> dict[str, int]:
    return dict(
        SlackMapping.objects.filter(kind=SlackMapping.Kind.MESSAGE, slack_id__in=keys).values_list(
            "slack_id", "object_id"
        )
    )


def slack_import(
    *,
    source: Any,
    dry_run: bool = False,
    map_users: str = "email",
    owner: User | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Imports a Slack export (a path or a binary file); checks it completely first, so a
    malformed export imports nothing (SlackImportError names the file and entry); a second run
    imports nothing twice."""
    export = SlackExport(source)
    try:
        return SlackImporter(export, map_users=map_users, owner=owner, progress=progress).run(
            dry_run=dry_run
        )
    finally:
        export.close()


__all__ = ["ImportSummary", "SlackImportError", "slack_import"]
