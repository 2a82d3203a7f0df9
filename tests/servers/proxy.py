"""TCP relays that count connections: to one upstream port (total and at once, optionally
adding network latency), or per port of one address (how many ports are in use at once)."""

from __future__ import annotations

import asyncio
import threading
import time


class _Relay:
    """An asyncio loop in its own thread, serving what :meth:`_listen` opens."""

    def __init__(self) -> None:
        self.connections = 0
        self.peak = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        raise NotImplementedError


class CountingProxy(_Relay):
    """Relays every connection to ``127.0.0.1:upstream_port``; runs in its own thread.

    With ``delay`` (seconds, one way), each connection is accepted after one round trip
    (as a TCP handshake would take) and every chunk reaches the other side ``delay`` seconds
    after it arrived, in order, without limiting throughput: a link with that latency.
    """

    def __init__(self, upstream_port: int, delay: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.open = 0
        self.port = 0
        super().__init__()

    def reset(self) -> None:
        self.connections = self.peak = 0

    async def _listen(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A connection counts as open until the client closes its side."""
        self.connections += 1
        # A client that closes one connection and opens the next at once can be seen in the
        # other order (both in one poll of the loop): let the close be read first.
        await asyncio.sleep(0.002)
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


class PortGauge(_Relay):
    """Relays ``host:port`` to ``127.0.0.1:upstream`` for several ports of one address and
    records the most ports that had a connection open at once. With one entry per port,
    that is the most entries of this host scanned at once, as the host sees it."""

    def __init__(self, host: str, routes: dict[int, int]) -> None:
        self.host = host
        self.routes = routes
        self.open: dict[int, int] = dict.fromkeys(routes, 0)
        super().__init__()

    async def _listen(self) -> None:
        for port, upstream in self.routes.items():

            async def handle(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                port: int = port,
                upstream: int = upstream,
            ) -> None:
                await self._relay(port, upstream, reader, writer)

            await asyncio.start_server(handle, self.host, port)

    async def _relay(
        self, port: int, upstream: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self.open[port] += 1
        self.peak = max(self.peak, sum(1 for n in self.open.values() if n))
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            self.open[port] -= 1
            writer.close()
            return
        back = asyncio.ensure_future(_pipe(up_reader, writer, 0.0))
        await _pipe(reader, up_writer, 0.0)
        self.open[port] -= 1  # as CountingProxy: open until the client closes its side
        await back
