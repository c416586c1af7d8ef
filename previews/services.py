"""Link previews: scheduled after a message is stored, fetched by a Celery task, stored and
published to the conversation as a `preview` frame."""

import logging
import re
import threading
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.db import close_old_connections, connections, transaction

import realtime
from messaging import history_cache
from messaging.models import Message

from .events import PreviewEvent, preview_ref
from .fetch import PreviewRefused, check_url, fetch_preview
from .models import LinkPreview

logger = logging.getLogger(__name__)

# What the browser links too (static/parley/render.js), trailing punctuation left out.
URL_RE = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_RE = re.compile(r"[.,;:!?)\]}'\"]+$")
MAX_LINKS = 3


def links_in(body: str) -> list[str]:
    """The first MAX_LINKS distinct http(s) links of a message body."""
    links: list[str] = []
    for match in URL_RE.finditer(body):
        url = TRAILING_RE.sub("", match.group(0))
        if url not in links and len(url) <= 2000:
            links.append(url)
        if len(links) == MAX_LINKS:
            break
    return links


def previews_schedule(*, messages: Iterable[Message]) -> None:
    """After commit, asks for the previews of the links in these messages (nothing when
    PARLEY_LINK_PREVIEWS is off). Call inside the transaction that stored them."""
    if not settings.PARLEY_LINK_PREVIEWS:
        return
    wanted = [(m.pk, m.conversation_id, links) for m in messages if (links := links_in(m.body))]
    if wanted:
        transaction.on_commit(partial(_enqueue, wanted), robust=True)


def _enqueue(wanted: list[tuple[int, int, list[str]]]) -> None:
    from .tasks import message_previews_fetch

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Embedded default: no worker, and the sender must not wait for someone's web server
        # (up to 5 s a link): fetch on a daemon thread of this process.
        def run() -> None:
            close_old_connections()
            try:
                for message_id, conversation_id, links in wanted:
                    message_previews_fetch.apply(args=(message_id, conversation_id, links))
            finally:
                connections.close_all()

        threading.Thread(target=run, name="link-previews", daemon=True).start()
        return
    for message_id, conversation_id, links in wanted:
        message_previews_fetch.delay(message_id, conversation_id, links)


def message_previews_fetch(*, message_id: int, conversation_id: int, urls: list[str]) -> int:
    """Fetches the links' pages (SSRF-safe, previews.fetch) and stores the previews of those
    that have one, replacing earlier ones; publishes a `preview` frame after commit. A deleted
    message gets none. Returns how many were stored."""
    if not settings.PARLEY_LINK_PREVIEWS:
        return 0
    found = []
    for url in urls[:MAX_LINKS]:
        try:
            preview = fetch_preview(check_url(url))
        except PreviewRefused as refused:
            logger.info("no preview of a link in message %s: %s", message_id, refused)
            continue
        if preview is not None:
            found.append(preview)
    if not found:
        return 0
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(pk=message_id, conversation_id=conversation_id, deleted_at__isnull=True)
            .only("id", "seq", "conversation_id")
            .first()
        )
        if message is None:
            return 0
        LinkPreview.objects.filter(message_id=message_id).delete()
        rows = LinkPreview.objects.bulk_create(
            [
                LinkPreview(
                    message_id=message_id,
                    conversation_id=conversation_id,
                    position=position,
                    url=preview.url,
                    title=preview.title,
                    description=preview.description,
                    image_url=preview.image_url,
                )
                for position, preview in enumerate(found)
            ]
        )
        event: PreviewEvent = {
            "type": "preview",
            "conversation": conversation_id,
            "id": str(message_id),
            "seq": message.seq,
            "previews": [preview_ref(row) for row in rows],
        }
        transaction.on_commit(
            partial(history_cache.history_cache_invalidate, conversation_id), robust=True
        )
        transaction.on_commit(
            partial(realtime.publish_to_conversation, conversation_id, event["type"], dict(event)),
            robust=True,
        )
    return len(rows)
