"""`ready` for a user in many conversations: the full list against a `?since=` cursor.

    PARLEY_VAR_DIR=var/bench-ready .venv/bin/python -m bench.ready --conversations 2000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a database of its own> \\
    REDIS_URL=redis://127.0.0.1:6379/<index> .venv/bin/python -m bench.ready --conversations 2000

Fills the database once (a second run reuses it): a user `rb-owner` in `--conversations`
groups, each with one message from another member. Then reads `ready`'s conversations in-process
(messaging.ready.ready_conversations, the handshake's database hop) four ways: without a cursor
(today's `ready`), with `since=` empty (the full list and a new cursor), with the cursor and
nothing changed, and with the cursor after `--changed` conversations got a message. Reports, per
way, the database queries, the bytes of the `conversations` list as JSON and the median
milliseconds of `--repeat` reads (a loaded machine moves the milliseconds, not the queries or
the bytes). Use a database of its own: it is migrated and filled.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from groups.services import group_create
    from messaging.models import Membership
    from messaging.ready import ready_conversations
    from messaging.services import message_send

    call_command("migrate", verbosity=0)
    owner, _ = User.objects.get_or_create(username="rb-owner")
    other, _ = User.objects.get_or_create(username="rb-other")
    have = Membership.objects.filter(user=owner).count()
    if have < args.conversations:
        print(f"filling: {args.conversations - have} groups", flush=True)
    for n in range(have, args.conversations):
        group = group_create(creator=other, name=f"rb-{n}", member_ids=[owner.pk])
        message_send(sender=other, conversation_id=group.pk, client_msg_id=f"rb-{n}", body="hi")
    groups = list(
        Membership.objects.filter(user=owner)
        .order_by("conversation_id")
        .values_list("conversation_id", flat=True)
    )

    def measure(name: str, since_of) -> None:  # type: ignore[no-untyped-def]
        samples = []
        for _ in range(args.repeat):
            since = since_of()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                listed = ready_conversations(user_id=owner.pk, since=since)
                samples.append((time.perf_counter() - started) * 1000)
        size = len(json.dumps(listed.summaries, default=str))
        print(
            f"{name:<34} {len(listed.summaries):>6} conversations  {len(queries):>3} queries"
            f"  {size:>9} bytes  median {statistics.median(samples):8.1f} ms",
            flush=True,
        )

    print(f"rb-owner in {len(groups)} conversations ({connection.vendor})")
    measure("no cursor (today's ready)", lambda: None)
    measure("since= (full list, new cursor)", lambda: "")
    cursor = ready_conversations(user_id=owner.pk, since="").cursor
    measure("since=<cursor>, nothing changed", lambda: cursor)
    for n, conversation_id in enumerate(groups[: args.changed]):
        message_send(
            sender=other,
            conversation_id=conversation_id,
            client_msg_id=f"rb-change-{time.time_ns()}-{n}",
            body="changed",
        )
    measure(f"since=<cursor>, {args.changed} changed", lambda: cursor)


if __name__ == "__main__":
    main()
