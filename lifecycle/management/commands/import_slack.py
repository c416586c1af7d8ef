"""`manage.py import_slack EXPORT.zip [--dry-run] [--map-users email|username]`."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifecycle.slack.importer import slack_import
from lifecycle.slack.reader import SlackImportError


class Command(BaseCommand):
    help = (
        "Import a Slack workspace export (zip): users (inactive until they set a password or "
        "sign in by SSO), channels as groups, direct chats, messages with their times, threads, "
        "reactions, files. Running it again imports nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", metavar="EXPORT.zip")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the export and count, write nothing"
        )
        parser.add_argument(
            "--map-users",
            choices=["email", "username"],
            default="email",
            help="match Slack users to existing accounts by email (default) or username",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["export"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        self.tty = sys.stdout.isatty() and options.get("verbosity", 1) > 0
        self.channel = ""
        try:
            summary = slack_import(
                source=str(path),
                dry_run=options["dry_run"],
                map_users=options["map_users"],
                progress=self._progress,
            )
        except SlackImportError as error:
            raise CommandError(f"import stopped, nothing was imported: {error}") from None
        if self.tty:
            self.stdout.write("")
        data = summary.as_dict()
        self.stdout.write("dry run: nothing was written" if summary.dry_run else "import done")
        for name, count in data.pop("channels").items():
            self.stdout.write(f"  #{name}: {count} messages in the export")
        warnings = data.pop("warnings")
        for key, value in data.items():
            if key != "dry_run":
                self.stdout.write(f"{key.replace('_', ' ')}: {value}")
        for warning in warnings:
            self.stderr.write(f"warning: {warning}")

    def _progress(self, data: dict[str, Any]) -> None:
        stage = data.get("stage")
        done, total = data.get("done", 0), data.get("total", 0)
        if stage == "messages" and data.get("channel") != self.channel:
            if self.tty and self.channel:
                self.stdout.write("")
            self.channel = data["channel"]
        if stage == "messages" and data.get("channel_done") == data.get("channel_total"):
            line = f"#{self.channel}: {data['channel_total']} messages"
            if not self.tty:
                self.stdout.write(line)
        if self.tty and total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            label = f" #{self.channel}" if stage == "messages" else f" {stage}"
            self.stdout.write(f"\r[{bar}] {done}/{total}{label}"[:120], ending="")
            self.stdout.flush()
        elif not self.tty and stage in ("checking", "users"):
            self.stdout.write(f"{stage}…")
