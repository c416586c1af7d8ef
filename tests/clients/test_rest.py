"""The SDK's REST helpers against a live server: accounts and tokens, groups, history, uploads,
errors; and a message sent over the socket is the one REST history holds."""

import io

import pytest
from parley_client import Client, Message, ParleyError, RestClient
from PIL import Image

from tests.clients.conftest import PASSWORD, account, unique, until

pytestmark = pytest.mark.django_db(transaction=True)


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_accounts_groups_history_and_uploads(server):
    alice, bob = await account(server.http, "alice"), await account(server.http, "bob")
    assert (await alice.rest.me())["id"] == alice.id

    # A refreshed access token works and the refresh token rotated.
    old_refresh = alice.rest.refresh_token
    await alice.rest.refresh_access()
    assert alice.rest.refresh_token != old_refresh
    assert (await alice.rest.me())["username"] == alice.username

    # Groups.
    group = await alice.rest.create_group(unique("crew"), [bob.id], description="the crew")
    assert (await alice.rest.group(group["id"]))["member_count"] == 2
    renamed = await alice.rest.update_group(group["id"], name="renamed")
    assert renamed["name"] == "renamed"
    carol = await account(server.http, "carol")
    await alice.rest.add_member(group["id"], carol.id)
    members = await alice.rest.members(group["id"])
    assert {m["user"]["id"] for m in members} == {alice.id, bob.id, carol.id}
    await carol.rest.leave_group(group["id"])

    # History, paged: system messages and five posted over REST, ascending, none twice.
    for n in range(5):
        await bob.rest.post_message(group["id"], f"m{n}", client_msg_id=f"rest-{n}")
    everything = [m async for m in alice.rest.iter_history(group["id"], limit=2)]
    assert [m.seq for m in everything] == list(range(1, len(everything) + 1))
    assert [m.body for m in everything if m.client_msg_id] == [f"m{n}" for n in range(5)]
    newest = await alice.rest.history(group["id"], limit=2)
    assert [m.seq for m in newest.messages] == [len(everything) - 1, len(everything)]
    assert newest.has_more is True

    # Uploads: upload, send it over the socket, see it on the message, download it.
    image = png()
    upload = await alice.rest.upload(image, filename="red.png")
    assert upload["content_type"] == "image/png" and (upload["width"], upload["height"]) == (40, 30)
    client = Client(server.http, alice.token)
    seen: list[Message] = []
    client.on(lambda e: seen.append(e) if isinstance(e, Message) else None)
    await client.connect(timeout=30)
    ack = await client.send(group["id"], "a picture", attachments=[upload["id"]])
    await until(lambda: any(m.id == ack.id for m in seen), "the message on the socket")
    (mine,) = [m for m in seen if m.id == ack.id]
    assert [a["id"] for a in mine.attachments] == [upload["id"]]
    assert await bob.rest.download(mine.attachments[0]["url"]) == image
    (stored,) = [m async for m in bob.rest.iter_history(group["id"], after_seq=ack.seq - 1)]
    assert (stored.id, stored.body, stored.client_msg_id) == (
        ack.id,
        "a picture",
        ack.client_msg_id,
    )

    # Errors carry the server's code and field.
    with pytest.raises(ParleyError) as refused:
        await carol.rest.history(group["id"])
    assert (refused.value.status, refused.value.code) == (404, "not_found")
    with pytest.raises(ParleyError) as refused:
        await client.send(group["id"], "   ")
    assert (refused.value.code, refused.value.field) == ("bad_request", "body")
    with pytest.raises(ParleyError) as refused:
        await RestClient(server.http).login(alice.username, "wrong" + PASSWORD)
    assert refused.value.status == 401

    await client.close()
    for person in (alice, bob, carol):
        await person.rest.close()


async def test_a_person_logs_in_with_the_sdk_and_a_bot_connects_with_its_token(server):
    alice = await account(server.http, "alice")
    bot = await alice.rest.create_bot(unique("bot"), "Helper")
    group = await alice.rest.create_group(unique("g"), [bot["id"]])

    person = await Client.login(server.http, alice.username, PASSWORD)
    bot_client = Client(server.http, bot["token"])
    ready = await person.connect(timeout=30)
    bot_ready = await bot_client.connect(timeout=30)
    assert ready.user.id == alice.id and bot_ready.user.id == bot["id"]
    assert group["id"] in bot_client.conversations

    ack = await bot_client.send(group["id"], "beep")
    history = await person.rest.history(group["id"])
    assert history.messages[-1].id == ack.id
    assert history.messages[-1].sender.id == bot["id"]
    await person.close()
    await bot_client.close()
    await alice.rest.close()
