"""`manage.py blacklist|whitelist add|remove|list`."""

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from protection.models import BlacklistEntry, WhitelistEntry
from tests.factories import make_user
from tests.servers import ROOT

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_blacklist_add_list_remove():
    make_user("ops")
    out = run("blacklist", "add", "203.0.113.0/24", "--reason", "spam wave", "--by", "ops")
    assert "Blacklisted 203.0.113.0/24 with no expiry." in out
    out = run("blacklist", "add", "2001:DB8::1", "--expires", "2h")
    assert "Blacklisted 2001:db8::1/128 until " in out
    entry = BlacklistEntry.objects.get(network="2001:db8::1/128")
    assert timedelta(minutes=119) < entry.expires_at - timezone.now() <= timedelta(hours=2)
    listing = run("blacklist", "list")
    assert "203.0.113.0/24" in listing and "spam wave" in listing and "ops" in listing
    assert "2001:db8::1/128" in listing
    assert "Updated 203.0.113.0/24" in run("blacklist", "add", "203.0.113.0/24")
    assert "Removed" in run("blacklist", "remove", "203.0.113.0/24")
    assert BlacklistEntry.objects.count() == 1


def test_single_addresses_and_their_host_networks_are_one_entry():
    run("whitelist", "add", "10.0.0.7")
    run("whitelist", "add", "10.0.0.7/32", "--reason", "again")
    assert list(WhitelistEntry.objects.values_list("network", "reason")) == [
        ("10.0.0.7/32", "again")
    ]
    assert "Removed" in run("whitelist", "remove", "10.0.0.7")
    assert "The whitelist is empty." in run("whitelist", "list")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["blacklist", "add", "10.0.0.300"], "not an IP address or network"),
        (["blacklist", "add", "10.0.0.1/8"], "host bits set"),
        (["blacklist", "add", "2001:db8::/129"], "not an IP address or network"),
        (["blacklist", "add", "10.0.0.1", "--expires", "soon"], "--expires"),
        (["blacklist", "add", "10.0.0.1", "--expires", "2030-13-01"], "--expires"),
        (["blacklist", "add", "10.0.0.1", "--expires", "2020-01-01T00:00"], "in the past"),
        (["blacklist", "add", "10.0.0.1", "--by", "nobody"], "no such user"),
        (["blacklist", "remove", "10.9.9.9"], "not on the blacklisted addresses list"),
        (["whitelist", "remove", "nonsense"], "not an IP address"),
    ],
)
def test_bad_input_says_why_and_changes_nothing(args, says):
    with pytest.raises(CommandError, match=says.replace("(", r"\(")):
        run(*args)
    assert BlacklistEntry.objects.count() == 0
    assert WhitelistEntry.objects.count() == 0


def test_expired_entries_are_listed_only_with_all():
    BlacklistEntry.objects.create(network="10.1.0.0/16", expires_at=timezone.now())
    assert "The blacklist is empty." in run("blacklist", "list")
    assert "(expired)" in run("blacklist", "list", "--all")


def test_bad_input_exits_non_zero_from_the_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "blacklist", "add", "10.0.0.300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "'10.0.0.300' is not an IP address or network" in result.stderr
    assert "nothing changed" in result.stderr
