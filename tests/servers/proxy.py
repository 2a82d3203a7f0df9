"""A TCP relay on 127.0.0.1 that counts connections (total and at once) to an upstream port,
optionally adding network latency."""

from __future__ import annotations

import asyncio
import threading
import time


class CountingProxy:
    """Relays every connection to ``127.0.0.1:upstream_port``; runs in its own thread.

    With ``delay`` (seconds, one way), each connection is accepted after one round trip
    (as a TCP handshake would take) and every chunk reaches the other side ``delay`` seconds
    after it arrived, in order, without limiting throughput: a link with that latency.
    """

    def __init__(self, upstream_port: int, delay: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait()

    def reset(self) -> None:
        self.connections = self.peak = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A connection counts as open until the client closes its side."""
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        if self.delay:
            await asyncio.sleep(2 * self.delay)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self.open -= 1
            writer.close()
            return
        closed = asyncio.Event()
        back = asyncio.ensure_future(_pipe(up_reader, writer, self.delay))
        forward = asyncio.ensure_future(_pipe(reader, up_writer, self.delay, closed))
        await closed.wait()
        self.open -= 1  # when the client closed, not when the delayed close reaches upstream
        await forward
        await back


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    closed: asyncio.Event | None = None,
) -> None:
    """Relay until end of file (then set *closed*), each chunk *delay* seconds late."""
    if not delay:
        await _relay(reader, writer, closed)
        return
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def late() -> None:
        while True:
            due, data = await chunks.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(late())
    try:
        while data := await reader.read(65536):
            chunks.put_nowait((time.monotonic() + delay, data))
    except OSError:
        pass
    if closed is not None:
        closed.set()
    chunks.put_nowait((time.monotonic() + delay, b""))
    try:
        await sender
    except OSError:
        writer.close()


async def _relay(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, closed: asyncio.Event | None
) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        if closed is not None:
            closed.set()
        writer.close()
