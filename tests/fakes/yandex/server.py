"""Starting and stopping the emulator, and the handle tests hold while it runs.

async with running_yandex_emulator(EmulatorConfig(first_delta_delay=0.0)) as emu:
    client = AsyncOpenAI(base_url=emu.base_url, api_key="key", project="b1gfolder")
    ...
    assert emu.responses()[-1]["status"] == "completed"
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .api_iam import create_iam_app
from .app import create_app
from .config import EmulatorConfig
from .iam import METADATA_TOKEN_PATH, TOKEN_PATH
from .state import EmulatorState

SHUTDOWN_TIMEOUT_SECONDS = 2.0


@dataclass
class YandexEmulator:
    """A running emulator. The methods mirror the ``/__emu`` endpoints without going over HTTP."""

    base_url: str
    """``http://127.0.0.1:<port>/v1``: the ``base_url`` for ``AsyncOpenAI``."""
    root_url: str
    """``http://127.0.0.1:<port>``: where ``/__emu/*`` lives."""
    config: EmulatorConfig
    """Read on every request; change it at run time to change the pace or the quota."""
    state: EmulatorState
    iam_root_url: str | None = None
    """``http://127.0.0.1:<iam port>`` when the IAM port runs (service-account keys or ``serve_metadata``
    configured, or an ``iam_port`` given)."""

    @property
    def iam_url(self) -> str | None:
        """Where to exchange a service account's JWT: ``<iam root>/iam/v1/tokens`` (``YC_IAM_URL``)."""
        return f"{self.iam_root_url}{TOKEN_PATH}" if self.iam_root_url else None

    @property
    def metadata_url(self) -> str | None:
        """The metadata service's token endpoint on the IAM port (``YC_METADATA_URL``)."""
        return f"{self.iam_root_url}{METADATA_TOKEN_PATH}" if self.iam_root_url else None

    def requests(self, limit: int = 200) -> list[dict[str, Any]]:
        """The last ``limit`` ``/v1`` requests, newest last (as ``GET /__emu/requests``): ``{method, path,
        status, headers, at}``, header names lower-case, ``authorization`` left out."""
        return self.state.request_records(limit)

    def iam_tokens(self) -> list[dict[str, Any]]:
        """Every IAM token issued, oldest first (as ``GET /__emu/iam_tokens``)."""
        return [token.to_record() for token in self.state.iam.exchanges]

    def responses(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last ``limit`` response records, newest last (as ``GET /__emu/responses``)."""
        return self.state.response_records(limit)

    def vector_stores(self) -> list[dict[str, Any]]:
        """Every vector store with its files (as ``GET /__emu/vector_stores``)."""
        return self.state.vector_store_records()

    def inject_faults(self, count: int, status: int, paths: list[str] | None = None) -> None:
        """The next ``count`` ``/v1`` requests whose path starts with one of ``paths`` fail with ``status``."""
        self.state.faults.add(count, status, paths)

    def inject_delays(
        self, count: int, seconds: float, paths: list[str] | None = None, status: int | None = None
    ) -> None:
        """The next ``count`` matching ``/v1`` requests are held ``seconds`` before anything is sent,
        then handled as usual (or fail with ``status``): a hanging provider, for client timeouts."""
        self.state.faults.add(count, status, paths, delay=seconds)

    def expire(self, object_id: str) -> None:
        """Make a conversation, response, vector store or file vanish; ``KeyError`` if the id is unknown."""
        self.state.expire(object_id)

    def reset(self) -> None:
        """Forget every object, record and pending fault (the config stays)."""
        self.state.reset()


@asynccontextmanager
async def running_yandex_emulator(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0, iam_port: int | None = None
) -> AsyncIterator[YandexEmulator]:
    """Serve the emulator on ``host:port`` (``port=0`` picks a free one) for the duration of the block.
    The IAM endpoints get a port of their own (``iam_port``, free by default) when the config has
    service-account keys or serves metadata, or when ``iam_port`` is given."""
    effective = config or EmulatorConfig()
    state = EmulatorState(effective)
    async with AsyncExitStack() as stack:
        root_url = await stack.enter_async_context(_serving(create_app(state), host, port))
        iam_root_url = None
        if iam_port is not None or effective.service_account_keys or effective.serve_metadata:
            iam_root_url = await stack.enter_async_context(
                _serving(create_iam_app(state), host, iam_port or 0)
            )
        yield YandexEmulator(
            base_url=f"{root_url}/v1",
            root_url=root_url,
            config=effective,
            state=state,
            iam_root_url=iam_root_url,
        )


@asynccontextmanager
async def _serving(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()
