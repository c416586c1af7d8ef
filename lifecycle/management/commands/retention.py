"""`manage.py retention show|apply|set`: the retention policy and its daily run, by hand."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ChatError
from lifecycle.models import ConversationRetention
from lifecycle.retention import (
    UNSET,
    effective_days,
    retention_apply,
    server_retention_days,
    validate_retention_days,
)
from messaging.models import Conversation


class Command(BaseCommand):
    help = "Show retention settings, set one conversation's, or run the deletion now."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("show", help="the server's setting and every conversation's own")
        actions.add_parser("apply", help="delete what is past retention now (the daily task)")
        change = actions.add_parser("set", help="one conversation's retention or legal hold")
        change.add_argument("conversation", type=int, metavar="ID")
        change.add_argument("--days", metavar="N|default", help="days, or `default`")
        hold = change.add_mutually_exclusive_group()
        hold.add_argument("--hold", action="store_true", help="place a legal hold")
        hold.add_argument("--release", action="store_true", help="lift the legal hold")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _show(self, options: dict[str, Any]) -> None:
        days = server_retention_days()
        self.stdout.write(f"server: {f'{days} days' if days else 'kept forever'}")
        for policy in ConversationRetention.objects.order_by("conversation_id"):
            kept = effective_days(policy)
            self.stdout.write(
                f"conversation {policy.conversation_id}: own {policy.retention_days or '-'}, "
                f"effective {f'{kept} days' if kept else 'forever'}"
                f"{', legal hold' if policy.legal_hold else ''}, first seq {policy.first_seq}"
            )

    def _apply(self, options: dict[str, Any]) -> None:
        def progress(**data: Any) -> None:
            if options.get("verbosity", 1) > 1:
                self.stdout.write(f"{data}")

        result = retention_apply(progress=progress)
        for name in result["partitions_dropped"]:
            self.stdout.write(f"dropped partition {name}")
        for conversation, count in result["conversations"].items():
            self.stdout.write(f"conversation {conversation}: {count} messages deleted")
        self.stdout.write(f"{result['messages_deleted']} messages deleted")

    def _set(self, options: dict[str, Any]) -> None:
        if not Conversation.objects.filter(pk=options["conversation"]).exists():
            raise CommandError(f"no conversation {options['conversation']}")
        policy, _ = ConversationRetention.objects.get_or_create(
            conversation_id=options["conversation"]
        )
        days: Any = UNSET
        if options["days"] is not None:
            raw = options["days"]
            try:
                days = None if raw == "default" else validate_retention_days(int(raw))
            except (ValueError, ChatError):
                raise CommandError(
                    "--days is a whole number of days, 1 or more, or `default`"
                ) from None
        if days is not UNSET:
            policy.retention_days = days
        if options["hold"] or options["release"]:
            policy.legal_hold = bool(options["hold"])
        policy.save()
        kept = effective_days(policy)
        self.stdout.write(
            f"conversation {policy.conversation_id}: "
            f"{f'{kept} days' if kept else 'kept forever'}"
            f"{' (legal hold)' if policy.legal_hold else ''}"
        )
