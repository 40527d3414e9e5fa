"""Run-time settings of the Yandex AI Studio emulator.

One mutable object per running emulator: handlers read it on every request, so a test may change a
value (say ``first_delta_delay = 0.0``) while the server runs and the next request obeys it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DAY_SECONDS = 24 * 3600

UsageMode = Literal["real", "zero", "null"]


@dataclass
class EmulatorConfig:
    """Knobs of the emulator; the defaults imitate the real service at a test-friendly pace."""

    api_keys: frozenset[str] | None = None
    """Accepted API keys; ``None`` accepts any non-empty key."""
    first_delta_delay: float = 0.15
    """Seconds from the start of a response to its first text delta."""
    chars_per_second: float = 200.0
    """Pace of the text deltas after the first one."""
    indexing_delay: float = 0.3
    """Seconds a file attached to a vector store stays ``in_progress``."""
    response_ttl: float = 30 * DAY_SECONDS
    """Seconds a stored response stays retrievable and chainable (Yandex keeps them 30 days)."""
    vector_store_quota: int = 150
    """Live (not expired, not deleted) vector stores the folder may hold (Yandex's default quota)."""
    poll_after_ms: int = 50
    """Value of the ``openai-poll-after-ms`` hint on vector-store reads; the openai polling helpers obey it."""
    max_file_bytes: int = 128 * 1024 * 1024
    """Largest accepted upload (Yandex: 128 MB)."""
    models: tuple[str, ...] | None = None
    """Model names served (``--models a,b,c``): listed by ``GET /v1/models``, the only ones a request may
    name, each answer saying which one wrote it. ``None``: a fixed list is shown and any name accepted."""
    context_tokens: int = 32768
    """The model's context: a request whose instructions, chain, input and search results exceed this
    many tokens (the emulator's estimate) fails with 400 "exceeded prompt length" (Yandex's text
    models: 32,768, ``concepts/generation/models.md``)."""
    usage: UsageMode = "real"
    """What ``usage`` holds in responses: ``real`` (the estimate), ``zero`` (all zeros) or ``null``;
    Yandex's own examples show both of the latter."""
