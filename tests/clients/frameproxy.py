"""A loopback proxy in front of a Parley server that understands WebSocket framing on the way
to the client, so a test can lose one chosen frame (as a faulty proxy or network path would)
or cut every connection. The client must not negotiate compression (frames are read as text).
"""

import asyncio
import contextlib
import json
from collections.abc import Callable


class FrameProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.BaseTransport] = set()
        self.dropped: list[dict] = []
        self._drop: Callable[[dict], bool] | None = None
        self._cut_after_drop = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> "FrameProxy":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def drop_next(self, matches: Callable[[dict], bool], *, then_cut: bool = False) -> None:
        """Loses the next server→client text frame whose JSON `matches`; with `then_cut`, cuts
        that connection right after (the frame and the connection are gone together)."""
        self._drop = matches
        self._cut_after_drop = then_cut

    def cut(self) -> None:
        """Drops every connection without a close frame."""
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        pair = (writer.transport, up_writer.transport)
        self.transports.update(pair)

        async def upstream() -> None:
            with contextlib.suppress(Exception):
                while data := await reader.read(65536):
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.transport.abort()

        async def downstream() -> None:
            with contextlib.suppress(Exception):
                writer.write(await up_reader.readuntil(b"\r\n\r\n"))  # the HTTP 101 answer
                while True:
                    header = await up_reader.readexactly(2)
                    length = header[1] & 0x7F
                    extra = b""
                    if length == 126:
                        extra = await up_reader.readexactly(2)
                        length = int.from_bytes(extra, "big")
                    elif length == 127:
                        extra = await up_reader.readexactly(8)
                        length = int.from_bytes(extra, "big")
                    payload = await up_reader.readexactly(length)
                    if header[0] & 0x0F == 1 and self._lose(payload):
                        if self._cut_after_drop:
                            break
                        continue
                    writer.write(header + extra + payload)
                    await writer.drain()
            writer.transport.abort()
            up_writer.transport.abort()

        await asyncio.gather(upstream(), downstream())
        self.transports.difference_update(pair)

    def _lose(self, payload: bytes) -> bool:
        if self._drop is None:
            return False
        try:
            frame = json.loads(payload)
        except ValueError:
            return False
        if not self._drop(frame):
            return False
        self._drop = None
        self.dropped.append(frame)
        return True
