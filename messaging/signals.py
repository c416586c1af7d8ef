"""What the messaging app tells other apps, so it never calls them: they subscribe here.

`messages_stored` is sent after commit for every batch of stored messages (user and system
messages alike), with `messages`: [(conversation_id, message_id), ...] in seq order. Offline
push (push/apps.py) subscribes to it.

`history_read` is sent for every page of history read for a member (`message_history`), before
it is returned, with `page` (the list of message events, which receivers may replace item by
item: `page[:] = ...`; the events may be shared with the history cache, so a receiver copies an
event before changing it), `viewer_id` and `conversation`. Receipts (receipts/apps.py) add the
viewer's receipt state to their own messages there.
"""

from django.dispatch import Signal

messages_stored = Signal()
history_read = Signal()
