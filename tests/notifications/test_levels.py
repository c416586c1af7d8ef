"""Per-conversation notification levels, do-not-disturb and quiet hours: REST and offline push."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from messaging.ids import message_id_time
from messaging.models import Message
from messaging.services import message_send
from push.models import PushNotification
from push.services import push_window_notify
from tests.factories import make_direct, make_group, make_user

pytestmark = pytest.mark.django_db


def url(conversation) -> str:
    return f"/api/conversations/{conversation.pk}/membership/"


def window_of(conversation) -> int:
    newest = Message.objects.filter(conversation=conversation).latest("seq")
    return int(message_id_time(newest.pk).timestamp() // 60) * 60 * 1000


@pytest.fixture
def push_on(settings):
    settings.PARLEY_PUSH_BACKENDS = ["push.backends.WebhookBackend"]
    settings.PARLEY_PUSH_WEBHOOK_URL = "http://127.0.0.1:9/push"
    settings.PARLEY_PUSH_COALESCE_SECONDS = 60


def pushed_to(conversation) -> set[int]:
    push_window_notify(
        conversation_id=conversation.pk, window_ms=window_of(conversation), window_seconds=60
    )
    return set(PushNotification.objects.values_list("user_id", flat=True))


class TestLevels:
    def test_defaults_all_in_direct_chats_and_mentions_in_large_groups(self, client_for, settings):
        settings.PARLEY_LARGE_GROUP = 2
        a, b, c = make_user(), make_user(), make_user()
        assert client_for(a).get(url(make_direct(a, b))).json()["notify"] == "all"
        assert client_for(a).get(url(make_group(a, b))).json()["notify"] == "all"
        large = client_for(a).get(url(make_group(a, b, c))).json()
        assert large["notify"] == "mentions"
        assert large["muted"] is False

    def test_notify_and_muted_stay_one_setting(self, client_for):
        a, b = make_user(), make_user()
        group = make_group(a, b)
        client = client_for(a)
        none = client.patch(url(group), {"notify": "none"}, format="json").json()
        assert (none["notify"], none["muted"]) == ("none", True)
        back = client.patch(url(group), {"muted": False}, format="json").json()
        assert (back["notify"], back["muted"]) == ("all", False)
        old_client = client.patch(url(group), {"muted": True}, format="json").json()
        assert (old_client["notify"], old_client["muted"]) == ("none", True)
        some = client.patch(url(group), {"notify": "mentions"}, format="json").json()
        assert (some["notify"], some["muted"]) == ("mentions", False)

    @pytest.mark.parametrize("body", [{"notify": "loud"}, {"notify": None}, {}, {"muted": "x"}])
    def test_bad_values_are_field_errors(self, client_for, body):
        a, b = make_user(), make_user()
        response = client_for(a).patch(url(make_group(a, b)), body, format="json")
        assert response.status_code == 400
        assert response.json()["field"] in {"notify", "muted"}

    def test_a_stranger_gets_404(self, client_for):
        a, b, stranger = make_user(), make_user(), make_user()
        response = client_for(stranger).patch(
            url(make_group(a, b)), {"notify": "none"}, format="json"
        )
        assert response.status_code == 404


class TestPushFollowsTheLevel:
    def test_mentions_level_pushes_only_mentions(self, client_for, push_on):
        owner, watcher, quiet = make_user("owner"), make_user("watcher"), make_user("quiet")
        group = make_group(owner, watcher, quiet)
        client_for(watcher).patch(url(group), {"notify": "mentions"}, format="json")
        client_for(quiet).patch(url(group), {"notify": "mentions"}, format="json")
        message_send(sender=owner, conversation_id=group.pk, client_msg_id="m1", body="lunch?")
        assert pushed_to(group) == set()
        message_send(
            sender=owner, conversation_id=group.pk, client_msg_id="m2", body="@Watcher, you?"
        )
        assert pushed_to(group) == {watcher.pk}

    def test_mentions_level_still_pushes_direct_messages(self, client_for, push_on):
        a, b = make_user(), make_user()
        direct = make_direct(a, b)
        client_for(b).patch(url(direct), {"notify": "mentions"}, format="json")
        message_send(sender=a, conversation_id=direct.pk, client_msg_id="d1", body="hi")
        assert pushed_to(direct) == {b.pk}

    def test_do_not_disturb_and_quiet_hours_hold_pushes(self, client_for, push_on):
        a, b, c = make_user(), make_user(), make_user()
        group = make_group(a, b, c)
        until = timezone.now() + timedelta(hours=1)
        dnd = client_for(b).patch(
            "/api/me/notifications/", {"do_not_disturb_until": until.isoformat()}, format="json"
        )
        assert dnd.status_code == 200
        # c sleeps 22:00 to 07:00 in Tokyo; it is 23:30 there.
        client_for(c).patch("/api/me/profile/", {"timezone": "Asia/Tokyo"}, format="json")
        quiet = client_for(c).patch(
            "/api/me/notifications/",
            {"quiet_hours_start": "22:00", "quiet_hours_end": "07:00"},
            format="json",
        )
        assert quiet.json()["quiet_hours_start"] == "22:00:00"
        with time_machine.travel(datetime(2026, 3, 2, 14, 30, tzinfo=UTC), tick=False):
            dnd_until = timezone.now() + timedelta(hours=1)
            client_for(b).patch(
                "/api/me/notifications/",
                {"do_not_disturb_until": dnd_until.isoformat()},
                format="json",
            )
            message_send(sender=a, conversation_id=group.pk, client_msg_id="g1", body="news")
            assert pushed_to(group) == set()

    def test_half_set_quiet_hours_are_a_field_error(self, client_for):
        response = client_for(make_user()).patch(
            "/api/me/notifications/", {"quiet_hours_start": "22:00"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["field"] == "quiet_hours_start"
