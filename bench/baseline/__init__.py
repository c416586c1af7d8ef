"""A tutorial-style Channels chat, the baseline Parley is measured against.

One AsyncWebsocketConsumer per socket, `group_add` per room, `group_send` per message, no auth,
no database: what the Channels tutorial builds. Run with
`DJANGO_SETTINGS_MODULE=bench.baseline.settings daphne bench.baseline.asgi:application`.
"""
