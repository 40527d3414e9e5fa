"""What a run measures: the load scenarios and the bots under test."""

from __future__ import annotations

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
    kind: Literal["private", "groups"]
    chats: int
    questions_per_chat: int
    timeout_s: float
    """Longest wait for every answer to arrive after the questions were sent."""
    answer_chars: int = ANSWER_CHARS
    bots: tuple[str, ...] = ()
    """Keys of the bots to run (empty: all)."""

    @property
    def answers(self) -> int:
        return self.chats * self.questions_per_chat

    @property
    def description(self) -> str:
        if self.kind == "private":
            return f"{self.chats} concurrent private chat{'s' if self.chats != 1 else ''}, one question each"
        return (
            f"{self.chats} busy groups, {self.questions_per_chat} members each asking the bot "
            "(by mention) at the same time"
        )


FULL = (
    Scenario("private-1", "private", chats=1, questions_per_chat=1, timeout_s=30),
    Scenario("private-100", "private", chats=100, questions_per_chat=1, timeout_s=60),
    Scenario("private-1000", "private", chats=1000, questions_per_chat=1, timeout_s=150),
    Scenario("groups-50", "groups", chats=50, questions_per_chat=4, timeout_s=120),
)
QUICK = (
    Scenario("private-10", "private", chats=10, questions_per_chat=1, timeout_s=20),
    Scenario("groups-3", "groups", chats=3, questions_per_chat=2, timeout_s=30, bots=("ours",)),
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
