"""One authenticated socket's parts, as frame handlers and the consumer see them."""

from dataclasses import dataclass
from typing import Any

from .heartbeat import Heartbeat
from .instrumentation import Instrumentation
from .live import LiveConversations
from .outbox import Outbox
from .protection import SocketProtection
from .runtime import LoopRuntime
from .user_channel import UserChannel


@dataclass
class Connection:
    user: Any  # accounts.models.User (django-stubs cannot see the custom model's fields here)
    scope: dict[str, Any]
    runtime: LoopRuntime
    outbox: Outbox
    live: LiveConversations
    channel: UserChannel
    protection: SocketProtection
    heartbeat: Heartbeat
    instrumentation: Instrumentation

    def reply(self, frame: dict[str, Any]) -> None:
        """A frame answering the client's, through the outbox like every other."""
        self.instrumentation.reply(frame)
        self.outbox.reply(frame)
