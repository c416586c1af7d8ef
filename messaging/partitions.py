"""Monthly partitions of the message table on PostgreSQL.

The table is range-partitioned on the snowflake `id` (messaging.ids): a calendar month of
messages is the id range [message_id_floor(first day), message_id_floor(first day of the next
month)). Every hot query filters or orders by id or by (conversation, seq) inside a partition,
and the month of a message follows from its id alone, so the partition key costs no extra column
and no extra index. On SQLite the table is a plain table and nothing here runs.
"""

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from .ids import message_id_floor, message_id_time

logger = logging.getLogger(__name__)

TABLE = "messaging_message"
KEY_TABLE = "messaging_message_key"
NAME_RE = re.compile(r"^messaging_message_y(\d{4})m(\d{2})$")
BOUND_RE = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")
# Serializes concurrent `ensure` runs (beat, a deploy's migrate, an operator).
ENSURE_LOCK = 0x7061_7274  # "part"
KEY_DELETE_BATCH = 10_000


class PartitionError(Exception):
    """A partition request that cannot be done; the message says why (for operators)."""


def is_partitioned(conn: BaseDatabaseWrapper | None = None) -> bool:
    return (conn or connection).vendor == "postgresql"


def month_start(moment: date | datetime) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(month: date) -> tuple[int, int]:
    """The id range [low, high) of messages created in that month (UTC)."""
    low = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = add_months(month, 1)
    high = datetime(following.year, following.month, 1, tzinfo=UTC)
    return message_id_floor(low), message_id_floor(high)


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def parse_month(text: str) -> date:
    """'YYYY-MM' as the first day of that month, or PartitionError."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise PartitionError(f"expected a month as YYYY-MM, got {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


@dataclass(frozen=True)
class Partition:
    name: str
    month: date
    low: int
    high: int
    rows: int
    bytes: int


def create_partition_sql(month: date) -> str:
    low, high = month_bounds(month)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ({low}) TO ({high})"
    )


def _attached(cursor) -> list[tuple[str, int, int, bool]]:  # type: ignore[no-untyped-def]
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [TABLE],
    )
    found = []
    for name, bound, pending in cursor.fetchall():
        match = BOUND_RE.search(bound or "")
        if match:
            found.append((name, int(match.group(1)), int(match.group(2)), pending))
    return found


def _month_of(name: str, low: int) -> date:
    match = NAME_RE.match(name)
    if match:
        return date(int(match.group(1)), int(match.group(2)), 1)
    return month_start(message_id_time(low))


def partitions_list() -> list[Partition]:
    """Attached partitions, oldest first, with exact row counts and size on disk."""
    with connection.cursor() as cursor:
        result = []
        for name, low, high, _pending in _attached(cursor):
            # Names come from pg_class, not from input.
            sql = f"SELECT count(*), pg_total_relation_size(%s::regclass) FROM {name}"  # noqa: S608
            cursor.execute(sql, [name])
            rows, size = cursor.fetchone()
            result.append(Partition(name, _month_of(name, low), low, high, rows, size))
    return sorted(result, key=lambda p: p.low)


def partitions_ensure(*, ahead: int, today: date | None = None) -> list[str]:
    """Makes sure the partitions of this month and the `ahead` following months exist;
    returns the names it created. Idempotent and safe to run concurrently."""
    if ahead < 0:
        raise PartitionError("--ahead must be 0 or more")
    first = month_start(today or timezone.now())
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ENSURE_LOCK])
        covered = [(low, high) for _, low, high, _ in _attached(cursor)]
        for n in range(ahead + 1):
            month = add_months(first, n)
            low, high = month_bounds(month)
            if any(low >= a and high <= b for a, b in covered):
                continue
            cursor.execute(create_partition_sql(month))
            created.append(partition_name(month))
    return created


def months_ahead(*, today: date | None = None) -> int:
    """How many months after the current one are ready: 2 when this month's and the next two
    months' partitions exist; 0 when only this month's does; -1 when even this month has none
    (every send would need one made on demand). The `parley_partitions_months_ahead` gauge."""
    current = month_start(today or timezone.now())
    with connection.cursor() as cursor:
        covered = [(low, high) for _, low, high, _ in _attached(cursor)]
    ahead = -1
    while True:
        low, high = month_bounds(add_months(current, ahead + 1))
        if not any(low >= a and high <= b for a, b in covered):
            return ahead
        ahead += 1


def _covers(ranges: list[tuple[int, int]], *message_ids: int) -> bool:
    return all(any(low <= i < high for low, high in ranges) for i in message_ids)


class CommittedPartitions:
    """Id ranges this process has seen committed as partitions: a send whose ids all fall in
    them needs no look (partitions are only ever added ahead; detach refuses the current month).
    One per process, built at start-up (`MessagingConfig.ready`)."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def cover(self, *message_ids: int) -> bool:
        return _covers(self.ranges, *message_ids)

    def remember(self, ranges: list[tuple[int, int]]) -> None:
        self.ranges = ranges

    def forget(self) -> None:
        self.ranges = []


def committed_partitions() -> CommittedPartitions:
    """This process's committed partitions (`MessagingConfig.ready`)."""
    known: CommittedPartitions = apps.get_app_config("messaging").committed_partitions  # type: ignore[attr-defined]
    return known


def partitions_cover(message_ids: list[int]) -> None:
    """Makes sure the messages about to be inserted with these ids have partitions, so a
    deployment whose beat stopped keeps taking messages: when an id falls outside the known
    partitions, runs `partitions_ensure` from that id's month (under the ensure lock, in the
    caller's transaction). Free once this process has seen the month's partition committed."""
    if not message_ids or not is_partitioned():
        return
    low, high = min(message_ids), max(message_ids)
    if committed_partitions().cover(low, high):
        return
    with connection.cursor() as cursor:
        seen = [(a, b) for _, a, b, _ in _attached(cursor)]
    if not _covers(seen, low, high):
        created = partitions_ensure(
            ahead=max(settings.PARLEY_PARTITIONS_AHEAD, 1), today=message_id_time(low).date()
        )
        logger.warning(
            "message partitions created on demand by a send: %s (is celery beat running? "
            "see docs/operations.md, Partitions)",
            ", ".join(created),
        )
        with connection.cursor() as cursor:
            seen = [(a, b) for _, a, b, _ in _attached(cursor)]

    def remember() -> None:
        # Only after commit: a rolled-back CREATE TABLE leaves no partition behind.
        committed_partitions().remember(seen)

    transaction.on_commit(remember)


def partitions_ensure_in_background() -> threading.Thread | None:
    """At server start: ensures this month's and PARLEY_PARTITIONS_AHEAD more partitions exist,
    on a thread of its own (the ASGI server may import the app inside its event loop). A
    failure (database not up yet) is logged; sends still create a missing month on demand."""
    from django.db import connections

    if not settings.PARLEY_PARTITIONS_ENSURE_AT_START or not is_partitioned():
        return None

    def run() -> None:
        try:
            created = partitions_ensure(ahead=settings.PARLEY_PARTITIONS_AHEAD)
            if created:
                logger.info("created message partitions at start: %s", ", ".join(created))
        except Exception:
            logger.warning("could not ensure message partitions at start", exc_info=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="partitions-ensure", daemon=True)
    thread.start()
    return thread


def partitions_to_detach(*, before: date, today: date | None = None) -> list[Partition]:
    """Attached partitions entirely before `before`; refuses to reach into the current month."""
    current = month_start(today or timezone.now())
    if before > current:
        raise PartitionError(
            f"refusing to detach the current month ({current:%Y-%m}): --before must be "
            f"{current:%Y-%m} or earlier"
        )
    floor, _ = month_bounds(before)
    return [p for p in partitions_list() if p.high <= floor]


def partition_detach(partition: Partition, *, drop: bool, dump_dir: Path | None) -> Path | None:
    """Detaches one partition without blocking writers (DETACH ... CONCURRENTLY, outside any
    transaction), optionally dumps it as CSV and drops it, then removes its message keys."""
    if not connection.get_autocommit():
        raise PartitionError("detach must run outside a transaction")
    dumped = None
    with connection.cursor() as cursor:
        pending = [n for n, _, _, p in _attached(cursor) if n == partition.name and p]
        if pending:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name} FINALIZE")
        else:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name} CONCURRENTLY")
        if dump_dir is not None:
            dump_dir.mkdir(parents=True, exist_ok=True)
            dumped = dump_dir / f"{partition.name}.csv"
            with (
                dumped.open("wb") as out,
                cursor.copy(
                    f"COPY (SELECT * FROM {partition.name} ORDER BY id) "  # noqa: S608
                    "TO STDOUT WITH (FORMAT csv, HEADER)"
                ) as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
        if drop or dump_dir is not None:
            cursor.execute(f"DROP TABLE {partition.name}")
    message_keys_delete_range(low=partition.low, high=partition.high)
    # This process no longer trusts its list of ready months: a later insert into the detached
    # month (an import, retention's drop of a past month) must create the partition again.
    committed_partitions().forget()
    return dumped


def message_keys_delete_range(*, low: int, high: int) -> int:
    """Deletes the uniqueness keys of messages with low <= id < high, in short batches so the
    send path is never blocked for long."""
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {KEY_TABLE} WHERE message_id IN ("  # noqa: S608
                f"SELECT message_id FROM {KEY_TABLE} WHERE message_id >= %s AND message_id < %s "
                "LIMIT %s)",
                [low, high, KEY_DELETE_BATCH],
            )
            count = cursor.rowcount
        deleted += count
        if count < KEY_DELETE_BATCH:
            return deleted


class PartitionsMonthsAhead:
    """`parley_partitions_months_ahead`: months after the current one whose message partitions
    exist (months_ahead). Read from the database catalog when /metrics is
    served, not kept in the process: a value set when beat last ran would not fall as the months
    pass. PostgreSQL only; absent on SQLite and when the database does not answer."""

    _name = "parley_partitions_months_ahead"
    documentation = (
        "Months after the current one whose message partitions exist (PostgreSQL; below 1: "
        "celery beat's partitions_ensure is not running)."
    )

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self._name, self.documentation)]

    def collect(self) -> Iterable[Metric]:
        if not is_partitioned():
            return []
        try:
            ahead = months_ahead()
        except Exception:  # /metrics keeps serving the rest; /readyz reports the database
            logger.warning("could not read the message partitions for /metrics", exc_info=True)
            return []
        return [GaugeMetricFamily(self._name, self.documentation, value=ahead)]


partitions_months_ahead = PartitionsMonthsAhead()
