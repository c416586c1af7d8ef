"""`manage.py search_rebuild [--check]`: build the message search index again."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from search.schema import SearchSchemaError, index_rebuild, postgres_indexed_config, search_config


class Command(BaseCommand):
    help = (
        "Rebuild the message search index from every stored message: on PostgreSQL after "
        "changing PARLEY_SEARCH_CONFIG (regenerates the search_vector column: rewrites the "
        "message table under an exclusive lock), on SQLite the FTS5 table."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="only say whether the index matches PARLEY_SEARCH_CONFIG (exit 1 if not)",
        )

    def handle(self, *args: object, check: bool = False, **options: object) -> None:
        try:
            wanted = search_config()
        except SearchSchemaError as exc:
            raise CommandError(str(exc)) from exc
        if check:
            if connection.vendor != "postgresql":
                self.stdout.write("SQLite: the FTS5 index has no configuration to match")
                return
            current = postgres_indexed_config()
            if current != wanted:
                raise CommandError(
                    f"search_vector is built with {current!r}, PARLEY_SEARCH_CONFIG is "
                    f"{wanted!r}: run `manage.py search_rebuild`"
                )
            self.stdout.write(f"search_vector matches PARLEY_SEARCH_CONFIG ({wanted!r})")
            return
        try:
            self.stdout.write(index_rebuild())
        except SearchSchemaError as exc:
            raise CommandError(str(exc)) from exc
