"""The replica router on a setup without replicas (both configurations): everything stays on
the primary, and no write leaves a mark. tests/faults/test_replica_lag.py drives a real
lagging replica."""

import time

import pytest
from django.core.cache import cache
from django.db import transaction

from chatsite.db import replicas
from chatsite.db.replicas import ReplicaOutages, ReplicaRouter
from messaging.services import message_send
from tests.factories import make_direct, make_user

pytestmark = pytest.mark.django_db


def test_without_replicas_every_read_stays_on_the_primary():
    router = ReplicaRouter()
    assert router.db_for_read(None) is None  # Django's default: the primary
    with replicas.replica_reads(user_id=1) as alias:
        assert alias == "default"
        assert router.db_for_read(None) == "default"
        assert not replicas.reading_from_replica()
    assert router.db_for_read(None) is None
    assert router.db_for_write(None) == "default"
    assert router.allow_migrate("default", "messaging")
    assert not router.allow_migrate("replica0", "messaging")


def test_without_replicas_a_send_leaves_no_wal_mark():
    sender, other = make_user(), make_user()
    direct = make_direct(sender, other)
    with transaction.atomic():
        message_send(sender=sender, conversation_id=direct.pk, client_msg_id="r1", body="hi")
    assert cache.get(f"replica-lsn:{sender.pk}") is None


@pytest.mark.postgres
def test_a_replica_read_block_chooses_the_primary_when_a_replica_is_behind_the_writer(settings):
    # A stand-in replica that never replays: the primary itself, which has no replay position.
    settings.DATABASE_REPLICAS = ["default"]
    cache.set("replica-lsn:7", "0/1")
    with replicas.replica_reads(user_id=7) as alias:
        assert alias == "default"
    cache.delete("replica-lsn:7")


def test_a_replica_that_does_not_answer_is_skipped_for_a_while(settings, monkeypatch):
    from django.apps import apps
    from django.db import DatabaseError

    # A fresh record of outages for this test (the process's one is ChatsiteConfig's).
    monkeypatch.setattr(apps.get_app_config("chatsite"), "replica_outages", ReplicaOutages())
    settings.DATABASE_REPLICAS = ["ghost"]
    asked: list[str] = []

    def refuses(alias: str, lsn: str | None) -> bool:
        asked.append(alias)
        raise DatabaseError("no answer")

    monkeypatch.setattr(replicas, "_caught_up", refuses)
    assert replicas.replica_for(user_id=None) == "default"
    assert replicas.replica_for(user_id=None) == "default"
    assert asked == ["ghost"]  # the second read did not ask it again
    assert replicas.replica_outages().is_down("ghost", time.monotonic())
    assert not replicas.replica_outages().is_down(
        "ghost", time.monotonic() + settings.REPLICA_RETRY_SECONDS + 1
    )
