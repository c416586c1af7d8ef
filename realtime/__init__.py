"""The realtime layer: publishing events after commit, and each process's fan-out hub.

Services publish through the functions below (realtime/publish.py); the gateway (gateway/)
subscribes its sockets through the hub (realtime/hub.py). Below the domain apps and above
core/: it imports no domain app (docs/architecture.md).
"""

from .publish import (
    ADDRESSES_GROUP,
    close_address_sockets,
    close_session_sockets,
    close_user_sockets,
    conversation_events,
    publish_to_conversation,
    publish_to_conversations,
    publish_to_user,
    publish_to_users,
    session_group,
    user_group,
)

__all__ = [
    "ADDRESSES_GROUP",
    "close_address_sockets",
    "close_session_sockets",
    "close_user_sockets",
    "conversation_events",
    "publish_to_conversation",
    "publish_to_conversations",
    "publish_to_user",
    "publish_to_users",
    "session_group",
    "user_group",
]
