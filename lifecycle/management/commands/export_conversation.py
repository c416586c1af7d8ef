"""`manage.py export_conversation ID --out DIR`: one conversation as JSON + HTML, offline."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ChatError
from lifecycle.exports import export_conversation_to_file


class Command(BaseCommand):
    help = "Write one conversation (JSON and an HTML transcript) as DIR/conversation-ID.zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("conversation", type=int, metavar="ID")
        parser.add_argument("--out", required=True, metavar="DIR")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: not a directory")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"conversation-{options['conversation']}.zip"
        try:
            count = export_conversation_to_file(conversation_id=options["conversation"], path=path)
        except ChatError as error:
            path.unlink(missing_ok=True)
            raise CommandError(str(error)) from None
        self.stdout.write(f"{count} messages written to {path}")
