"""A group's move to a supergroup id is reported twice (one service message per chat id, handled
concurrently): whoever reports it second waits until the state has moved."""

from __future__ import annotations

import asyncio

from aiogram import Bot

from bot.telegram.budget import OutputScheduler
from bot.telegram.delivery import Capabilities, TelegramSender


async def test_a_second_report_of_a_migration_returns_once_the_state_has_moved() -> None:
    bot = Bot("123:abc")
    sender = TelegramSender(bot, OutputScheduler.local(), Capabilities())
    release = asyncio.Event()
    moves: list[tuple[int, int]] = []

    async def slow_move(old: int, new: int) -> None:
        await release.wait()
        moves.append((old, new))

    sender.on_migration(slow_move)
    try:
        first = asyncio.create_task(sender.chat_migrated(-1, -1001))
        second = asyncio.create_task(sender.chat_migrated(-1, -1001))
        await asyncio.sleep(0.01)
        assert not second.done(), "the state has not moved yet"
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), timeout=1)
        assert moves == [(-1, -1001)], "moved once"
        await asyncio.wait_for(sender.chat_migrated(-1, -1001), timeout=1)  # later reports: at once
        assert moves == [(-1, -1001)]
    finally:
        await bot.session.close()
