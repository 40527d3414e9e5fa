"""The output limits' decision rule with a hand-driven clock, and the scheduler's order of turns."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import time
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
from bot.metrics import Metrics
from bot.telegram.budget import MAX_LEAD_S, OutputScheduler

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


def test_turns_are_booked_only_as_far_ahead_as_their_prioritys_horizon() -> None:
    clock = Clock()
    limits = OutputLimits(margin=0.0, final_horizon_s=0.2, first_frame_horizon_s=0.1, frame_horizon_s=0.05)
    state = LocalOutputState(limits, clock)
    interval = 1 / 30
    for priority, horizon in ((FRAME, 0.05), (FIRST, 0.1), (FINAL, 0.2)):
        clock.now += 10.0  # a fresh start: the next global slot is now
        grants = state.decide(
            [TurnRequest(100 * priority + c, Kind.DRAFT, False, priority) for c in range(10)]
        )
        granted = [g for g in grants if g.granted]
        # Slots are now, then one every 1/30 s: exactly those within the priority's horizon go.
        assert len(granted) == math.floor(horizon / interval + 1e-9) + 1, priority
        assert [round(g.wait_s, 6) for g in granted] == [round(i * interval, 6) for i in range(len(granted))]
        refused = [g for g in grants if not g.granted]
        # The rest learn that the whole bot is booked up, and when the next slot comes within reach.
        next_slot = len(granted) * interval
        assert all(g.bot_wide and abs(g.wait_s - (next_slot - horizon)) < 1e-9 for g in refused)
    # Asking later, by as much more as the queue was told to wait, gets the next slot.
    clock.now += next_slot - 0.2
    assert ask(state, 999, Kind.DRAFT, FINAL).granted


def test_a_lead_books_further_ahead_and_a_bot_wide_pause_refuses_everyone() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(margin=0.0, frame_horizon_s=0.0), clock)
    grants = state.decide([TurnRequest(c, Kind.DRAFT, False, FRAME) for c in range(5)], lead_s=0.1)
    assert [g.granted for g in grants] == [True, True, True, True, False]
    state.penalise(1, Kind.MESSAGE, 1)
    state.penalise(2, Kind.MESSAGE, 1)  # two chats at once: the whole bot
    paused = state.decide([TurnRequest(3, Kind.MESSAGE, False, FINAL)])[0]
    assert not paused.granted and paused.bot_wide and paused.wait_s > 1.0


def test_a_chats_own_limits_refuse_it_alone() -> None:
    clock = Clock()
    state = LocalOutputState(OutputLimits(global_per_s=1000.0), clock)
    for _ in range(3):
        assert ask(state, 1).granted
    refused = ask(state, 1)
    assert not refused.granted and not refused.bot_wide  # this chat waits; the queue moves on
    assert ask(state, 2).granted


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
    def __init__(self, limits: OutputLimits | None = None) -> None:
        super().__init__(limits or OutputLimits(global_per_s=1000.0))
        self.batches: list[list[TurnRequest]] = []

    async def decide(self, requests: Sequence[TurnRequest], lead_s: float = 0.0) -> list[Grant]:
        self.batches.append(list(requests))
        return await super().decide(requests, lead_s)


async def granted_in_order(
    scheduler: OutputScheduler, requests: Sequence[tuple[int, Priority]], *, kind: Kind = Kind.MESSAGE
) -> list[int]:
    """Queue the requests in this order, all at once; → their chats in the order their turns come."""
    order: list[int] = []

    async def wait_for_turn(chat_id: int, priority: Priority) -> None:
        await scheduler.turn(chat_id, kind, is_group=False, priority=priority)
        order.append(chat_id)

    async with asyncio.TaskGroup() as tasks:
        for chat_id, priority in requests:
            tasks.create_task(wait_for_turn(chat_id, priority))
    return order


async def test_turns_granted_before_a_bot_wide_429_wait_for_its_end() -> None:
    scheduler = OutputScheduler.local()
    booked = await scheduler.acquire(1, Kind.MESSAGE, is_group=False, priority=FINAL)
    assert booked is not None and booked.granted and not scheduler.missed(booked)
    await scheduler.penalise(2, Kind.MESSAGE, 0.2)
    await scheduler.penalise(3, Kind.MESSAGE, 0.2)  # two chats at once: the whole bot
    assert scheduler.missed(booked)
    started = asyncio.get_running_loop().time()
    await scheduler.turn(1, Kind.MESSAGE, is_group=False)
    assert asyncio.get_running_loop().time() - started >= 0.2


async def test_while_the_whole_bot_is_paused_the_queue_waits_without_asking_again() -> None:
    store = RecordingStore(OutputLimits())
    scheduler = OutputScheduler(store)
    for _ in range(3):
        await scheduler.turn(1, Kind.MESSAGE, is_group=False)
    # Chat 1 has spent its burst: its next text waits about a second, and keeps the queue running.
    keeps_the_queue_running = asyncio.create_task(scheduler.turn(1, Kind.MESSAGE, is_group=False))
    await asyncio.sleep(0.05)
    await scheduler.penalise(2, Kind.MESSAGE, 0.3)
    await scheduler.penalise(3, Kind.MESSAGE, 0.3)
    store.batches.clear()
    waiting = [
        asyncio.create_task(scheduler.turn(10 + c, Kind.MESSAGE, is_group=False, priority=p))
        for c, p in enumerate((FINAL, FIRST, FRAME, FINAL))
    ]
    await asyncio.sleep(0.2)
    assert store.batches == [] and not any(task.done() for task in waiting)
    await asyncio.gather(*waiting)
    # Once the pause is over, the four go at the global rate: a handful of decisions, not a spin.
    assert 1 <= len(store.batches) <= 8
    await keeps_the_queue_running


async def test_the_line_is_by_priority_then_by_how_long_the_chat_has_waited() -> None:
    no_booking_ahead = OutputLimits(
        global_per_s=10.0, margin=0.0, final_horizon_s=0.0, first_frame_horizon_s=0.0, frame_horizon_s=0.0
    )
    scheduler = OutputScheduler(RecordingStore(no_booking_ahead))
    await scheduler.turn(5, Kind.MESSAGE, is_group=False)  # chat 5 is served; the next slot is 0.1 s away
    first_frame = scheduler.acquire(6, Kind.MESSAGE, is_group=False, priority=FIRST)
    await asyncio.sleep(0.02)
    first_frame.cancel()  # chat 6's answer finished before its first frame could go: it still waits
    order = await granted_in_order(
        scheduler, [(1, FRAME), (2, FRAME), (3, FIRST), (4, FINAL), (5, FRAME), (6, FINAL)]
    )
    # Final texts first, and of those the chat that has waited longest, although it asked last;
    # then the first frame; then later frames, the chat served just before last.
    assert order == [6, 4, 3, 1, 2, 5]


async def test_a_chat_served_lately_waits_behind_one_that_was_not_although_it_asked_first() -> None:
    no_booking_ahead = OutputLimits(
        global_per_s=10.0, margin=0.0, final_horizon_s=0.0, first_frame_horizon_s=0.0, frame_horizon_s=0.0
    )
    scheduler = OutputScheduler(RecordingStore(no_booking_ahead))
    await scheduler.turn(7, Kind.MESSAGE, is_group=False)  # chat 7's draft was just shown
    order: list[int] = []

    async def final_text(chat_id: int) -> None:
        await scheduler.turn(chat_id, Kind.MESSAGE, is_group=False)
        order.append(chat_id)

    served_lately = asyncio.create_task(final_text(7))  # asks first, waiting for the next slot
    await asyncio.sleep(0.03)
    shows_nothing_yet = asyncio.create_task(final_text(8))
    await asyncio.gather(served_lately, shows_nothing_yet)
    assert order == [8, 7]  # the chat whose user sees nothing of an answer goes first


async def test_a_final_text_overtakes_frames_that_have_waited_long() -> None:
    scheduler = OutputScheduler(RecordingStore(OutputLimits(global_per_s=20.0, margin=0.0)))
    order: list[int] = []

    async def frame(chat_id: int) -> None:
        await scheduler.turn(chat_id, Kind.DRAFT, is_group=False, priority=FIRST)
        order.append(chat_id)

    frames = [asyncio.create_task(frame(c)) for c in range(1, 21)]  # a second's worth of first frames
    await asyncio.sleep(0.2)
    await scheduler.turn(99, Kind.MESSAGE, is_group=False)  # nothing was booked far ahead of it
    order.append(99)
    await asyncio.gather(*frames)
    assert 2 <= order.index(99) <= 8


async def test_an_unused_turn_keeps_the_chats_place_in_line() -> None:
    scheduler = OutputScheduler(RecordingStore(OutputLimits(global_per_s=10.0, margin=0.0)))
    early = await scheduler.acquire(1, Kind.DRAFT, is_group=False, priority=FIRST)
    assert early is not None and early.granted
    scheduler.unused(1, early)  # e.g. the answer finished while its frame waited for the slot
    await asyncio.sleep(0.01)
    order = await granted_in_order(scheduler, [(2, FINAL), (3, FINAL), (1, FINAL)])
    assert order == [1, 2, 3]


async def test_a_request_leaves_the_line_when_cancelled_and_one_with_patience_gives_up() -> None:
    store = RecordingStore(OutputLimits(global_per_s=2.0, margin=0.0))
    scheduler = OutputScheduler(store)
    await scheduler.turn(1, Kind.MESSAGE, is_group=False)  # the next global slot is half a second away
    left = scheduler.acquire(2, Kind.MESSAGE, is_group=False, priority=FINAL)
    left.cancel()
    assert not await scheduler.try_turn(3, Kind.DRAFT, is_group=False, priority=FRAME)  # 0.3 s of patience
    kept = await scheduler.acquire(4, Kind.MESSAGE, is_group=False, priority=FINAL)
    assert kept is not None and kept.granted
    assert all(request.chat_id != 2 for batch in store.batches for request in batch)
    await scheduler.close()


async def test_a_frame_whose_caller_comes_back_late_for_its_turn_is_not_sent() -> None:
    limits = OutputLimits(late_drop_s=0.05)
    metrics = Metrics()
    scheduler = OutputScheduler(LocalOutputStore(limits), limits, metrics)
    grant = await scheduler.acquire(1, Kind.DRAFT, is_group=False, priority=FIRST)
    assert grant is not None and grant.granted and not scheduler.missed(grant)
    await asyncio.sleep(0.08)  # an event loop busy elsewhere: the slot has passed
    assert scheduler.missed(grant) and scheduler.late_turns == 1
    assert b"bot_telegram_late_turns_total 1.0" in metrics.exposition()


def test_callers_aim_a_little_before_their_slot_and_within_the_bound_no_second_overflows() -> None:
    limits = OutputLimits()
    scheduler = OutputScheduler.local(limits)
    booked = Grant(True, 0.5, decided_at=time.monotonic())
    assert 0.5 - limits.early_leave_s - 0.01 < scheduler.until_turn(booked) <= 0.5 - limits.early_leave_s
    # Slots 1/27 s apart; the worst case for a rolling second is calls leaving as late as allowed
    # followed by calls leaving as early as aimed: still no more than 30 (the docstring's bound).
    slots = [k / 27 for k in range(200)]
    late_then_early = sorted(
        [s + limits.late_drop_s for s in slots[:100]] + [s - limits.early_leave_s for s in slots[100:]]
    )
    busiest = max(
        bisect.bisect_left(late_then_early, start + 1.0) - i for i, start in enumerate(late_then_early)
    )
    assert busiest <= 30


async def test_a_slow_store_gets_its_turns_booked_about_one_decision_ahead() -> None:
    class SlowStore(RecordingStore):
        def __init__(self, limits: OutputLimits) -> None:
            super().__init__(limits)
            self.leads: list[float] = []

        async def decide(self, requests: Sequence[TurnRequest], lead_s: float = 0.0) -> list[Grant]:
            self.leads.append(lead_s)
            await asyncio.sleep(0.05)  # a busy Redis, or a busy event loop reading its reply
            return await super().decide(requests, lead_s)

    store = SlowStore(
        OutputLimits(global_per_s=20.0, margin=0.0, final_horizon_s=0.0, first_frame_horizon_s=0.0)
    )
    scheduler = OutputScheduler(store)
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(scheduler.turn(c, Kind.MESSAGE, is_group=False) for c in range(20)))
    elapsed = asyncio.get_running_loop().time() - started
    assert store.leads[0] == 0.0 and 0.03 < store.leads[-1] <= MAX_LEAD_S
    # 20 turns at 20 a second take about a second; with nothing booked ahead of a slow round trip,
    # slots pass while each decision travels, and they took about 2 s.
    assert elapsed < 1.3
