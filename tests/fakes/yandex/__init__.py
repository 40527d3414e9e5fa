"""A Yandex AI Studio emulator: the OpenAI-compatible Files, Vector Stores, Conversations, Responses and
Chat Completions API over real HTTP, with deterministic answers, for end-to-end tests and benchmarks.
See README.md."""

from .config import EmulatorConfig
from .server import YandexEmulator, running_yandex_emulator

__all__ = ["EmulatorConfig", "YandexEmulator", "running_yandex_emulator"]
