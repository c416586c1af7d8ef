"""The echo bot of docs/clients.md, run exactly as written against a live server."""

import asyncio
import os
import re
import sys

import pytest
from parley_client import Client, Message

from tests.clients.conftest import account, unique, until
from tests.servers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def echo_bot_source() -> str:
    text = (ROOT / "docs" / "clients.md").read_text()
    block = re.search(r"<!-- echo-bot:.*?-->\n```python\n(.*?)```", text, re.S)
    assert block, "docs/clients.md lost its echo-bot block"
    return block.group(1)


def test_the_echo_bot_is_about_30_lines():
    assert len(echo_bot_source().splitlines()) <= 32


async def test_the_echo_bot_from_the_docs_answers_once_per_message(server, tmp_path):
    alice = await account(server.http, "alice")
    bot = await alice.rest.create_bot(unique("echo"), "Echo")
    group = await alice.rest.create_group(unique("bots"), [bot["id"]])
    script = tmp_path / "echo_bot.py"
    script.write_text(echo_bot_source())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env={**os.environ, "PARLEY_URL": server.http, "PARLEY_TOKEN": bot["token"]},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    client = Client(server.http, alice.token)
    echoes: list[Message] = []
    client.on(
        lambda e: (
            echoes.append(e)
            if isinstance(e, Message) and e.sender and e.sender.id != alice.id
            else None
        )
    )
    try:
        await client.connect(timeout=30)
        # The bot starts from each conversation's newest message: knock until it answers.
        async with asyncio.timeout(90):
            knock = 0
            while not echoes:
                await client.send(group["id"], f"knock {knock}")
                knock += 1
                for _ in range(20):
                    if echoes:
                        break
                    await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)  # answers to the last knocks
        echoes.clear()
        await client.send(group["id"], "hello")
        await client.send(group["id"], "world")
        await until(lambda: len(echoes) >= 2, "two echoes")
        await asyncio.sleep(0.5)  # a doubled answer would land here
        assert [m.body for m in echoes] == ["echo: hello", "echo: world"]
        assert {m.sender.id for m in echoes} == {bot["id"]}
    finally:
        process.terminate()
        output, _ = await process.communicate()
        await client.close()
        await alice.rest.close()
    assert b"answered" in output, output.decode()[-2000:]
