"""`manage.py blacklist|whitelist add|remove|list`: one implementation for both lists."""

import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from core.errors import ChatError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str) -> datetime:
    """`30m`, `12h`, `7d`, `2w` from now, or an ISO-8601 time (UTC when no offset is given)."""
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = match.groups()
        return timezone.now() + timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = parse_datetime(text.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(
            f"--expires {text!r}: give a duration like 30m, 12h, 7d, 2w or an ISO-8601 time"
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


class AddressListCommand(BaseCommand):
    list_name = ""
    model = None  # type: ignore[var-annotated]
    add_service = None  # type: ignore[var-annotated]
    remove_service = None  # type: ignore[var-annotated]
    add_verb = ""

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, title="actions")
        add = actions.add_parser(
            "add", help=f"add an address or CIDR network to the {self.list_name}"
        )
        add.add_argument("network", help="e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/32")
        add.add_argument("--reason", default="", help="why (shown in list and the admin)")
        add.add_argument("--expires", help="30m, 12h, 7d, 2w or an ISO-8601 time; default never")
        add.add_argument("--by", help="username recorded as who added it")
        remove = actions.add_parser("remove", help=f"remove an entry from the {self.list_name}")
        remove.add_argument("network")
        listing = actions.add_parser("list", help="show the entries")
        listing.add_argument("--all", action="store_true", help="include expired entries")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            getattr(self, f"do_{options['action']}")(options)
        except ChatError as exc:
            raise CommandError(f"{exc.detail}; nothing changed") from exc

    def do_add(self, options: dict) -> None:
        expires_at = parse_expiry(options["expires"]) if options["expires"] else None
        added_by = None
        if options["by"]:
            added_by = User.objects.filter(username=options["by"]).first()
            if added_by is None:
                raise CommandError(f"--by {options['by']!r}: no such user; nothing changed")
        entry, created = type(self).add_service(
            network=options["network"],
            reason=options["reason"],
            expires_at=expires_at,
            added_by=added_by,
        )
        until = f"until {entry.expires_at.isoformat()}" if entry.expires_at else "with no expiry"
        verb = self.add_verb if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {entry.network} {until}."))

    def do_remove(self, options: dict) -> None:
        type(self).remove_service(network=options["network"])
        self.stdout.write(
            self.style.SUCCESS(f"Removed {options['network'].strip()} from the {self.list_name}.")
        )

    def do_list(self, options: dict) -> None:
        now = timezone.now()
        entries = list(self.model.objects.select_related("added_by").order_by("network"))
        if not options["all"]:
            entries = [e for e in entries if e.expires_at is None or e.expires_at > now]
        if not entries:
            self.stdout.write(f"The {self.list_name} is empty.")
            return
        self.stdout.write(f"{'NETWORK':<44} {'EXPIRES':<26} {'ADDED BY':<16} REASON")
        for entry in entries:
            if entry.expires_at is None:
                expires = "never"
            else:
                expires = entry.expires_at.isoformat(timespec="seconds")
                if entry.expires_at <= now:
                    expires += " (expired)"
            by = entry.added_by.username if entry.added_by else "-"
            self.stdout.write(f"{entry.network:<44} {expires:<26} {by:<16} {entry.reason}")
