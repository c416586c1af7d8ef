"""What the messaging app tells other apps, so it never calls them: they subscribe here.

`messages_stored` is sent after commit for every batch of stored messages (user and system
messages alike), with `messages`: [(conversation_id, message_id), ...] in seq order. Offline
push (push/apps.py) subscribes to it.
"""

from django.dispatch import Signal

messages_stored = Signal()
