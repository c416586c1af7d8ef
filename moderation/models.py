# Moderation keeps no rows of its own: bans change accounts, and every moderation action is
# recorded by the audit app (audit/models.py), whose table this app created.
