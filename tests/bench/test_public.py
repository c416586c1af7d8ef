"""The benchmark scenarios that drive Parley through its public API (bench/public.py) and the
reconnect storm, run at a tiny scale against a live daphne in this run's configuration: each
completes, every connected user receives, every cut socket comes back (no timing is asserted:
numbers belong to docs/performance.md)."""

import pytest

from bench import scenarios
from tests.faults.harness import DaphneServer
from tests.web.browser import server_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def target(django_db_setup, tmp_path_factory):
    env = server_env(tmp_path_factory.mktemp("parley-var"))
    daphne = DaphneServer(env, tmp_path_factory.mktemp("logs"), name="bench")
    daphne.start()
    yield scenarios.Target(kind="parley", ws_urls=[daphne.ws], server_pids=[daphne.pid], env=env)
    daphne.stop()


def assert_everyone_had_it_live(result: dict, users: int) -> None:
    assert result["failed_to_connect"] == 0
    assert result["received_live"] == users
    assert result["all_received"] is True
    assert result["closed_by_server"] == {}
    assert result["lost_after_sync"] == 0


async def test_the_first_announcement_reaches_every_connected_user_live(target):
    result = await scenarios.herd_announce(target, users=5, window=60)

    assert result["variant"] == "first announcement"
    assert_everyone_had_it_live(result, 5)


@pytest.mark.parametrize("add_via", ["create", "members"])
async def test_a_mass_add_then_a_message_reaches_every_added_user_live(target, add_via):
    result = await scenarios.herd_add(target, users=5, window=60, add_via=add_via)

    assert_everyone_had_it_live(result, 5)


async def test_pairs_set_up_over_rest_deliver_and_read_every_message(target):
    result = await scenarios.pairs(target, count=2, rate=4, duration=2, setup="api")

    assert result["setup"] == "api"
    assert result["sent"] > 0
    assert result["delivered"] == result["sent"]
    assert result["errors"] == 0
    # Each peer answered each message with a read frame, and its sender was told.
    assert result["read_frames_sent"] == result["sent"]
    assert result["read_receipts_seen_by_senders"] > 0
    assert result["closed_by_server"] == {}


async def test_idle_and_fanout_accept_an_api_population(target):
    idle = await scenarios.idle(target, sockets=3, hold=0.5, setup="api")
    fanout = await scenarios.fanout(target, members=4, rate=4, duration=1, setup="api")

    assert idle["held"] == 3
    assert fanout["delivered"] == fanout["expected_deliveries"] > 0


async def test_every_socket_cut_at_once_is_back_in_ready(target):
    result = await scenarios.storm(target, sockets=6, window=60, setup="api")

    assert result["failed_to_connect"] == 0
    assert result["back_in_ready"] == 6
    assert result["all_back"] is True
    assert result["heartbeat_closes_4408"] == 0
