"""Generated frames against the real gateway: every one is answered or refused, nothing breaks."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_direct, make_group, make_user
from tests.ws import ready_socket, receive

pytestmark = pytest.mark.django_db(transaction=True)

REPLY_TYPES = {
    "ack",
    "message",
    "message_updated",
    "message_deleted",
    "sync_done",
    "changes_done",
    "error",
    "pong",
    "conversation",
}
# Any refusal a client can act on is fine; these would mean the input broke something.
SERVER_FAULTS = {"server_error", "unavailable"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
ids = st.integers(min_value=-2, max_value=6) | st.just(2**63) | st.just(2**63 - 1) | values
client_msg_ids = (
    st.text(alphabet="abc-_.:19", min_size=1, max_size=8)
    | st.text(max_size=70)  # control characters, NUL, emoji, too long
    | values
)
message_ids = st.from_regex(r"\A[0-9]{1,21}\Z") | ids
bodies = st.text(max_size=60) | st.text(min_size=3990, max_size=4010) | values


def frames(conversations: list[int]):
    known = st.sampled_from(conversations)
    dicts = st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["send", "sync", "ping", "typing", "edit", "delete", "changes", "SEND", ""]
            )
            | scalars
        },
        optional={
            "conversation": known | ids,
            "client_msg_id": client_msg_ids,
            "body": bodies,
            "after_seq": ids,
            "limit": ids,
            "after_change_seq": ids,
            "id": message_ids,
        },
    )
    text = (
        dicts.map(lambda d: json.dumps(d, allow_nan=True))
        | values.map(json.dumps)
        | st.text(min_size=1, max_size=200)
    )
    return text.map(lambda t: ("text", t)) | st.binary(min_size=1, max_size=64).map(
        lambda b: ("bytes", b)
    )


async def throw(user, batch) -> None:
    socket, _ = await ready_socket(user)
    try:
        for kind, payload in batch:
            if kind == "bytes":
                await socket.send_to(bytes_data=payload)
            else:
                await socket.send_to(text_data=payload)
            # A ping after every frame: everything before the pong is the frame's answer.
            await socket.send_json_to({"type": "ping"})
            answers = []
            while (frame := await receive(socket))["type"] != "pong":
                answers.append(frame)
            for frame in answers:
                assert frame["type"] in REPLY_TYPES, frame
                if frame["type"] == "error":
                    assert isinstance(frame["code"], str) and frame["code"], frame
                    assert frame["code"] not in SERVER_FAULTS, (payload, frame)
                    assert isinstance(frame["detail"], str) and "Traceback" not in frame["detail"]
    finally:
        await socket.disconnect()


@pytest.fixture
def django_settings(settings):
    return settings


def test_generated_frames_get_a_reply_or_an_error_and_the_socket_stays_usable(django_settings):
    django_settings.PARLEY_RATE_LIMITS = {
        **django_settings.PARLEY_RATE_LIMITS,
        "ws_send": "1000/s:1000",
        "ws_typing": "1000/s:1000",
        "ws_handshake": "1000/s:1000",
    }
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    mine = [make_direct(alice, bob).pk, make_group(alice, bob).pk]
    strangers = make_direct(bob, carol).pk

    @settings(
        max_examples=40,
        database=None,
        deadline=None,
        # Generation health checks (slow or large data under a loaded machine) are not
        # findings about the server.
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(frames([*mine, strangers]), min_size=1, max_size=8))
    def run(batch):
        asyncio.run(throw(alice, batch))
        thrown.append(len(batch))

    thrown: list[int] = []
    run()
    assert len(thrown) >= 40 and sum(thrown) >= 100, thrown
