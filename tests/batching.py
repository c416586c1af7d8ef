"""Holding the gateway's batches (gateway/batching.py) in tests."""

import asyncio

from gateway import batching


def hold_first_batch(monkeypatch, store_many) -> tuple[asyncio.Event, list[list]]:
    """The first batch that `store_many` gets is held until the returned event is set, so the
    requests made meanwhile queue and are stored together in the next batch. Records each
    batch's requests. Other batchers run as they are."""
    gate = asyncio.Event()
    batches: list[list] = []
    real_hop = batching.db_hop

    def held_hop(func):
        hop = real_hop(func)
        if func is not store_many:
            return hop

        async def run(requests):
            batches.append(list(requests))
            if len(batches) == 1:
                await gate.wait()
            return await hop(requests)

        return run

    monkeypatch.setattr(batching, "db_hop", held_hop)
    return gate, batches
