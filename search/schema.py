"""The search index's storage, per database.

PostgreSQL: a stored generated `search_vector tsvector` column on messaging_message (computed from
the body by PARLEY_SEARCH_CONFIG, so it is right after every send, edit and delete without any
code on those paths) and a GIN index on the partitioned parent, which PostgreSQL creates on every
partition, existing and future (`partitions ensure` needs nothing more).

SQLite: an FTS5 external-content table over messaging_message.body, kept in sync by triggers on
insert, update of the body, and delete.
"""

import re
from typing import Any

from django.conf import settings
from django.db import connection as default_connection
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

COLUMN = "search_vector"
GIN_INDEX = "message_search_idx"
FTS_TABLE = "search_message_fts"
_TRIGGERS = {
    "search_message_ai": (
        "CREATE TRIGGER IF NOT EXISTS search_message_ai AFTER INSERT ON messaging_message BEGIN"
        " INSERT INTO search_message_fts(rowid, body) VALUES (new.id, new.body); END"
    ),
    "search_message_ad": (
        "CREATE TRIGGER IF NOT EXISTS search_message_ad AFTER DELETE ON messaging_message BEGIN"
        " INSERT INTO search_message_fts(search_message_fts, rowid, body)"
        " VALUES ('delete', old.id, old.body); END"
    ),
    "search_message_au": (
        "CREATE TRIGGER IF NOT EXISTS search_message_au AFTER UPDATE OF body ON messaging_message"
        " BEGIN INSERT INTO search_message_fts(search_message_fts, rowid, body)"
        " VALUES ('delete', old.id, old.body);"
        " INSERT INTO search_message_fts(rowid, body) VALUES (new.id, new.body); END"
    ),
}
CONFIG_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class SearchSchemaError(Exception):
    """A setting or state the search index cannot work with; the message says why."""


def search_config() -> str:
    """PARLEY_SEARCH_CONFIG, checked: it is written into SQL as a literal (a generated column
    needs an immutable expression, so it cannot be a parameter)."""
    name = settings.PARLEY_SEARCH_CONFIG
    if not CONFIG_RE.match(name):
        raise SearchSchemaError(f"PARLEY_SEARCH_CONFIG {name!r} is not a configuration name")
    return name


# --- PostgreSQL ---------------------------------------------------------------------------


def _postgres_create(cursor: Any, config: str) -> None:
    cursor.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", [config])
    if cursor.fetchone() is None:
        raise SearchSchemaError(f"PostgreSQL has no text search configuration {config!r}")
    cursor.execute(
        f"ALTER TABLE messaging_message ADD COLUMN {COLUMN} tsvector GENERATED ALWAYS AS"
        f" (to_tsvector('{config}'::regconfig, coalesce(body, ''))) STORED"
    )
    cursor.execute(f"CREATE INDEX {GIN_INDEX} ON messaging_message USING gin ({COLUMN})")
    # Statistics of the new column (the planner's choice between the GIN index and the others
    # depends on them), rather than waiting for autovacuum.
    cursor.execute(f"ANALYZE messaging_message ({COLUMN})")


def _postgres_drop(cursor: Any) -> None:
    cursor.execute(f"DROP INDEX IF EXISTS {GIN_INDEX}")
    cursor.execute(f"ALTER TABLE messaging_message DROP COLUMN IF EXISTS {COLUMN}")


def postgres_indexed_config(conn: BaseDatabaseWrapper | None = None) -> str | None:
    """The configuration the stored column was generated with; None without the column."""
    with (conn or default_connection).cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
            " JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = 'messaging_message'::regclass AND a.attname = %s",
            [COLUMN],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    match = re.search(r"to_tsvector\('([^']+)'::regconfig", row[0])
    return match.group(1) if match else None


# --- SQLite -------------------------------------------------------------------------------


def _sqlite_create(cursor: Any) -> None:
    # remove_diacritics 0: "café" and "cafe" stay different words, as with PostgreSQL's simple
    # configuration, so both engines find the same messages.
    cursor.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_message_fts USING fts5(body,"
        " content='messaging_message', content_rowid='id',"
        " tokenize='unicode61 remove_diacritics 0')"
    )
    for sql in _TRIGGERS.values():
        cursor.execute(sql)
    cursor.execute("INSERT INTO search_message_fts(search_message_fts) VALUES ('rebuild')")


def _sqlite_drop(cursor: Any) -> None:
    for name in _TRIGGERS:
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    cursor.execute("DROP TABLE IF EXISTS search_message_fts")


def _sqlite_missing_triggers(cursor: Any) -> list[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    present = {row[0] for row in cursor.fetchall()}
    return [name for name in _TRIGGERS if name not in present]


def _sqlite_has_index(cursor: Any) -> bool:
    cursor.execute("SELECT 1 FROM sqlite_master WHERE name = %s", [FTS_TABLE])
    return cursor.fetchone() is not None


# --- Both ---------------------------------------------------------------------------------


def index_create(conn: BaseDatabaseWrapper) -> None:
    """Creates the index over every stored message (the search migration calls this)."""
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            _postgres_create(cursor, search_config())
        else:
            _sqlite_create(cursor)


def index_drop(conn: BaseDatabaseWrapper) -> None:
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            _postgres_drop(cursor)
        else:
            _sqlite_drop(cursor)


def index_rebuild(conn: BaseDatabaseWrapper | None = None) -> str:
    """Builds the index again from every stored message, with the current PARLEY_SEARCH_CONFIG;
    returns what it did. PostgreSQL rewrites the table (an ACCESS EXCLUSIVE lock for as long)."""
    conn = conn or default_connection
    if conn.vendor == "postgresql":
        config = search_config()
        old = postgres_indexed_config(conn)
        # One transaction: a failure leaves the old column and index in place.
        with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
            _postgres_drop(cursor)
            _postgres_create(cursor, config)
        return f"search_vector regenerated with {config!r} (was {old!r})"
    with conn.cursor() as cursor:
        _sqlite_drop(cursor)
        _sqlite_create(cursor)
    return f"{FTS_TABLE} rebuilt"


def index_ensure_after_migrate(**kwargs: Any) -> None:
    """SQLite: puts back triggers a table rebuild dropped, and then rebuilds the index (rows
    written without the triggers would be missing from it)."""
    from django.db import connections

    conn = connections[kwargs.get("using") or "default"]
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        if not _sqlite_has_index(cursor):
            return  # not migrated this far (or migrated back)
        if _sqlite_missing_triggers(cursor):
            _sqlite_create(cursor)
