"""Several replicas and hard faults, checked from outside: real `python -m bot` processes in webhook
mode behind a round-robin balancer, the Telegram fake delivering webhooks (and retrying failed
deliveries as Telegram does), one replica killed with SIGKILL or stopped with SIGTERM mid-answer, and
Redis stopped and started again under a running bot."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiogram import Bot

from bot.core.lanes import NewJob
from bot.core.models import ConversationKey, Question
from bot.storage.keys import Namespace
from bot.storage.lanes import RedisLaneStore
from bot.telegram.answers import AnswerJob
from bot.telegram.delivery import Destination
from bot.telegram.jobs import lane_name
from tests.e2e.harness import Stack, final_texts
from tests.e2e.settling import until_idle, until_replicas_idle
from tests.support.balancer import Balancer
from tests.support.net import free_port
from tests.support.redis_server import RedisServer
from tests.support.replicas import ReplicaProcess, running_replicas

# Real processes start slowly on a loaded machine (see ReplicaProcess.ready_timeout): more than the
# suite's default 120 s per test.
pytestmark = pytest.mark.timeout(300)

SECRET = "replica-secret"
BOT = "@test_assistant_bot"
SLOW = "emu:echo emu:slow=60 emu:long=400"  # about 3 s of streaming per answer


@contextlib.asynccontextmanager
async def replicas(
    stack: Stack, tmp_path: Path, names: list[str], **settings: str
) -> AsyncIterator[tuple[Balancer, dict[str, ReplicaProcess]]]:
    ports = {name: free_port() for name in names}
    balancer = Balancer([f"http://127.0.0.1:{port}" for port in ports.values()])
    async with balancer.running():
        processes = {
            name: ReplicaProcess(
                name,
                port,
                stack.replica_env(
                    public_url=f"{balancer.base_url}/telegram/hook",
                    port=port,
                    secret=SECRET,
                    **{"reply_format": "classic", "lane_lock_seconds": "4", **settings},
                ),
                tmp_path / f"{name}.log",
            )
            for name, port in ports.items()
        }
        async with running_replicas(processes.values()):
            yield balancer, processes


def answered_questions(texts: list[str]) -> list[str]:
    """Which question each visible bot message answers ("c2 q3"), in message order."""
    found: list[str] = []
    for text in texts:
        match = re.search(r"\bc\d+ q\d+\b", text)
        found.append(match.group(0) if match else f"<unexpected: {text[:80]!r}>")
    return found


def answers_in(stack: Stack, chat_id: int) -> list[str]:
    """The bot's visible answers in a chat (a group's greeting on joining is not an answer)."""
    return [
        m["text"] or ""
        for m in stack.telegram.bot_messages(chat_id)
        if not m["deleted"] and (chat_id > 0 or m["reply_to_message_id"] is not None)
    ]


def streaming(stack: Stack) -> int:
    return sum(1 for r in stack.yandex.responses(limit=200) if r["status"] == "in_progress")


async def test_two_replicas_answer_every_message_once_in_order_while_one_is_killed_and_restarted(
    stack: Stack, tmp_path: Path
) -> None:
    users = [await stack.telegram.create_user(f"User{i}") for i in range(3)]
    chats: list[tuple[int, dict[str, Any], str]] = []
    for user in users:
        chats.append(((await stack.telegram.create_private_chat(user))["id"], user, ""))
    team = await stack.telegram.create_group("Team", supergroup=True, members=users)
    chats.append((team["id"], users[0], f"{BOT} "))

    async def ask_round(number: int) -> None:
        for index, (chat_id, user, prefix) in enumerate(chats):
            await stack.telegram.send_user_message(chat_id, user, f"{prefix}c{index} q{number} {SLOW}")

    def all_answered(rounds: int) -> bool:
        return all(len(answered_questions(answers_in(stack, chat_id))) >= rounds for chat_id, *_ in chats)

    async with replicas(stack, tmp_path, ["a", "b"]) as (balancer, processes):
        await ask_round(1)
        await stack.telegram.wait_for(lambda: streaming(stack) >= len(chats), timeout=20)
        await asyncio.sleep(1.0)  # answers are half-way: private drafts, and a group message being edited
        await processes["a"].kill()
        await ask_round(2)  # some deliveries reach the dead replica: 502, then Telegram retries
        await asyncio.sleep(2.0)
        await processes["a"].start()
        await ask_round(3)
        await stack.telegram.wait_for(lambda: all_answered(3), timeout=90)
        await until_replicas_idle(stack)  # nothing more may arrive: no second answer, no leftover

    for index, (chat_id, *_) in enumerate(chats):
        texts = answers_in(stack, chat_id)
        assert answered_questions(texts) == [f"c{index} q1", f"c{index} q2", f"c{index} q3"], texts
        visible = [m for m in stack.telegram.bot_messages(chat_id) if not m["deleted"]]
        assert all("Stop" not in str(m["reply_markup"]) for m in visible)
    assert processes["a"].exit_codes[0] == -9
    assert balancer.statuses.get(502, 0) >= 1, "the killed replica was in the rotation"
    assert "resuming an answer interrupted by a restart" in (
        processes["a"].log_tail(400) + processes["b"].log_tail(400)
    )


async def test_sigterm_mid_answer_finalizes_it_exits_0_and_the_queued_question_is_answered_after(
    stack: Stack, tmp_path: Path
) -> None:
    user = await stack.telegram.create_user("Ann")
    chat_id = (await stack.telegram.create_private_chat(user))["id"]
    async with replicas(stack, tmp_path, ["solo"], shutdown_deadline_seconds="1") as (_, processes):
        await stack.telegram.send_user_message(chat_id, user, "c0 q1 emu:echo emu:slow=100 emu:long=2000")
        await stack.telegram.send_user_message(chat_id, user, f"c0 q2 {SLOW}")
        await stack.telegram.wait_for(lambda: streaming(stack) == 1, timeout=20)
        await asyncio.sleep(0.5)
        assert await processes["solo"].terminate() == 0
        cut = final_texts(stack.telegram, chat_id)
        assert len(cut) == 1 and cut[0].startswith("c0 q1"), cut
        assert "restarting" in cut[0], "the cut answer carries a note"
        assert "lost the lock" not in processes["solo"].log_tail(400)
        await processes["solo"].start()  # the next start finds the queued question and answers it
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2, timeout=30)
        await until_replicas_idle(stack)
    texts = final_texts(stack.telegram, chat_id)
    assert answered_questions(texts) == ["c0 q1", "c0 q2"], texts
    assert stack.telegram.calls("deleteWebhook") == []


async def test_redis_lost_mid_run_gives_a_clear_notice_and_the_bot_recovers_without_restart(
    stack: Stack,
) -> None:
    server = RedisServer(free_port())
    await server.start()
    try:
        async with stack.bot(redis_url=server.url, reply_format="classic") as app:
            user = await stack.telegram.create_user("Ann")
            chat_id = (await stack.telegram.create_private_chat(user))["id"]
            await stack.telegram.send_user_message(chat_id, user, "before emu:echo")
            await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 1)
            await until_idle(stack, app)  # the answer's bookkeeping after its final text

            await server.stop()
            await stack.telegram.send_user_message(chat_id, user, "during emu:echo")
            await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) == 2, timeout=20)
            assert "temporarily unavailable" in final_texts(stack.telegram, chat_id)[1]

            await server.start()  # same port, empty: the bot reconnects by itself
            await stack.telegram.send_user_message(chat_id, user, "after emu:echo")
            await stack.telegram.wait_for(
                lambda: any(t.startswith("after") for t in final_texts(stack.telegram, chat_id)), timeout=20
            )
            await until_idle(stack, app)
        texts = final_texts(stack.telegram, chat_id)
        assert len(texts) == 3 and texts[2].startswith("after"), texts
        assert not any("Traceback" in text or "Error" in text for text in texts)
    finally:
        await server.stop()


async def test_stop_pressed_on_one_replica_stops_the_answer_streaming_on_the_other(stack: Stack) -> None:
    ports = [free_port(), free_port()]
    balancer = Balancer([f"http://127.0.0.1:{port}" for port in ports])
    async with balancer.running(), contextlib.AsyncExitStack() as bots:
        apps = []
        for port in ports:
            apps.append(
                await bots.enter_async_context(
                    stack.bot(
                        bot_mode="webhook",
                        webhook_url=f"{balancer.base_url}/telegram/hook",
                        webhook_secret=SECRET,
                        webhook_host="127.0.0.1",
                        webhook_port=port,
                        reply_format="classic",
                    )
                )
            )
        ann = await stack.telegram.create_user("Ann")
        team = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
        await stack.telegram.send_user_message(team, ann, f"{BOT} c0 q1 emu:echo emu:slow=60 emu:long=3000")

        def with_stop_button() -> list[dict[str, Any]]:
            return [m for m in stack.telegram.bot_messages(team) if m["reply_markup"] is not None]

        await stack.telegram.wait_for(lambda: bool(with_stop_button()), timeout=20)
        owner = next(index for index, app in enumerate(apps) if len(app.runtime.services.active) == 1)
        balancer.pinned = 1 - owner  # the button press reaches the replica that does not run the answer
        answer = with_stop_button()[0]
        data = answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await stack.telegram.press_button(team, answer["message_id"], data, user=ann)
        await stack.telegram.wait_for(
            lambda: stack.yandex.responses()[-1]["client_disconnected_at"] is not None, timeout=10
        )
        await stack.telegram.wait_for(lambda: not with_stop_button(), timeout=10)
    final = answers_in(stack, team)
    assert len(final) == 1 and final[0].endswith("Stopped."), final
    callbacks = stack.telegram.callback_answers()
    assert callbacks and "Stopped" in str(callbacks[0]["answer"])


@pytest.mark.parametrize(("earlier_runs", "died_sending"), [(1, False), (2, False), (1, True)])
async def test_an_interrupted_answer_is_replaced_once_never_shown_twice(
    stack: Stack, redis_client: aioredis.Redis, tg_bot: Bot, earlier_runs: int, died_sending: bool
) -> None:
    """A replica died mid-answer (here: `earlier_runs` times), leaving a partial answer on screen.
    The replica that resumes the job removes it, then answers again — or, after a second
    interruption, apologises instead of trying a third time; or, when the replica died sending a
    message whose id it never recorded (that message may be on screen), apologises at once."""
    ann = await stack.telegram.create_user("Ann")
    team = (await stack.telegram.create_group("Team", supergroup=True, members=[ann]))["id"]
    # Not addressed to the bot, so only the queued job (as if from an earlier delivery) answers it.
    question = await stack.telegram.send_user_message(team, ann, "c0 q1 emu:echo")
    partial = await tg_bot.send_message(team, "c0 q1 — a partial answer…")

    settings = stack.settings()
    store = RedisLaneStore(redis_client, Namespace(settings.bot_id))
    dest = Destination(chat_id=team, is_group=True, reply_to=question["message_id"])
    job = AnswerJob(
        question=Question(key=ConversationKey(team), text="c0 q1 emu:echo", author="Ann"),
        dest=dest,
        asker_id=ann["id"],
        received_at=time.time(),
        answer_id=77,
        correlation="9001",
    )
    lane = lane_name(ConversationKey(team))
    await store.enqueue(
        lane, NewJob("answer:9001", "answer", job.to_json(), 9001), max_jobs=5, owner="dead", lock_seconds=1.0
    )
    for _ in range(earlier_runs):
        claim = await store.next(lane, "dead", done=None, order_grace=0)
        assert claim.job is not None
    await store.message_shown("answer:9001", partial.message_id)
    if died_sending:
        await store.message_sending("answer:9001")

    async with stack.bot(reply_format="classic", lane_lock_seconds=3) as app:
        await stack.telegram.wait_for(lambda: len(answers_in(stack, team)) == 1, timeout=20)
        await until_idle(stack, app)
    texts = answers_in(stack, team)
    assert len(texts) == 1, texts
    removed = [m for m in stack.telegram.bot_messages(team) if m["message_id"] == partial.message_id]
    assert removed and removed[0]["deleted"], "the partial answer is gone"
    if died_sending:
        assert "while I was sending" in texts[0], texts
        assert stack.yandex.responses() == [], "not answered a second time"
    elif earlier_runs == 1:
        assert texts[0].startswith("⟦author: Ann⟧\nc0 q1"), texts
        assert len(stack.yandex.responses()) == 1
    else:
        assert "interrupted" in texts[0], texts
        assert stack.yandex.responses() == [], "no third attempt"
