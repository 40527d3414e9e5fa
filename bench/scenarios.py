"""What a run measures: the load scenarios and the bots under test."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from bench.fakes import ModelStream

MODEL_STREAM = ModelStream(first_delta_delay_s=0.15, chars_per_second=200.0)
"""A realistic but fast model: first words after 150 ms, then about 50 tokens/s in word-sized deltas."""
ANSWER_CHARS = 500
"""`emu:long=500`: answers of about 500 characters (±20 %), about 2.5 s of streaming each."""
WARM_UP_CHARS = 200


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: Literal["private", "groups", "sustained"]
    chats: int
    questions_per_chat: int
    timeout_s: float
    """Longest wait for every answer to arrive after the (last) question was sent."""
    answer_chars: int = ANSWER_CHARS
    bots: tuple[str, ...] = ()
    """Keys of the bots to run (empty: all)."""
    arrivals_s: tuple[float, ...] = ()
    """Sustained load: when each question is asked, in seconds from the first (one private chat each)."""
    rate_per_second: float = 0.0
    duration_s: float = 0.0

    @property
    def answers(self) -> int:
        return self.chats * self.questions_per_chat

    @property
    def description(self) -> str:
        if self.kind == "sustained":
            return (
                f"questions arriving at random (Poisson) at {self.rate_per_second:g}/s for "
                f"{self.duration_s:g} s: {self.chats} private chats, one question each"
            )
        if self.kind == "private":
            return f"{self.chats} concurrent private chat{'s' if self.chats != 1 else ''}, one question each"
        return (
            f"{self.chats} busy groups, {self.questions_per_chat} members each asking the bot "
            "(by mention) at the same time"
        )


def sustained(rate_per_second: float, duration_s: float, *, seed: int = 13, name: str = "") -> Scenario:
    """Questions arriving as a Poisson process (exponential gaps, a fixed seed: every run and every
    bot gets the same arrivals), each in a private chat of its own; this bot only."""
    rng = random.Random(seed * 1000 + round(rate_per_second * 10))
    arrivals: list[float] = []
    at = rng.expovariate(rate_per_second)
    while at < duration_s:
        arrivals.append(round(at, 4))
        at += rng.expovariate(rate_per_second)
    return Scenario(
        name or f"sustained-{rate_per_second:g}",
        "sustained",
        chats=len(arrivals),
        questions_per_chat=1,
        timeout_s=60,
        bots=("ours",),
        arrivals_s=tuple(arrivals),
        rate_per_second=rate_per_second,
        duration_s=duration_s,
    )


FULL = (
    Scenario("private-20", "private", chats=20, questions_per_chat=1, timeout_s=30),
    Scenario("private-200", "private", chats=200, questions_per_chat=1, timeout_s=60),
    Scenario("private-1000", "private", chats=1000, questions_per_chat=1, timeout_s=150),
    Scenario("groups-50", "groups", chats=50, questions_per_chat=4, timeout_s=120),
    sustained(5, 60),
    sustained(10, 60),
    sustained(20, 60),
)
QUICK = (
    Scenario("private-10", "private", chats=10, questions_per_chat=1, timeout_s=20),
    Scenario("groups-3", "groups", chats=3, questions_per_chat=2, timeout_s=30, bots=("ours",)),
    sustained(5, 10, name="sustained-5-10s"),
)


@dataclass(frozen=True, slots=True)
class BotUnderTest:
    key: str
    label: str
    module: str
    env: dict[str, str] = field(default_factory=dict)
    counts_redis: bool = False


OURS = BotUnderTest("ours", "this bot", "bench.instrumented_bot", counts_redis=True)
NAIVE = BotUnderTest("naive", "naive: send when complete", "bench.baselines.naive")
EDIT_EVERY_N = BotUnderTest(
    "edit100", "edit every 100 chars", "bench.baselines.edit_every_n", env={"EDIT_EVERY_CHARS": "100"}
)
BOTS = (OURS, NAIVE, EDIT_EVERY_N)
