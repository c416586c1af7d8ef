"""Exports: a user's data (profile, conversations they are in, their messages, reactions,
uploads and settings) or one conversation, as a zip of JSON plus a small static HTML viewer.

Messages are read in keyset pages and written straight into the zip (on a temporary file), so
an export of any size holds one page in memory at a time. The finished zip goes to the uploads
storage under `exports/`; its download works for PARLEY_EXPORT_DAYS days.
"""

import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from conversations.models import Reaction
from core.errors import Conflict, Forbidden, NotFound
from messaging.models import Conversation, Membership, Message
from notifications.models import ConversationNotify, NotificationPrefs
from uploads.models import Upload
from uploads.services import upload_storage

from .jobs import ProgressFn, job_enqueue
from .models import Job

PAGE = 2000
VIEWER_CSS = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "article{border-bottom:1px solid #ddd;padding:.5rem 0}header{color:#555;font-size:.85rem}"
    ".system{color:#777;font-style:italic}.deleted{color:#999}"
)


# --- starting ----------------------------------------------------------------------------------


def export_user_start(*, user: User) -> Job:
    """Queues an export of the user's own data; at most one queued or running per user
    (Conflict otherwise)."""
    try:
        with transaction.atomic():
            job = Job.objects.create(kind=Job.Kind.EXPORT_USER, user=user)
            job_enqueue(job, _task("export_run"))
    except IntegrityError as exc:
        raise Conflict("An export of your data is already running.", field="export") from exc
    return job


def conversation_exportable(*, actor: User, conversation_id: int) -> Conversation:
    """The conversation if the actor may export it: staff, or the owner of a group. Others who
    are not members (including members who left) get NotFound."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.", field="conversation")
    if actor.is_staff:
        return conversation
    role = (
        Membership.objects.filter(conversation=conversation, user=actor)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise NotFound("No such conversation.", field="conversation")
    if conversation.kind != Conversation.Kind.GROUP or role != Membership.Role.OWNER:
        raise Forbidden("Only the group's owner or staff can export a conversation.", field="role")
    return conversation


def export_conversation_start(*, actor: User, conversation_id: int) -> Job:
    """Queues an export of one conversation (JSON + HTML) for its group owner or staff."""
    conversation = conversation_exportable(actor=actor, conversation_id=conversation_id)
    with transaction.atomic():
        job = Job.objects.create(
            kind=Job.Kind.EXPORT_CONVERSATION, user=actor, conversation_id=conversation.pk
        )
        job_enqueue(job, _task("export_run"))
    return job


def _task(name: str) -> Any:
    from . import tasks

    return getattr(tasks, name)


# --- the zip -----------------------------------------------------------------------------------


class ExportZip:
    """A zip written entry by entry; JSON lists and HTML pages are streamed into it."""

    def __init__(self, out: IO[bytes] | Path) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def json(self, name: str, data: Any) -> None:
        self.zip.writestr(name, json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def json_list(self, name: str, items: Iterable[Any]) -> int:
        count = 0
        with self.zip.open(name, "w", force_zip64=True) as out:
            out.write(b"[")
            for item in items:
                out.write(b",\n" if count else b"\n")
                out.write(json.dumps(item, ensure_ascii=False, default=str).encode())
                count += 1
            out.write(b"\n]\n")
        return count

    def text_stream(self, name: str, parts: Iterable[str]) -> None:
        with self.zip.open(name, "w", force_zip64=True) as out:
            for part in parts:
                out.write(part.encode())

    def stored_file(self, name: str, key: str) -> bool:
        storage = upload_storage()
        try:
            with (
                storage.open(key, "rb") as source,
                self.zip.open(name, "w", force_zip64=True) as out,
            ):
                shutil.copyfileobj(source, out, 1024 * 1024)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self.zip.close()


FIELDS = (
    "id",
    "conversation_id",
    "seq",
    "sender_id",
    "body",
    "html",
    "created_at",
    "edited_at",
    "deleted_at",
    "system",
    "reply_to_id",
    "thread_id",
)


def _senders(ids: set[int], cache: dict[int, dict[str, Any]]) -> None:
    missing = ids - cache.keys()
    for pk, username, display_name in User.objects.filter(pk__in=missing).values_list(
        "pk", "username", "display_name"
    ):
        cache[pk] = {"id": pk, "username": username, "display_name": display_name or username}


def message_pages(
    *, conversation_id: int | None = None, sender_id: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Messages as export records, a page at a time, by keyset (never an OFFSET, never all
    rows at once): one conversation in seq order, or one sender's in id order. Plain rows,
    not model instances: a 100,000-message export reads every row twice (JSON and HTML)."""
    users: dict[int, dict[str, Any]] = {}
    cursor = 0 if conversation_id is not None else -(2**63)
    while True:
        if conversation_id is not None:
            query = Message.objects.filter(conversation_id=conversation_id, seq__gt=cursor)
            rows = list(query.order_by("seq").values_list(*FIELDS)[:PAGE])
        else:
            query = Message.objects.filter(sender_id=sender_id, id__gt=cursor)
            rows = list(query.order_by("id").values_list(*FIELDS)[:PAGE])
        if not rows:
            return
        cursor = rows[-1][2] if conversation_id is not None else rows[-1][0]
        ids = [row[0] for row in rows]
        _senders({row[3] for row in rows if row[3] is not None}, users)
        reactions: dict[int, list[dict[str, Any]]] = {}
        for message_id, emoji, user_id in Reaction.objects.filter(message_id__in=ids).values_list(
            "message_id", "emoji", "user_id"
        ):
            reactions.setdefault(message_id, []).append({"emoji": emoji, "user": user_id})
        files: dict[int, list[dict[str, Any]]] = {}
        for upload in Upload.objects.filter(message_id__in=ids).order_by("position"):
            files.setdefault(upload.message_id or 0, []).append(
                {
                    "id": str(upload.pk),
                    "name": upload.name,
                    "size": upload.size,
                    "content_type": upload.content_type,
                }
            )
        yield [
            {
                "id": str(pk),
                "conversation": conversation,
                "seq": seq,
                "sender": users.get(sender) if sender is not None else None,
                "body": body,
                "html": html,
                "created_at": created_at.isoformat(),
                "edited_at": edited_at.isoformat() if edited_at else None,
                "deleted": deleted_at is not None,
                "system": system,
                "reply_to": str(reply_to) if reply_to else None,
                "thread": str(thread) if thread else None,
                "reactions": reactions.get(pk, []),
                "attachments": files.get(pk, []),
            }
            for (
                pk,
                conversation,
                seq,
                sender,
                body,
                html,
                created_at,
                edited_at,
                deleted_at,
                system,
                reply_to,
                thread,
            ) in rows
        ]
        del rows


def _flatten(pages: Iterable[list[dict[str, Any]]], progress: ProgressFn | None) -> Iterator[dict]:
    done = 0
    for page in pages:
        yield from page
        done += len(page)
        if progress is not None:
            progress(done=done)


def _html_page(title: str, records: Iterable[dict[str, Any]], intro: str = "") -> Iterator[str]:
    yield (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{VIEWER_CSS}</style><h1>{escape(title)}</h1>{intro}"
    )
    for record in records:
        sender = record["sender"]
        who = escape(sender["display_name"]) if sender else "Parley"
        when = escape(record["created_at"])
        if record["deleted"]:
            content = '<p class="deleted">This message was deleted.</p>'
        elif record["system"] is not None:
            content = f'<p class="system">{escape(record["body"])}</p>'
        else:
            # `html` is what Parley rendered and sanitized when the message was stored.
            content = record["html"] or f"<p>{escape(record['body'])}</p>"
        edited = " (edited)" if record["edited_at"] else ""
        extras = "".join(
            f"<li>📎 {escape(a['name'])} ({a['size']} bytes)</li>" for a in record["attachments"]
        )
        reactions = " ".join(escape(r["emoji"]) for r in record["reactions"])
        yield (
            f'<article id="m{record["id"]}"><header><b>{who}</b> <time>{when}</time>{edited} '
            f"#{record['seq']}</header>{content}"
            + (f"<ul>{extras}</ul>" if extras else "")
            + (f"<p>{reactions}</p>" if reactions else "")
            + "</article>\n"
        )
    yield "</html>\n"


def conversation_export_write(
    out: ExportZip, conversation: Conversation, *, progress: ProgressFn | None = None
) -> int:
    """Writes one conversation: conversation.json, messages.json (streamed) and index.html
    (the transcript, streamed). Returns the message count."""
    members = [
        {"user": m.user_id, "username": m.user.username, "role": m.role, "joined_at": m.joined_at}
        for m in Membership.objects.filter(conversation=conversation).select_related("user")
    ]
    out.json(
        "conversation.json",
        {
            "id": conversation.pk,
            "kind": conversation.kind,
            "name": conversation.name,
            "description": conversation.description,
            "created_at": conversation.created_at,
            "last_seq": conversation.last_seq,
            "members": members,
            "exported_at": timezone.now(),
        },
    )
    count = out.json_list(
        "messages.json", _flatten(message_pages(conversation_id=conversation.pk), progress)
    )
    title = conversation.name or f"Conversation {conversation.pk}"
    out.text_stream(
        "index.html",
        _html_page(title, _flatten(message_pages(conversation_id=conversation.pk), None)),
    )
    return count


def user_export_write(out: ExportZip, user: User, *, progress: ProgressFn | None = None) -> int:
    """Writes everything of one user's: profile.json, settings.json, conversations.json,
    messages.json (streamed), reactions.json, uploads.json and the files, and index.html."""
    out.json(
        "profile.json",
        {
            "id": user.pk,
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "email_verified": user.email_verified,
            "status_text": user.status_text,
            "status_emoji": user.status_emoji,
            "timezone": user.timezone,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
        },
    )
    prefs = NotificationPrefs.objects.filter(user=user).first()
    out.json(
        "settings.json",
        {
            "notifications": {
                "do_not_disturb_until": prefs.do_not_disturb_until if prefs else None,
                "quiet_hours_start": prefs.quiet_hours_start if prefs else None,
                "quiet_hours_end": prefs.quiet_hours_end if prefs else None,
                "email_notifications": prefs.email_notifications if prefs else True,
            },
            "conversation_levels": {
                str(c): level
                for c, level in ConversationNotify.objects.filter(user=user).values_list(
                    "conversation_id", "level"
                )
            },
        },
    )
    conversations = [
        {
            "id": m.conversation_id,
            "kind": m.conversation.kind,
            "name": m.conversation.name,
            "role": m.role,
            "joined_at": m.joined_at,
            "muted": m.muted,
        }
        for m in Membership.objects.filter(user=user).select_related("conversation")
    ]
    out.json("conversations.json", conversations)
    count = out.json_list("messages.json", _flatten(message_pages(sender_id=user.pk), progress))
    out.json_list(
        "reactions.json",
        (
            {"message": str(mid), "conversation": cid, "emoji": emoji, "created_at": at}
            for mid, cid, emoji, at in Reaction.objects.filter(user=user)
            .order_by("pk")
            .values_list("message_id", "conversation_id", "emoji", "created_at")
            .iterator(chunk_size=PAGE)
        ),
    )
    uploads = []
    for upload in Upload.objects.filter(owner=user).order_by("created_at").iterator(chunk_size=500):
        path = f"uploads/{upload.pk}-{Path(upload.name).name or 'file'}"
        included = out.stored_file(path, upload.key)
        uploads.append(
            {
                "id": str(upload.pk),
                "name": upload.name,
                "size": upload.size,
                "content_type": upload.content_type,
                "created_at": upload.created_at,
                "message": str(upload.message_id) if upload.message_id else None,
                "conversation": upload.conversation_id,
                "file": path if included else None,
            }
        )
    out.json("uploads.json", uploads)
    listing = "".join(
        f"<li>{escape(c['name'] or c['kind'])} (#{c['id']}, {escape(c['role'])})</li>"
        for c in conversations
    )
    intro = (
        f"<p>Exported {escape(timezone.now().isoformat())} for <b>{escape(user.username)}</b>. "
        "The JSON files beside this page hold everything; below are your messages.</p>"
        f"<h2>Your conversations</h2><ul>{listing}</ul><h2>Your messages</h2>"
    )
    out.text_stream(
        "index.html",
        _html_page(
            f"Parley export of {user.username}",
            _flatten(message_pages(sender_id=user.pk), None),
            intro,
        ),
    )
    return count


def export_conversation_to_file(*, conversation_id: int, path: Path) -> int:
    """`manage.py export_conversation`: the conversation's zip written to `path`."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id}.", field="conversation")
    out = ExportZip(path)
    try:
        return conversation_export_write(out, conversation)
    finally:
        out.close()


def export_run(*, job: Job, progress: ProgressFn) -> dict[str, Any]:
    """Writes the job's zip to a temporary file, stores it under exports/ and sets when its
    download expires; mails the owner a link when they have an address."""
    with tempfile.TemporaryFile() as spool:
        out = ExportZip(spool)
        try:
            if job.kind == Job.Kind.EXPORT_USER:
                if job.user is None:
                    raise NotFound("The account to export is gone.", field="user")
                count = user_export_write(out, job.user, progress=progress)
                name = f"parley-{job.user.username}"
            else:
                conversation = Conversation.objects.get(pk=job.conversation_id)
                count = conversation_export_write(out, conversation, progress=progress)
                name = f"parley-conversation-{conversation.pk}"
        finally:
            out.close()
        size = spool.tell()
        spool.seek(0)
        key = upload_storage().save(f"exports/{job.pk.hex}/{name}.zip", File(spool))
    job.file_key = key
    job.file_size = size
    job.expires_at = timezone.now() + timedelta(days=settings.PARLEY_EXPORT_DAYS)
    return {"messages": count, "bytes": size}


def export_download_url(job: Job) -> str:
    return f"{settings.PARLEY_PUBLIC_URL}/api/exports/{job.pk}/download/"


def export_ready_mail(*, job_id: object) -> None:
    from accounts.tasks import mail_send

    job = Job.objects.select_related("user").filter(pk=job_id).first()
    if job is None or job.user is None or not job.user.email or not job.user.is_active:
        return
    what = "your data" if job.kind == Job.Kind.EXPORT_USER else "the conversation"
    body = (
        f"The export of {what} is ready. Download it (signed in as {job.user.username}) "
        f"until {job.expires_at:%Y-%m-%d %H:%M} UTC:\n\n{export_download_url(job)}\n"
    )
    mail_send.delay(job.user.email, "Your Parley export is ready", body)


def export_for_download(*, user: User, job_id: object) -> Job:
    """The finished export the user may download (theirs, or any for staff)."""
    from core.errors import Gone

    job = Job.objects.filter(
        pk=job_id, kind__in=[Job.Kind.EXPORT_USER, Job.Kind.EXPORT_CONVERSATION]
    ).first()
    if job is None or (job.user_id != user.pk and not user.is_staff):
        raise NotFound("No such export.", field="export")
    if job.status != Job.Status.DONE or not job.file_key:
        raise Conflict("The export is not ready yet.", field="export")
    if job.expires_at is None or job.expires_at <= timezone.now():
        raise Gone("The export's link has expired: start a new export.", field="export")
    return job


def exports_expire(*, now: Any = None) -> int:
    """Removes the files of exports past their expiry; returns how many."""
    now = now or timezone.now()
    expired = list(
        Job.objects.filter(expires_at__lte=now).exclude(file_key="").values_list("pk", "file_key")
    )
    storage = upload_storage()
    for pk, key in expired:
        storage.delete(key)
        Job.objects.filter(pk=pk).update(file_key="")
    return len(expired)
