"""Runs the real bot (aiogram polling, real Redis, real openai client) against the two fakes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import BotApp
from bot.settings import Settings, load_settings
from tests.fakes.telegram.server import TelegramFake
from tests.fakes.yandex.server import YandexEmulator
from tests.support.replicas import replica_env

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Stack:
    telegram: TelegramFake
    yandex: YandexEmulator
    redis_url: str
    folder_id: str
    api_key: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bot_token": self.telegram.token,
            "telegram_api_url": self.telegram.base_url,
            "redis_url": self.redis_url,
            "yc_folder_id": self.folder_id,
            "yc_api_key": self.api_key,
            "yc_base_url": self.yandex.base_url,
            "yc_stt_url": self.yandex.stt_url,
            "yc_stt_async_url": self.yandex.stt_async_url,
            "yc_operations_url": self.yandex.operations_url,
            "metrics_port": 0,  # tests that need /metrics pick a free port
            "_env_file": None,
        }
        values.update(overrides)
        return load_settings(**values)

    def env(self, **overrides: str | None) -> dict[str, str]:
        """The environment of `python -m bot` (or the doctor) against these fakes; `None` removes a value."""
        values: dict[str, str | None] = {
            "BOT_TOKEN": self.telegram.token,
            "TELEGRAM_API_URL": self.telegram.base_url,
            "REDIS_URL": self.redis_url,
            "YC_FOLDER_ID": self.folder_id,
            "YC_API_KEY": self.api_key,
            "YC_BASE_URL": self.yandex.base_url,
            "METRICS_PORT": "0",
            "LOG_FORMAT": "text",
        }
        values.update({name.upper(): value for name, value in overrides.items()})
        return {name: value for name, value in values.items() if value is not None}

    def replica_env(self, *, public_url: str, port: int, secret: str, **extra: str) -> dict[str, str]:
        """The environment of one webhook replica (`python -m bot`) against these fakes."""
        return replica_env(
            telegram_url=self.telegram.base_url,
            token=self.telegram.token,
            redis_url=self.redis_url,
            yandex_url=self.yandex.base_url,
            folder_id=self.folder_id,
            api_key=self.api_key,
            public_url=public_url,
            port=port,
            secret=secret,
            **extra,
        )

    async def run_cli(self, module: str, env: dict[str, str], timeout: float = 60.0) -> CliRun:
        """Run `python -m <module>` to completion in a scratch directory (no stray .env), the fakes
        serving meanwhile from this event loop."""
        base = {name: value for name in ("PATH", "LANG", "SYSTEMROOT") if (value := os.environ.get(name))}
        with tempfile.TemporaryDirectory(prefix="bot-cli-") as workdir:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                cwd=workdir,
                env={**base, **env, "PYTHONPATH": str(REPO_ROOT)},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
        assert process.returncode is not None
        return CliRun(process.returncode, stdout.decode(), stderr.decode())

    @contextlib.asynccontextmanager
    async def bot(self, **overrides: Any) -> AsyncIterator[BotApp]:
        """The bot polling the Telegram fake until the block ends (then a graceful stop)."""
        settings = self.settings(**overrides)
        app = await BotApp.create(settings)
        if settings.bot_mode == "webhook":
            serving = asyncio.create_task(app.run_webhook(handle_signals=False))
        else:
            serving = asyncio.create_task(app.run_polling(handle_signals=False))
        try:
            ready = asyncio.create_task(app.serving.wait())
            await asyncio.wait({ready, serving}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                serving.result()  # startup failed: surface its exception
            yield app
        finally:
            await app.stop()
            await serving


def final_texts(telegram: TelegramFake, chat_id: int) -> list[str]:
    """What the user finally sees from the bot: each message's latest text (or rich Markdown)."""
    return [m["rich_markdown"] or m["text"] or "" for m in telegram.bot_messages(chat_id) if not m["deleted"]]
