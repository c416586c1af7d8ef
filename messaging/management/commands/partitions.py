"""`manage.py partitions list|ensure|detach`: upkeep of the monthly message partitions."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from messaging import partitions
from messaging.partitions import PartitionError


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class Command(BaseCommand):
    help = "List, create and detach the monthly partitions of the message table (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("list", help="each partition: month, id range, rows, size on disk")
        ensure = actions.add_parser(
            "ensure", help="create the current month's and N future months' partitions"
        )
        ensure.add_argument("--ahead", type=int, default=None, metavar="N")
        detach = actions.add_parser(
            "detach", help="detach (and optionally drop or dump) the months before YYYY-MM"
        )
        detach.add_argument("--before", required=True, metavar="YYYY-MM")
        what = detach.add_mutually_exclusive_group()
        what.add_argument("--drop", action="store_true", help="drop the detached tables")
        what.add_argument(
            "--dump", metavar="DIR", help="write each as DIR/<partition>.csv, then drop it"
        )
        detach.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, **options) -> None:
        if not partitions.is_partitioned():
            raise CommandError(
                f"partitions: PostgreSQL only (this database is {connection.vendor}; there the "
                "message table is one plain table and needs no upkeep)"
            )
        try:
            getattr(self, f"_{options['action']}")(options)
        except PartitionError as error:
            raise CommandError(str(error)) from None

    def _list(self, options: dict) -> None:
        found = partitions.partitions_list()
        self.stdout.write(f"{'partition':<28} {'month':<8} {'id range':<43} {'rows':>10} size")
        for p in found:
            self.stdout.write(
                f"{p.name:<28} {p.month:%Y-%m}  [{p.low}, {p.high}) {p.rows:>10} {_size(p.bytes)}"
            )
        self.stdout.write(f"{len(found)} partitions")

    def _ensure(self, options: dict) -> None:
        from django.conf import settings

        ahead = options["ahead"]
        if ahead is None:
            ahead = settings.PARLEY_PARTITIONS_AHEAD
        created = partitions.partitions_ensure(ahead=ahead)
        for name in created:
            self.stdout.write(f"created {name}")
        self.stdout.write(
            f"{len(created)} created; the current month and {ahead} ahead are in place"
        )

    def _detach(self, options: dict) -> None:
        before = partitions.parse_month(options["before"])
        dump_dir = Path(options["dump"]) if options["dump"] else None
        if dump_dir is not None and dump_dir.exists() and not dump_dir.is_dir():
            raise CommandError(f"--dump {dump_dir}: not a directory")
        chosen = partitions.partitions_to_detach(before=before)
        if not chosen:
            self.stdout.write(f"no partitions before {before:%Y-%m}")
            return
        fate = (
            f"dumped to {dump_dir} and dropped"
            if dump_dir
            else "dropped"
            if options["drop"]
            else "kept as standalone tables"
        )
        total = sum(p.rows for p in chosen)
        self.stdout.write(
            f"{len(chosen)} partitions ({total} messages) will be detached and {fate}:"
        )
        for p in chosen:
            self.stdout.write(f"  {p.name} ({p.rows} rows)")
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError("not confirmed: run again with --yes to go ahead")
            answer = input("Proceed? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("aborted, nothing detached")
        for p in chosen:
            dumped = partitions.partition_detach(p, drop=options["drop"], dump_dir=dump_dir)
            self.stdout.write(f"detached {p.name}" + (f" -> {dumped}" if dumped else ""))
