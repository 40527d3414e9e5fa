"""A TCP pass-through the test can cut, to give a client real connection errors: a Redis whose network
goes away and comes back with its data, or a provider whose next connections are reset."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.support.net import free_port


@dataclass
class CuttableLink:
    upstream_host: str
    upstream_port: int
    port: int = field(default_factory=free_port)
    up: bool = True
    refuse_next: int = 0  # the next N connections are closed at once, before a byte is read
    refused: int = 0
    accepted: int = 0
    _live: set[asyncio.StreamWriter] = field(default_factory=set)

    def cut(self) -> None:
        """Every open connection drops now and new ones are closed at once, until `restore`."""
        self.up = False
        self.reset_open_connections()

    def restore(self) -> None:
        self.up = True

    def reset_open_connections(self) -> None:
        for writer in list(self._live):
            writer.close()
        self._live.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up or self.refuse_next > 0:
            self.refuse_next = max(0, self.refuse_next - 1)
            self.refused += 1
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.close()
            return
        self.accepted += 1
        self._live.update((writer, upstream_writer))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        self._live.difference_update((writer, upstream_writer))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CuttableLink]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        try:
            yield self
        finally:
            self.reset_open_connections()
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, RuntimeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
