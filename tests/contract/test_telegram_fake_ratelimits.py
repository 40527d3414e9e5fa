"""Contract: the fake's flood control. Timing rules are checked on the limiter with a manual clock; the HTTP
round trips check that violations reach aiogram as `TelegramRetryAfter` and are recorded."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from tests.fakes.telegram.config import FakeConfig
from tests.fakes.telegram.errors import BotApiError
from tests.fakes.telegram.ratelimit import RateLimiter
from tests.fakes.telegram.server import TelegramFake


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def retry_after(action: object) -> int:
    assert callable(action)
    with pytest.raises(BotApiError) as caught:
        action()
    assert caught.value.error_code == 429
    assert (
        caught.value.description == f"Too Many Requests: retry after {caught.value.parameters['retry_after']}"
    )
    return int(caught.value.parameters["retry_after"])


def test_chat_bucket_burst_refill_and_penalty_window() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for _ in range(3):
        limiter.check_send("sendMessage", 1, is_group=False)
    assert retry_after(lambda: limiter.check_send("editMessageText", 1, is_group=False)) == 1
    clock.now += 0.9
    assert retry_after(lambda: limiter.check_send("sendMessage", 1, is_group=False)) == 1  # still penalized
    limiter.check_send("sendMessage", 2, is_group=False)  # other chats are not affected
    clock.now += 0.1
    limiter.check_send("sendMessage", 1, is_group=False)
    assert [(v["kind"], v["in_penalty"]) for v in limiter.violations] == [("chat", False), ("chat", True)]


def test_group_rolling_window() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(chat_burst=100, chat_rate_per_s=100.0), clock)
    for _ in range(20):
        limiter.check_send("sendMessage", -5, is_group=True)
        clock.now += 1.0
    # the oldest of the 20 sends was 20 s ago, so it leaves the 60 s window in 40 s
    assert retry_after(lambda: limiter.check_send("editMessageText", -5, is_group=True)) == 40
    clock.now += 40
    limiter.check_send("sendMessage", -5, is_group=True)
    assert limiter.violations[-1]["kind"] == "group"


def test_draft_budget_is_separate_and_faster() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for _ in range(3):
        limiter.check_draft("sendMessageDraft", 1)
    assert retry_after(lambda: limiter.check_draft("sendMessageDraft", 1)) == 1
    limiter.check_send("sendMessage", 1, is_group=False)  # drafts don't touch the message budget
    clock.now += 1.0
    for _ in range(3):  # refilled at 4/s: the burst is back after a second
        limiter.check_draft("sendRichMessageDraft", 1)


def test_global_budget_spans_chats() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for chat_id in range(30):
        limiter.check_send("sendMessage", chat_id, is_group=False)
    assert retry_after(lambda: limiter.check_send("sendMessage", 99, is_group=False)) == 1
    assert limiter.violations[-1]["kind"] == "global"
    clock.now += 1.0
    limiter.check_send("sendMessage", 99, is_group=False)


async def private_chat_id(fake: TelegramFake) -> int:
    user = await fake.create_user("Ann")
    return int((await fake.create_private_chat(user))["id"])


async def test_per_chat_limit_over_http_with_penalty(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    chat_id = await private_chat_id(telegram_fake)
    sent = [await tg_bot.send_message(chat_id, f"m{i}") for i in range(3)]
    with pytest.raises(TelegramRetryAfter) as caught:
        await tg_bot.edit_message_text("edited", chat_id=chat_id, message_id=sent[0].message_id)
    assert caught.value.retry_after == 1
    assert "Original description: Too Many Requests: retry after 1" in caught.value.message
    with pytest.raises(TelegramRetryAfter):
        await tg_bot.send_message(chat_id, "inside the penalty window")
    await asyncio.sleep(1.0)
    await tg_bot.send_message(chat_id, "after the window")

    violations = telegram_fake.violations()
    assert [(v["method"], v["chat_id"], v["kind"], v["retry_after"]) for v in violations] == [
        ("editMessageText", chat_id, "chat", 1),
        ("sendMessage", chat_id, "chat", 1),
    ]
    assert [c["error_code"] for c in telegram_fake.calls() if not c["ok"]] == [429, 429]


async def test_group_limit_over_http(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    telegram_fake.config.group_per_minute = 2
    telegram_fake.config.group_window_s = 5.0
    owner = await telegram_fake.create_user("Olga")
    group = await telegram_fake.create_group("Team", supergroup=True, members=[owner])
    await tg_bot.send_message(group["id"], "one")
    await tg_bot.send_message(group["id"], "two")
    with pytest.raises(TelegramRetryAfter) as caught:
        await tg_bot.send_message(group["id"], "three")
    assert caught.value.retry_after == 5
    assert telegram_fake.violations()[-1]["kind"] == "group"


async def test_draft_budget_over_http(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    chat_id = await private_chat_id(telegram_fake)
    for length in range(1, 4):
        await tg_bot.send_message_draft(chat_id, draft_id=1, text="x" * length)
    with pytest.raises(TelegramRetryAfter) as caught:
        await tg_bot.send_message_draft(chat_id, draft_id=1, text="xxxx")
    assert caught.value.retry_after == 1 and telegram_fake.violations()[-1]["kind"] == "draft"
    await tg_bot.send_chat_action(chat_id, "typing")  # chat actions are never limited
    await tg_bot.send_message(chat_id, "final")  # separate budget
    assert len(telegram_fake.drafts(chat_id)) == 3


async def test_global_budget_over_http(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    telegram_fake.config.global_burst = 3
    telegram_fake.config.global_rate_per_s = 1.0
    chat_ids = [await private_chat_id(telegram_fake) for _ in range(5)]
    for chat_id in chat_ids[:3]:
        await tg_bot.send_message(chat_id, "hi")
    for chat_id in chat_ids[3:]:  # the second one is refused inside the bot-wide penalty window
        with pytest.raises(TelegramRetryAfter) as caught:
            await tg_bot.send_message(chat_id, "hi")
        assert caught.value.retry_after == 1
    assert [v["kind"] for v in telegram_fake.violations()] == ["global", "global"]


async def test_rate_limits_can_be_disabled(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    telegram_fake.config.rate_limits_enabled = False
    chat_id = await private_chat_id(telegram_fake)
    for i in range(10):
        await tg_bot.send_message(chat_id, f"m{i}")
    assert telegram_fake.violations() == []
