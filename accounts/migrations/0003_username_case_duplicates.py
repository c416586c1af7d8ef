"""Makes usernames unique whatever their case, before 0004 adds the index that enforces it.

Accounts whose names are equal under the database's LOWER() are grouped; the one that joined
first (date_joined, then id) keeps its name, and each later one becomes `<its name>-<n>` with
the smallest n >= 2 whose lower-case form no account has (the name is shortened to fit 150
characters). Every rename is logged as a warning (logger `accounts.migrations`) for the operator
to tell the people concerned. Reversing this migration keeps the new names.
"""

import logging

from django.db import migrations
from django.db.models.functions import Lower

logger = logging.getLogger("accounts.migrations")

MAX_LENGTH = 150


def rename_case_duplicates(apps, schema_editor):  # type: ignore[no-untyped-def]
    User = apps.get_model("accounts", "User")
    connection = schema_editor.connection

    def lower(name: str) -> str:
        # The database's own LOWER(), so "equal" means what the unique index will mean
        # (SQLite folds ASCII only; PostgreSQL folds by its collation).
        with connection.cursor() as cursor:
            cursor.execute("SELECT LOWER(%s)", [name])
            return cursor.fetchone()[0]

    rows = list(
        User.objects.using(connection.alias)
        .annotate(name_lower=Lower("username"))
        .order_by("date_joined", "pk")
        .values_list("pk", "username", "name_lower")
    )
    taken = {name_lower for _, _, name_lower in rows}
    kept: set[str] = set()
    for pk, username, name_lower in rows:
        if name_lower not in kept:
            kept.add(name_lower)
            continue
        number = 2
        while True:
            suffix = f"-{number}"
            candidate = username[: MAX_LENGTH - len(suffix)] + suffix
            candidate_lower = lower(candidate)
            if candidate_lower not in taken:
                break
            number += 1
        taken.add(candidate_lower)
        User.objects.using(connection.alias).filter(pk=pk).update(username=candidate)
        logger.warning(
            "renamed user %s: %r -> %r (its name differed only in case from an earlier account)",
            pk,
            username,
            candidate,
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_token_generation")]

    operations = [migrations.RunPython(rename_case_duplicates, migrations.RunPython.noop)]
