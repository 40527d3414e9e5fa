"""Run-time settings of the Yandex AI Studio emulator.

One mutable object per running emulator: handlers read it on every request, so a test may change a
value (say ``first_delta_delay = 0.0``) while the server runs and the next request obeys it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .iam import ServiceAccountKey

DAY_SECONDS = 24 * 3600
DEFAULT_VISION_MODELS = ("gemma-3",)
"""Yandex lists one image-capable model, Gemma 3 27B (ai-studio/concepts/generation/models.md)."""

UsageMode = Literal["real", "zero", "null"]


@dataclass
class EmulatorConfig:
    """Knobs of the emulator; the defaults imitate the real service at a test-friendly pace."""

    api_keys: frozenset[str] | None = None
    """Accepted API keys (``--api-key``; ``Bearer`` or ``Api-Key`` scheme); ``None`` accepts any non-empty
    key. Live IAM tokens issued by the emulator are accepted as ``Bearer`` either way."""
    folder_id: str | None = None
    """The service account's folder (``--folder``): any other folder in a model URI or in the
    ``OpenAI-Project`` header gets 400; ``None`` accepts any folder. ``GET /v1/models`` lists models in it."""
    service_account_keys: tuple[ServiceAccountKey, ...] = field(default_factory=tuple)
    """Authorized keys whose JWTs ``POST /iam/v1/tokens`` exchanges for IAM tokens (``--sa-key-file``)."""
    iam_token_ttl: float = 12 * 3600.0
    """Lifetime of issued IAM tokens (``--iam-token-ttl``); Yandex: at most 12 hours."""
    serve_metadata: bool = False
    """Also serve the metadata service's token endpoint on the IAM port (``--metadata``)."""
    metadata_service_account_id: str = "ajemetadataaccount00"
    """The service account whose tokens the metadata endpoint hands out."""
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
    vision_models: tuple[str, ...] = DEFAULT_VISION_MODELS
    """Model names (after ``gpt://<folder>/``) starting with one of these accept ``image_url`` parts."""
    stt_async_delay: float = 0.3
    """Seconds an asynchronous speech recognition stays ``done: false``."""
    response_log_size: int = 1000
    """How many responses ``GET /__emu/responses`` remembers (the benchmark's sustained load asks more)."""
