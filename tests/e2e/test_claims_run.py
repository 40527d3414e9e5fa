"""README "Run": when another process starts polling with the same token, a running `python -m bot`
stops with one line saying so and exit code 1, instead of fighting over the updates. End to end: a real
bot process against the Telegram fake, then a second bot polling in this process."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.harness import Stack, final_texts

pytestmark = pytest.mark.slow


async def test_a_polling_process_cut_off_by_another_poller_exits_1_with_one_line(stack: Stack) -> None:
    first = asyncio.create_task(stack.run_cli("bot", stack.env(), timeout=90))
    await stack.telegram.wait_for(lambda: bool(stack.telegram.calls("getWebhookInfo")), timeout=30)
    await asyncio.sleep(1.0)  # its first long poll is pending at Telegram (the fake records it when it ends)
    async with stack.bot(reply_format="classic"):
        run = await asyncio.wait_for(first, 60)
        user = await stack.telegram.create_user("Ann")
        chat_id = int((await stack.telegram.create_private_chat(user))["id"])
        await stack.telegram.send_user_message(chat_id, user, "who answers? emu:echo")
        await stack.telegram.wait_for(lambda: final_texts(stack.telegram, chat_id) == ["who answers?"])
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "another process is polling Telegram with this BOT_TOKEN" in last
