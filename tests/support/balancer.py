"""A round-robin HTTP balancer in front of webhook replicas, like a reverse proxy would be.

Each request goes to the next upstream in turn. When that upstream cannot be reached (a killed
replica), the balancer answers 502 without trying another one — as nginx does for a POST — so the
sender (Telegram, or the Telegram fake) retries the delivery later and reaches a live replica.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

FORWARDED_HEADERS = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")


@dataclass
class Balancer:
    upstreams: list[str]  # base URLs, e.g. http://127.0.0.1:9001
    port: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status → count, 502s included
    pinned: int | None = None  # tests may send every request to one upstream (its index)
    _session: aiohttp.ClientSession | None = None
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        turn = next(self._turn) if self.pinned is None else self.pinned
        upstream = self.upstreams[turn % len(self.upstreams)]
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        body = await request.read()
        try:
            async with self._session.request(
                request.method, upstream + request.path_qs, data=body, headers=headers
            ) as reply:
                response = web.Response(
                    status=reply.status, body=await reply.read(), content_type=reply.content_type
                )
        except (aiohttp.ClientError, TimeoutError):
            response = web.Response(status=502, text="bad gateway")
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        return response

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Balancer]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            yield self
        finally:
            await self._session.close()
            await runner.cleanup()
