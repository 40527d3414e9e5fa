"""The output limits' decision rule with a hand-driven clock, and the scheduler's order of turns."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

from bot.core.output_limits import (
    Grant,
    Kind,
    LocalOutputState,
    LocalOutputStore,
    OutputLimits,
    Priority,
    TurnRequest,
)
from bot.telegram.budget import OutputScheduler

FINAL, FIRST, FRAME = Priority.FINAL, Priority.FIRST_FRAME, Priority.FRAME
NO_MARGIN = OutputLimits(margin=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ask(
    state: LocalOutputState,
    chat_id: int,
    kind: Kind = Kind.MESSAGE,
    priority: Priority = FINAL,
    *,
    group: bool = False,
) -> Grant:
    return state.decide([TurnRequest(chat_id, kind, group, priority)])[0]


def test_a_chat_gets_its_burst_then_its_rate_with_the_margin() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(global_per_s=1000.0), clock)
    assert all(ask(state, 1).granted for _ in range(3))
    refused = ask(state, 1)
    assert not refused.granted and abs(refused.wait_s - 1 / 0.9) < 1e-9  # 10 % under 1/s
    assert ask(state, 2).granted  # another chat is independent
    clock.now += refused.wait_s
    assert ask(state, 1).granted


def test_frames_leave_the_last_message_token_to_the_final_text() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(global_per_s=1000.0), clock)
    assert ask(state, 1, priority=FIRST).granted
    assert ask(state, 1, priority=FRAME).granted
    assert not ask(state, 1, priority=FRAME).granted
    assert ask(state, 1, priority=FINAL).granted


def test_drafts_have_their_own_bucket() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(global_per_s=1000.0, margin=0.0), clock)
    assert all(ask(state, 1, Kind.DRAFT, FRAME).granted for _ in range(3))
    refused = ask(state, 1, Kind.DRAFT, FRAME)
    assert not refused.granted and abs(refused.wait_s - 0.5) < 1e-9  # 2 drafts a second
    assert ask(state, 1, Kind.MESSAGE).granted


def test_the_global_limit_spaces_calls_so_no_rolling_second_holds_more_than_the_rate() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(), clock)
    starts: list[float] = []
    for step in range(40):  # four seconds of 100 chats wanting a final text every 0.1 s
        grants = state.decide([TurnRequest(1000 * step + c, Kind.MESSAGE, False, FINAL) for c in range(10)])
        starts += [clock.now + g.wait_s for g in grants if g.granted]
        clock.now += 0.1
    starts.sort()
    busiest = max(sum(1 for s in starts[i:] if s - first < 1.0) for i, first in enumerate(starts))
    assert busiest == 27  # 30/s less the 10 % margin, never a burst on top
    assert all(b - a >= 1 / 27 - 1e-9 for a, b in itertools.pairwise(starts))


def test_frames_that_cannot_go_soon_are_refused_and_told_when_to_ask_again() -> None:
    clock = Clock()
    state = LocalOutputState(NO_MARGIN, clock)
    batch = [TurnRequest(chat, Kind.DRAFT, False, FRAME) for chat in range(10)]
    grants = state.decide(batch)
    granted = [g for g in grants if g.granted]
    refused = [g for g in grants if not g.granted]
    # The first slot is now, then one every 1/30 s: those within the 0.1 s horizon go.
    assert len(granted) == 4 and all(g.wait_s <= 0.1 + 1e-9 for g in granted)
    # The refused are told to come back one slot apart, not all at once.
    waits = [g.wait_s for g in refused]
    assert waits == sorted(waits) and len(set(waits)) == len(waits)
    # A first frame may book further ahead than a later one; a final text as far as it takes.
    first = ask(state, 100, Kind.DRAFT, FIRST)
    assert first.granted and 0.1 < first.wait_s <= 0.3
    final = state.decide([TurnRequest(200 + c, Kind.MESSAGE, False, FINAL) for c in range(30)])
    assert all(g.granted for g in final) and final[-1].wait_s > 1.0


def test_groups_keep_slots_of_their_minute_for_final_texts() -> None:
    clock = Clock()
    limits = OutputLimits(chat_burst=100, chat_per_s=100.0, group_per_minute=5, global_per_s=1000.0)
    state = LocalOutputState(limits, clock)
    assert ask(state, -5, priority=FIRST, group=True).granted
    assert ask(state, -5, priority=FRAME, group=True).granted
    assert not ask(state, -5, priority=FRAME, group=True).granted  # 3 of 5 stay for final texts
    assert all(ask(state, -5, group=True).granted for _ in range(3))
    refused = ask(state, -5, group=True)
    assert not refused.granted and refused.wait_s > 60  # the window, stretched by the margin
    assert ask(state, 5).granted  # a private chat has no window


def test_a_draft_429_halves_that_chats_draft_rate_which_recovers_slowly() -> None:
    clock = Clock()
    limits = OutputLimits(margin=0.0, recovery_s=100.0)
    state = LocalOutputState(limits, clock)
    state.penalise(1, Kind.DRAFT, 1)
    assert state.draft_factor(1) == 0.5 and state.draft_factor(2) == 1.0
    paused = ask(state, 1, Kind.DRAFT, FRAME)
    assert not paused.granted and abs(paused.wait_s - 1.05) < 1e-9  # retry_after + margin
    assert ask(state, 1, Kind.MESSAGE).granted  # the chat's messages are not paused
    clock.now += 1.05
    # The bucket was emptied by the 429 and refills at half the rate: one draft a second.
    assert ask(state, 1, Kind.DRAFT, FRAME).granted
    refused = ask(state, 1, Kind.DRAFT, FRAME)
    assert not refused.granted and 0.9 < refused.wait_s <= 1.0
    clock.now += 50.0
    assert 0.74 < state.draft_factor(1) < 0.76  # half of the loss back in half the recovery time
    clock.now += 60.0
    assert state.draft_factor(1) == 1.0
    assert state.global_factor() == 1.0  # one chat's 429 says nothing about the bot-wide limit


def test_429s_in_two_chats_at_once_lower_and_pause_the_global_rate() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(), clock)
    state.penalise(1, Kind.MESSAGE, 2)
    assert state.global_factor() == 1.0
    assert ask(state, 3).granted
    state.penalise(2, Kind.MESSAGE, 2)
    assert state.global_factor() == 0.75
    paused = ask(state, 4)
    assert not paused.granted and paused.wait_s > 1.9  # the whole bot waits
    clock.now += 2.1
    grants = state.decide([TurnRequest(10 + c, Kind.MESSAGE, False, FINAL) for c in range(3)])
    spacing = grants[2].wait_s - grants[1].wait_s
    assert abs(spacing - 1 / (30 * 0.9 * 0.75)) < 0.01  # the lowered rate


def test_a_migrated_group_keeps_its_spent_budget() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(global_per_s=1000.0), clock)
    for _ in range(3):
        assert ask(state, -5, group=True).granted
    state.move_chat(-5, -1005)
    assert not ask(state, -1005, group=True).granted
    assert ask(state, -5, group=True).granted  # the old id starts afresh


class RecordingStore(LocalOutputStore):
    def __init__(self) -> None:
        super().__init__(OutputLimits(global_per_s=1000.0))
        self.batches: list[list[TurnRequest]] = []

    async def decide(self, requests: Sequence[TurnRequest]) -> list[Grant]:
        self.batches.append(list(requests))
        return await super().decide(requests)


async def test_turns_granted_before_a_bot_wide_429_wait_for_its_end() -> None:
    scheduler = OutputScheduler.local()
    booked = await scheduler.request(1, Kind.MESSAGE, is_group=False, priority=FINAL)
    assert booked.granted and not scheduler.missed(booked)
    await scheduler.penalise(2, Kind.MESSAGE, 0.2)
    await scheduler.penalise(3, Kind.MESSAGE, 0.2)  # two chats at once: the whole bot
    assert scheduler.missed(booked)
    started = asyncio.get_running_loop().time()
    await scheduler.turn(1, Kind.MESSAGE, is_group=False)
    assert asyncio.get_running_loop().time() - started >= 0.2


async def test_requests_made_together_are_decided_together_by_priority_then_least_served_chat() -> None:
    store = RecordingStore()
    scheduler = OutputScheduler(store)
    await scheduler.turn(1, Kind.MESSAGE, is_group=False)  # chat 1 has been served recently
    store.batches.clear()
    await asyncio.gather(
        scheduler.request(1, Kind.DRAFT, is_group=False, priority=FRAME),
        scheduler.request(2, Kind.DRAFT, is_group=False, priority=FRAME),
        scheduler.request(3, Kind.DRAFT, is_group=False, priority=FIRST),
        scheduler.request(4, Kind.MESSAGE, is_group=False, priority=FINAL),
    )
    assert len(store.batches) == 1  # one store call (one Redis round trip) for all four
    assert [(r.chat_id, r.priority) for r in store.batches[0]] == [
        (4, FINAL),
        (3, FIRST),
        (2, FRAME),  # never served before chat 1
        (1, FRAME),
    ]


async def test_a_cancelled_request_does_not_stop_the_others() -> None:
    store = RecordingStore()
    scheduler = OutputScheduler(store)
    async with asyncio.TaskGroup() as tasks:
        cancelled = tasks.create_task(scheduler.request(1, Kind.MESSAGE, is_group=False, priority=FINAL))
        kept = tasks.create_task(scheduler.request(2, Kind.MESSAGE, is_group=False, priority=FINAL))
        await asyncio.sleep(0)
        cancelled.cancel()
    assert kept.result().granted and cancelled.cancelled()
    await scheduler.close()


async def test_a_frame_whose_caller_comes_back_late_for_its_turn_is_not_sent() -> None:
    scheduler = OutputScheduler.local(OutputLimits(late_drop_s=0.05))
    grant = await scheduler.request(1, Kind.DRAFT, is_group=False, priority=FIRST)
    assert grant.granted and not scheduler.missed(grant)
    await asyncio.sleep(0.08)  # an event loop busy elsewhere: the slot has passed
    assert scheduler.missed(grant) and scheduler.late_turns == 1
