"""The WebSocket gateway: one thin Channels consumer and the plain collaborators it hands on to.

consumer.py      GatewayConsumer: connect, receive, disconnect; nothing else of its own
protocol.py      the frame protocol: frame parsing, field checks, the error frame, ?since=
frames.py        one handler per inbound frame type (FRAME_HANDLERS), each one service call
outbox.py        Outbox: every frame written to one socket, in one order
live.py          LiveConversations: per-socket cursors, reordering and gap repair
user_channel.py  UserChannel: the socket's user, session and address channels in the hub
heartbeat.py     Heartbeat: the 4408 watchdog, presence refresh
authentication.py, protection.py, instrumentation.py, batching.py: as named

Close codes and error codes live in core/ (one table each): REST uses them too.
"""
