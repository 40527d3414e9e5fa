"""Prometheus metrics: one registry per process, exposed at /metrics (see bot.web).

Label values are small fixed sets (outcomes, error kinds): never chat ids or texts.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.answers = Counter("bot_answers_total", "Answers by outcome", ["outcome"], registry=r)
        self.answer_seconds = Histogram(
            "bot_answer_seconds", "From the question to the final text", buckets=LATENCY_BUCKETS, registry=r
        )
        self.first_visible_seconds = Histogram(
            "bot_first_visible_text_seconds",
            "From the question to the first visible text of the answer",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.telegram_errors = Counter(
            "bot_telegram_errors_total", "Bot API errors by kind", ["kind"], registry=r
        )
        self.telegram_429 = Counter(
            "bot_telegram_429_total", "Too Many Requests answers from Telegram", registry=r
        )
        self.telegram_late_turns = Counter(
            "bot_telegram_late_turns_total",
            "Turns of the output scheduler not used because the call would have left over 50 ms after "
            "its slot (a busy event loop)",
            registry=r,
        )
        self.provider_errors = Counter(
            "bot_provider_errors_total", "Yandex AI Studio errors by kind", ["kind"], registry=r
        )
        self.tokens = Counter(
            "bot_tokens_total",
            "Tokens used, from the responses' usage (estimated when none was reported)",
            ["direction"],
            registry=r,
        )
        self.context_rollovers = Counter(
            "bot_context_rollovers_total",
            "Conversations moved into a new chain (summary + recent turns), by reason",
            ["reason"],
            registry=r,
        )
        self.documents = Counter(
            "bot_documents_indexed_total", "Documents by indexing result", ["result"], registry=r
        )
        self.budget_refusals = Counter(
            "bot_budget_refusals_total",
            "Questions refused because a daily token budget was spent",
            registry=r,
        )
        self.lanes_active = Gauge(
            "bot_lanes_active",
            "Conversation lanes this replica is working (running or queued jobs)",
            registry=r,
        )
        self.active_streams = Gauge("bot_active_streams", "Answers being streamed right now", registry=r)
        self.provider_breaker = Gauge(
            "bot_provider_breaker_state",
            "Circuit breaker of the model provider in this process: 0 closed, 1 half-open, 2 open",
            registry=r,
        )

    def track_queue(self, lanes: Callable[[], int], active: Callable[[], int]) -> None:
        """Gauges read live values when scraped."""
        self.lanes_active.set_function(lambda: float(lanes()))
        self.active_streams.set_function(lambda: float(active()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
