"""The cost of the announcement conversation's first broadcast (creation, enrolment of every
active user, one `conversation` event per user) and of a later broadcast.

Run it against a FRESH database (the first broadcast happens once per database):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/parley_bench \\
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/announcements.py --users 10000

Without DATABASE_URL it uses SQLite under PARLEY_VAR_DIR (set it to a scratch directory).
The database is migrated first; users named bench-<random>-<n> and one staff user are created.
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from announcements.services import announcement_conversation_id, broadcast_post

    if announcement_conversation_id() is not None:
        sys.exit("the announcement conversation exists already: use a fresh database")
    tag = uuid.uuid4().hex[:6]
    User.objects.bulk_create(
        [User(username=f"bench-{tag}-{n}") for n in range(args.users)], batch_size=1000
    )
    staff = User.objects.create(username=f"bench-{tag}-staff", is_staff=True)
    active = User.objects.filter(is_active=True).count()

    started = time.perf_counter()
    broadcast_post(actor=staff, client_msg_id=f"bench-{tag}-1", body="first")
    first = time.perf_counter() - started
    started = time.perf_counter()
    broadcast_post(actor=staff, client_msg_id=f"bench-{tag}-2", body="second")
    later = time.perf_counter() - started
    print(f"active users: {active}")
    print(f"first broadcast (create, enrol everyone, announce it): {first * 1000:.0f} ms")
    print(f"a later broadcast: {later * 1000:.1f} ms")


if __name__ == "__main__":
    main()
