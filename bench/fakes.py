"""Starting the two fakes as child processes, and thin HTTP clients for their control and introspection
APIs (Telegram fake `/__control/*`, Yandex emulator `/__emu/*`; see their READMEs)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import aiohttp

from bench.processes import Child, spawn

T = TypeVar("T")
JSON = dict[str, Any]

_TELEGRAM_BANNER = re.compile(r"listening on (http://\S+) \(token (\S+)\)")
_EMULATOR_BANNER = re.compile(r"listening on (http://\S+)/v1")
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)
EMULATOR_RESPONSE_LOG = 5000


@dataclass(frozen=True, slots=True)
class ModelStream:
    """How the emulated model streams: the emulator's command-line pacing."""

    first_delta_delay_s: float
    chars_per_second: float


class FakeApiError(RuntimeError):
    """A control or introspection call failed."""


class _JsonApi:
    def __init__(self, session: aiohttp.ClientSession, root_url: str) -> None:
        self._session = session
        self.root_url = root_url

    async def _call(
        self, method: str, path: str, body: JSON | None = None, query: dict[str, str] | None = None
    ) -> Any:
        async with self._session.request(
            method, f"{self.root_url}{path}", json=body, params=query, timeout=REQUEST_TIMEOUT
        ) as reply:
            payload = await reply.json(content_type=None)
            if reply.status != 200:
                raise FakeApiError(f"{method} {path} -> {reply.status}: {payload}")
            return payload


class TelegramControl(_JsonApi):
    """The Telegram fake's control API: act as users, read what the bot did."""

    async def reset(self) -> None:
        await self._call("POST", "/__control/reset")

    async def config(self) -> JSON:
        return cast(JSON, await self._call("GET", "/__control/config"))

    async def create_user(self, user_id: int, first_name: str) -> None:
        await self._call("POST", "/__control/users", {"first_name": first_name, "user_id": user_id})

    async def create_private_chat(self, user_id: int) -> None:
        await self._call("POST", "/__control/chats/private", {"user_id": user_id})

    async def create_group(self, title: str) -> int:
        """A supergroup the bot is a member of, created without members so no `my_chat_member` update
        (and no greeting) reaches the bot; add members with `add_member`."""
        chat = await self._call("POST", "/__control/chats/group", {"title": title, "supergroup": True})
        return int(chat["id"])

    async def add_member(self, chat_id: int, user_id: int) -> None:
        await self._call("POST", f"/__control/chats/{chat_id}/members/{user_id}", {"status": "member"})

    async def send_message(self, chat_id: int, user_id: int, text: str) -> JSON:
        body = {"user_id": user_id, "text": text}
        return cast(JSON, await self._call("POST", f"/__control/chats/{chat_id}/messages", body))

    async def calls(self, method: str | None = None) -> list[JSON]:
        query = {"method": method} if method else None
        return cast(list[JSON], await self._call("GET", "/__control/calls", query=query))

    async def drafts(self, chat_id: int) -> list[JSON]:
        return cast(list[JSON], await self._call("GET", f"/__control/chats/{chat_id}/drafts"))

    async def bot_messages(self, chat_id: int) -> list[JSON]:
        return cast(list[JSON], await self._call("GET", f"/__control/chats/{chat_id}/bot_messages"))

    async def violations(self) -> list[JSON]:
        return cast(list[JSON], await self._call("GET", "/__control/violations"))


class EmulatorControl(_JsonApi):
    """The emulator's introspection API."""

    async def reset(self) -> None:
        await self._call("POST", "/__emu/reset")

    async def responses(self, limit: int) -> list[JSON]:
        return cast(list[JSON], await self._call("GET", "/__emu/responses", query={"limit": str(limit)}))


@dataclass
class Fakes:
    telegram: TelegramControl
    telegram_url: str
    token: str
    emulator: EmulatorControl
    emulator_url: str
    """The `/v1` base URL for openai clients."""
    children: tuple[Child, Child]

    async def stop(self) -> None:
        await asyncio.gather(*(child.stop(10) for child in self.children))


async def start_fakes(session: aiohttp.ClientSession, workdir: Path, stream: ModelStream) -> Fakes:
    """Both fakes on free loopback ports, each in its own process."""
    telegram = await spawn(
        "telegram-fake",
        "tests.fakes.telegram",
        ["--host", "127.0.0.1", "--port", "0"],
        workdir=workdir,
        env={},
    )
    emulator = await spawn(
        "yandex-emulator",
        "tests.fakes.yandex",
        [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--first-delta-delay",
            str(stream.first_delta_delay_s),
            "--chars-per-second",
            str(stream.chars_per_second),
            # The sustained scenarios ask up to about 1,300 questions in one window.
            "--response-log-size",
            str(EMULATOR_RESPONSE_LOG),
        ],
        workdir=workdir,
        env={},
    )
    try:
        tg_banner = await telegram.wait_for_output(_TELEGRAM_BANNER, timeout=30)
        emu_banner = await emulator.wait_for_output(_EMULATOR_BANNER, timeout=30)
    except BaseException:
        await asyncio.gather(telegram.stop(5), emulator.stop(5))
        raise
    return Fakes(
        telegram=TelegramControl(session, tg_banner[1]),
        telegram_url=tg_banner[1],
        token=tg_banner[2],
        emulator=EmulatorControl(session, emu_banner[1]),
        emulator_url=f"{emu_banner[1]}/v1",
        children=(telegram, emulator),
    )


async def bounded_gather(
    items: Iterable[T], call: Callable[[T], Awaitable[Any]], *, concurrency: int
) -> Sequence[Any]:
    """`call(item)` for every item, at most `concurrency` at a time, results in order."""
    limit = asyncio.Semaphore(concurrency)

    async def one(item: T) -> Any:
        async with limit:
            return await call(item)

    return await asyncio.gather(*(one(item) for item in items))
