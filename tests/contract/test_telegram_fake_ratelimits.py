"""Contract: the fake's flood control (the strictest reading of Telegram's documented limits, see the fake's
README). Timing rules are checked on the limiter with a manual clock; the HTTP round trips check that
violations reach aiogram as `TelegramRetryAfter` and are recorded. Also the faults that go with them: injected
429s penalise like earned ones, drafts expire, a 5xx may come after delivery, webhook deliveries may overlap
and are redelivered after a timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiohttp import web

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
    limiter.check_send("sendMessage", 1, is_group=False)  # drafts don't touch the chat's message budget
    clock.now += 1.0
    for _ in range(2):  # refilled at 2/s: two drafts a second, not three
        limiter.check_draft("sendRichMessageDraft", 1)
    assert retry_after(lambda: limiter.check_draft("sendMessageDraft", 1)) == 1
    assert limiter.violations[-1]["kind"] == "draft"


def test_global_limit_is_a_rolling_second_not_a_bucket() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for chat_id in range(30):
        limiter.check_send("sendMessage", chat_id, is_group=False)
    # A bucket refilling 30/s would have 15 tokens back after half a second; a rolling second has none.
    clock.now += 0.5
    assert retry_after(lambda: limiter.check_send("sendMessage", 99, is_group=False)) == 1
    assert limiter.violations[-1]["kind"] == "global"
    clock.now += 1.0  # the 30 calls have left the window, and the penalty (1 s from the 429) has ended
    for chat_id in range(100, 130):
        limiter.check_send("sendMessage", chat_id, is_group=False)
    assert limiter.peak_per_window == 30


def test_drafts_count_against_the_global_limit() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for chat_id in range(29):
        limiter.check_send("sendMessage", chat_id, is_group=False)
    limiter.check_draft("sendMessageDraft", 500)
    assert retry_after(lambda: limiter.check_draft("sendMessageDraft", 501)) == 1
    assert limiter.violations[-1]["kind"] == "global"


def test_a_global_429_penalises_the_whole_bot() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for chat_id in range(30):
        limiter.check_send("sendMessage", chat_id, is_group=False)
    clock.now += 0.1
    assert retry_after(lambda: limiter.check_send("sendMessage", 99, is_group=False)) == 1
    clock.now += 0.95  # the window has room again, but the bot is still in its penalty
    assert retry_after(lambda: limiter.check_draft("sendMessageDraft", 7)) == 1
    assert retry_after(lambda: limiter.check_send("editMessageText", 8, is_group=False)) == 1
    assert [(v["kind"], v["in_penalty"]) for v in limiter.violations] == [
        ("global", False),
        ("global", True),
        ("global", True),
    ]
    clock.now += 0.06
    limiter.check_send("sendMessage", 8, is_group=False)


def test_a_chat_429_penalises_only_that_chat_and_family() -> None:
    clock = ManualClock()
    limiter = RateLimiter(FakeConfig(), clock)
    for _ in range(3):
        limiter.check_draft("sendMessageDraft", 1)
    retry_after(lambda: limiter.check_draft("sendMessageDraft", 1))
    limiter.check_send("sendMessage", 1, is_group=False)  # the chat's messages are not in the draft penalty
    limiter.check_draft("sendMessageDraft", 2)  # nor other chats
    assert retry_after(lambda: limiter.check_draft("sendMessageDraft", 1)) == 1


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
    telegram_fake.config.global_per_window = 3
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


async def test_an_injected_429_penalises_the_chat_like_an_earned_one(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    chat_id, other_id = await private_chat_id(telegram_fake), await private_chat_id(telegram_fake)
    telegram_fake.fail_next(
        "sendMessage", error_code=429, description="Too Many Requests: retry after 2", retry_after=2
    )
    with pytest.raises(TelegramRetryAfter):
        await tg_bot.send_message(chat_id, "refused by injection")
    with pytest.raises(TelegramRetryAfter) as caught:  # nothing injected any more: the penalty refuses it
        await tg_bot.send_message(chat_id, "inside the penalty")
    assert caught.value.retry_after in (1, 2)
    await tg_bot.send_message(other_id, "another chat is not penalised")
    assert [(v["chat_id"], v["kind"]) for v in telegram_fake.injected_429s()] == [(chat_id, "chat")]
    assert [(v["chat_id"], v["kind"], v["in_penalty"]) for v in telegram_fake.violations()] == [
        (chat_id, "chat", True)
    ]


async def test_an_injected_global_429_penalises_the_whole_bot(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    chat_id, other_id = await private_chat_id(telegram_fake), await private_chat_id(telegram_fake)
    telegram_fake.fail_next(
        "sendMessageDraft",
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        penalty="global",
    )
    with pytest.raises(TelegramRetryAfter):
        await tg_bot.send_message_draft(chat_id, draft_id=1, text="draft")
    with pytest.raises(TelegramRetryAfter):
        await tg_bot.send_message(other_id, "every chat waits")
    assert telegram_fake.violations()[-1]["kind"] == "global"
    await asyncio.sleep(1.0)
    await tg_bot.send_message(other_id, "after the penalty")


async def test_drafts_vanish_after_their_lifetime(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    telegram_fake.config.draft_lifetime_s = 0.4
    chat_id = await private_chat_id(telegram_fake)
    await tg_bot.send_message_draft(chat_id, draft_id=5, text="thinking")
    assert [d["text"] for d in telegram_fake.visible_drafts(chat_id)] == ["thinking"]
    await asyncio.sleep(0.3)
    await tg_bot.send_message_draft(chat_id, draft_id=5, text="thinking more")  # an update keeps it alive
    await asyncio.sleep(0.25)
    assert [d["text"] for d in telegram_fake.visible_drafts(chat_id)] == ["thinking more"]
    await asyncio.sleep(0.25)
    assert telegram_fake.visible_drafts(chat_id) == []
    assert len(telegram_fake.drafts(chat_id)) == 2  # the log keeps every frame


async def test_a_5xx_may_come_after_the_message_was_shown(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    chat_id = await private_chat_id(telegram_fake)
    telegram_fake.fail_next(
        "sendMessage", error_code=500, description="Internal Server Error", after_delivery=True
    )
    with pytest.raises(TelegramServerError):
        await tg_bot.send_message(chat_id, "shown, yet failed")
    assert [m["text"] for m in telegram_fake.bot_messages(chat_id)] == ["shown, yet failed"]
    await tg_bot.send_message(chat_id, "shown, yet failed")  # a retry shows it twice
    assert len(telegram_fake.bot_messages(chat_id)) == 2


@asynccontextmanager
async def webhook_endpoint(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def test_webhook_deliveries_of_one_chat_may_overlap(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    telegram_fake.config.webhook_concurrent = True
    in_flight: list[int] = []
    peak = 0
    both_arrived = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        nonlocal peak
        in_flight.append((await request.json())["update_id"])
        peak = max(peak, len(in_flight))
        if len(in_flight) == 2:
            both_arrived.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_arrived.wait(), timeout=2.0)
        return web.json_response({})

    async with webhook_endpoint(slow) as url:
        user = await telegram_fake.create_user("Ann")
        chat_id = int((await telegram_fake.create_private_chat(user))["id"])
        await tg_bot.set_webhook(url, max_connections=5)
        await telegram_fake.send_user_message(chat_id, user, "one")
        await telegram_fake.send_user_message(chat_id, user, "two")
        await telegram_fake.wait_for(lambda: len(telegram_fake.webhook_deliveries()) == 2, timeout=5)
        await tg_bot.delete_webhook()
    assert peak == 2  # the same chat's two updates were at the bot at the same time


async def test_a_webhook_delivery_that_times_out_is_delivered_again(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    telegram_fake.config.webhook_timeout_s = 0.3
    arrivals: list[int] = []

    async def first_one_hangs(request: web.Request) -> web.Response:
        arrivals.append((await request.json())["update_id"])
        if len(arrivals) == 1:
            await asyncio.sleep(1.0)  # the bot is still at it when Telegram gives up and retries
        return web.json_response({})

    async with webhook_endpoint(first_one_hangs) as url:
        user = await telegram_fake.create_user("Ann")
        chat_id = int((await telegram_fake.create_private_chat(user))["id"])
        await tg_bot.set_webhook(url)
        await telegram_fake.send_user_message(chat_id, user, "hello")
        await telegram_fake.wait_for(lambda: len(arrivals) >= 2, timeout=5)
        await tg_bot.delete_webhook()
    assert arrivals[0] == arrivals[1]
    first, second = telegram_fake.webhook_deliveries()[:2]
    assert first["error"] == "Connection failed: TimeoutError" and second["attempt"] == 2
