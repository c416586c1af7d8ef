"""What changes on a message without changing the message (thread summaries, reactions, pins),
added to each answer as it is served: never stored in the shared history cache, so a page
served from the cache is as current as one read from the database."""

from messaging.events import MessageEvent

from .events import thread_summary_data
from .models import ThreadSummary


def with_conversation_state(page: list[MessageEvent], *, viewer_id: int) -> list[MessageEvent]:
    """Copies of the page's messages with their `thread_summary` (roots with replies)."""
    if not page:
        return page
    ids = [int(m["id"]) for m in page]
    summaries = {s.root_id: s for s in ThreadSummary.objects.filter(root_id__in=ids)}
    if not summaries:
        return page
    result: list[MessageEvent] = []
    for message in page:
        summary = summaries.get(int(message["id"]))
        if summary is not None:
            message = {**message, "thread_summary": thread_summary_data(summary)}  # type: ignore[typeddict-item]
        result.append(message)
    return result
