"""Waiting until the bot has nothing left to do, instead of sleeping a fixed time before checking that
"nothing more happened": the fakes report what is still pending, the bot which lanes are busy."""

from __future__ import annotations

from bot.app import BotApp
from tests.e2e.harness import Stack


def bot_is_idle(stack: Stack, app: BotApp) -> bool:
    """Every update taken by the bot (polling: confirmed; webhook: delivered), no lane with a job
    running or queued in this process, and no response streaming at the emulator."""
    return (
        not stack.telegram.pending_updates()
        and app.runtime.lanes.active_lanes == 0
        and all(r["status"] != "in_progress" for r in stack.yandex.responses(limit=200))
    )


async def until_idle(stack: Stack, app: BotApp, timeout: float = 20.0) -> None:
    await stack.telegram.wait_for(lambda: bot_is_idle(stack, app), timeout=timeout)
