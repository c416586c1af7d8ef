"""The date-sensitive paths with the clock moved to the last moments of a month, of a year and
of February (leap and not): message ids and the months they fall in, partitions ("this month",
"the next month", names), the edit window, token lifetimes and address-list expiries.

Cheap and permanent: no test here depends on today's date (issue 14). The whole in-process suite
can also run with a moved clock: PARLEY_TEST_CLOCK (tests/conftest.py, docs/operations.md)."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.errors import EditWindowClosed
from messaging import partitions
from messaging.ids import message_id_floor, message_id_time, next_message_id
from messaging.selectors import message_history
from messaging.services import message_edit, message_send
from tests.factories import make_direct, make_user

MS = timedelta(milliseconds=1)

# The last millisecond of a month, the month it is in, and the month that follows.
BOUNDARIES = [
    pytest.param(datetime(2027, 1, 31, 23, 59, 59, 999000, UTC), (2027, 1), (2027, 2), id="jan"),
    pytest.param(datetime(2027, 2, 28, 23, 59, 59, 999000, UTC), (2027, 2), (2027, 3), id="feb"),
    pytest.param(
        datetime(2028, 2, 29, 23, 59, 59, 999000, UTC), (2028, 2), (2028, 3), id="feb-leap"
    ),
    pytest.param(datetime(2027, 4, 30, 23, 59, 59, 999000, UTC), (2027, 4), (2027, 5), id="apr"),
    pytest.param(datetime(2027, 12, 31, 23, 59, 59, 999000, UTC), (2027, 12), (2028, 1), id="year"),
]


@pytest.mark.parametrize(("last_ms", "this", "following"), BOUNDARIES)
def test_ids_and_partitions_on_each_side_of_a_month_boundary(moved_clock, last_ms, this, following):
    with moved_clock(last_ms, tick=False):
        before = next_message_id()
        this_month = partitions.month_start(timezone.now())
    with moved_clock(last_ms + MS, tick=False):
        after = next_message_id()
        next_month = partitions.month_start(timezone.now())
    assert this_month == date(*this, 1) and next_month == date(*following, 1)
    assert partitions.add_months(this_month, 1) == next_month
    assert partitions.add_months(next_month, -1) == this_month
    assert partitions.add_months(this_month, 12) == date(this[0] + 1, this[1], 1)
    assert partitions.partition_name(next_month) == "messaging_message_y{:04d}m{:02d}".format(
        *following
    )
    assert partitions.parse_month(f"{next_month:%Y-%m}") == next_month
    # The two months' id ranges meet exactly at the boundary, each id in its own month.
    low, high = partitions.month_bounds(this_month)
    next_low, next_high = partitions.month_bounds(next_month)
    assert high == next_low == message_id_floor(last_ms + MS)
    assert low <= before < high <= after < next_high
    assert message_id_time(before) == last_ms and message_id_time(after) == last_ms + MS


@pytest.mark.django_db
@pytest.mark.parametrize(("last_ms", "this", "following"), BOUNDARIES[:5])
def test_sends_on_both_sides_of_a_boundary_are_stored_in_order(
    moved_clock, last_ms, this, following
):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    with moved_clock(last_ms, tick=False):
        first = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="a", body="1")
    with moved_clock(last_ms + MS, tick=False):
        second = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="b", body="2")
        page, _, _ = message_history(
            user_id=bob.pk, conversation_id=direct.pk, after_seq=None, before_seq=None, limit=10
        )
    assert (first["seq"], second["seq"]) == (1, 2)
    assert int(first["id"]) < int(second["id"])
    assert [m["body"] for m in page] == ["1", "2"]
    assert [m["created_at"][:7] for m in page] == [
        "{:04d}-{:02d}".format(*this),
        "{:04d}-{:02d}".format(*following),
    ]
    if partitions.is_partitioned():  # each landed in its month's partition (made on demand)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tableoid::regclass::text FROM messaging_message WHERE id IN (%s, %s) "
                "ORDER BY id",
                [int(first["id"]), int(second["id"])],
            )
            found = [row[0] for row in cursor.fetchall()]
        assert found == [
            partitions.partition_name(date(*this, 1)),
            partitions.partition_name(date(*following, 1)),
        ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_ensure_makes_this_and_the_next_month_across_a_year_boundary(moved_clock):
    out = io.StringIO()
    with moved_clock(datetime(2029, 12, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        call_command("partitions", "ensure", "--ahead", "1", stdout=out)
        assert partitions.months_ahead() == 1
    assert "created messaging_message_y2029m12" in out.getvalue()
    assert "created messaging_message_y2030m01" in out.getvalue()
    with moved_clock(datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC), tick=False):
        # A new year: January is "this month" now, and nothing is ready after it.
        assert partitions.months_ahead() == 0
        call_command("partitions", "ensure", "--ahead", "1", stdout=out)
        assert partitions.months_ahead() == 1
    assert "created messaging_message_y2030m02" in out.getvalue()


@pytest.mark.django_db
def test_the_edit_window_runs_across_a_year_boundary(moved_clock, settings):
    alice, bob = make_user(), make_user()
    direct = make_direct(alice, bob)
    sent_at = datetime(2027, 12, 31, 23, 55, tzinfo=UTC)
    window = timedelta(seconds=settings.PARLEY_EDIT_WINDOW)
    with moved_clock(sent_at, tick=False):
        ack = message_send(sender=alice, conversation_id=direct.pk, client_msg_id="m", body="x")
    message_id = int(ack["id"])
    with moved_clock(sent_at + window - timedelta(seconds=1), tick=False):
        edited = message_edit(
            editor=alice, conversation_id=direct.pk, message_id=message_id, body="y"
        )
        assert edited["body"] == "y"
    with (
        moved_clock(sent_at + window + timedelta(seconds=1), tick=False),
        pytest.raises(EditWindowClosed),
    ):
        message_edit(editor=alice, conversation_id=direct.pk, message_id=message_id, body="z")


@pytest.mark.django_db
def test_an_access_token_lives_its_lifetime_across_a_year_boundary(moved_clock, client_for):
    from django.conf import settings

    alice = make_user()
    issued = datetime(2027, 12, 31, 23, 58, tzinfo=UTC)
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with moved_clock(issued, tick=False):
        client = client_for(alice)
    with moved_clock(issued + lifetime - timedelta(seconds=1), tick=False):
        assert client.get("/api/me/").status_code == 200
    with moved_clock(issued + lifetime + timedelta(seconds=1), tick=False):
        assert client.get("/api/me/").status_code == 401


@pytest.mark.django_db
def test_a_blacklist_entry_expires_after_its_duration_across_a_year_boundary(moved_clock):
    added = datetime(2027, 12, 31, 23, 30, tzinfo=UTC)
    visitor = Client(REMOTE_ADDR="203.0.113.7")
    with moved_clock(added, tick=False):
        call_command("blacklist", "add", "203.0.113.7", "--expires", "2h", stdout=io.StringIO())
        assert visitor.get("/api/me/").status_code == 403
    with moved_clock(added + timedelta(hours=2) - timedelta(seconds=1), tick=False):
        assert visitor.get("/api/me/").status_code == 403
    with moved_clock(added + timedelta(hours=2) + timedelta(seconds=1), tick=False):
        assert visitor.get("/api/me/").status_code == 401  # not blocked: asked to log in
        listing = io.StringIO()
        call_command("blacklist", "list", stdout=listing)
        assert "The blacklist is empty." in listing.getvalue()
