"""The doctor's checks and its table (see `bot.doctor`)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import openai
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from openai import AsyncOpenAI
from redis.exceptions import RedisError

from bot.errors import StartupError
from bot.preflight import require_models, telegram_identity, yandex_models
from bot.settings import Settings
from bot.storage.heartbeat import probe
from bot.storage.keys import Namespace
from bot.wiring import build_bot, build_yandex, redacted_url, telegram_server
from bot.yandex.credentials import YandexCredentials
from bot.yandex.models import documented

T = TypeVar("T")
STEP_TIMEOUT_S = 60.0
INDEX_DEADLINE_S = 120.0
PROBE_QUESTION = "Reply with one word: ok"
RECENT_WEBHOOK_ERROR_S = 600.0  # an older delivery failure says little about the webhook now


@dataclass
class Check:
    name: str
    passed: bool | None
    """None: skipped."""
    result: str
    advice: str = ""


class CheckFailed(Exception):
    def __init__(self, result: str, advice: str = "") -> None:
        super().__init__(result)
        self.result = result
        self.advice = advice


@dataclass
class Clients:
    settings: Settings
    bot: Bot
    credentials: YandexCredentials
    openai: AsyncOpenAI

    async def close(self) -> None:
        await self.openai.close()
        await self.credentials.aclose()
        await self.bot.session.close()


class Doctor:
    def __init__(self, settings: Settings, clients: Clients) -> None:
        self.settings = settings
        self.clients = clients
        self.checks: list[Check] = []

    async def run(self) -> list[Check]:
        s = self.settings
        self.checks.append(Check("settings", True, _settings_summary(s)))
        await self._step("Redis", self._redis)
        telegram_ok = await self._step("Telegram", self._telegram)
        if telegram_ok:
            await self._step("Telegram updates", self._updates_mode)
        else:
            self._skip("Telegram updates", "needs Telegram")
        available: list[str] = []

        async def credentials() -> str:
            nonlocal available
            available = await _raising(
                yandex_models(self.clients.openai, self.clients.credentials, s.yc_base_url)
            )
            return f"{self.clients.credentials.description}: accepted, {len(available)} models offered"

        credentials_ok = await self._step("Yandex credentials", credentials)
        if credentials_ok:
            model_ok = await self._step("model", lambda: self._model(available))
        else:
            model_ok = False
            self._skip("model", "needs the Yandex credentials")
        if model_ok:
            await self._step("streamed answer", self._answer)
        else:
            self._skip("streamed answer", "needs the model")
        if credentials_ok:
            await self._step("files + vector store", self._documents)
        else:
            self._skip("files + vector store", "needs the Yandex credentials")
        return self.checks

    async def _step(self, name: str, action: Callable[[], Awaitable[str]]) -> bool:
        try:
            result = await asyncio.wait_for(action(), STEP_TIMEOUT_S + INDEX_DEADLINE_S)
        except CheckFailed as failure:
            self.checks.append(Check(name, False, failure.result, failure.advice))
            return False
        except TimeoutError:
            self.checks.append(Check(name, False, "no answer in time", "check the network"))
            return False
        self.checks.append(Check(name, True, result))
        return True

    def _skip(self, name: str, why: str) -> None:
        self.checks.append(Check(name, None, f"skipped: {why}"))

    async def _redis(self) -> str:
        client: aioredis.Redis = aioredis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=5)
        try:
            started = time.monotonic()
            await asyncio.wait_for(probe(client, Namespace(self.settings.bot_id)), STEP_TIMEOUT_S)
            took = (time.monotonic() - started) * 1000
        except (RedisError, OSError, TimeoutError, AssertionError) as error:
            raise CheckFailed(
                f"{redacted_url(self.settings.redis_url)}: {type(error).__name__}",
                "start Redis or fix REDIS_URL (and its password)",
            ) from None
        finally:
            await client.aclose()
        return f"{redacted_url(self.settings.redis_url)}: write, read and delete in {took:.0f} ms"

    async def _telegram(self) -> str:
        me = await _raising(telegram_identity(self.clients.bot, telegram_server(self.settings)))
        privacy = "privacy mode on" if not me.can_read_all_group_messages else "privacy mode off"
        return f"@{me.username} (id {me.id}), {privacy}"

    async def _updates_mode(self) -> str:
        try:
            info = await self.clients.bot.get_webhook_info()
        except (TelegramAPIError, OSError) as error:
            raise CheckFailed(f"getWebhookInfo failed: {type(error).__name__}") from None
        s = self.settings
        where = f"{urlsplit(info.url).scheme}://{urlsplit(info.url).netloc}…" if info.url else ""
        if s.bot_mode == "polling":
            if info.url:
                raise CheckFailed(
                    f"BOT_MODE=polling, but a webhook is set ({where}, {info.pending_update_count} updates "
                    "pending): polling gets nothing while it is",
                    "python -m bot removes it at start (keeping the pending updates); if another deployment "
                    "serves that webhook, stop it first or set BOT_MODE=webhook here",
                )
            return f"polling; no webhook set, {info.pending_update_count} updates pending"
        if not info.url:
            return "webhook mode; no webhook set yet: the bot sets WEBHOOK_URL at start"
        if info.url != s.webhook_url:
            raise CheckFailed(
                f"BOT_MODE=webhook, but Telegram posts to another URL ({where})",
                "the bot sets WEBHOOK_URL at start; if another deployment uses that webhook, stop it first",
            )
        recent_error = info.last_error_date is not None and (
            time.time() - info.last_error_date.timestamp() < RECENT_WEBHOOK_ERROR_S
        )
        if info.last_error_message and recent_error:
            raise CheckFailed(
                f"webhook set, but Telegram's last delivery failed: {' '.join(info.last_error_message.split())}",
                "make WEBHOOK_URL reachable from the internet (reverse proxy, TLS certificate)",
            )
        return f"webhook mode; Telegram posts to WEBHOOK_URL, {info.pending_update_count} updates pending"

    async def _model(self, available: list[str]) -> str:
        uris = self.settings.allowed_model_uris
        try:
            require_models(available, uris, "YC_MODELS" if self.settings.yc_models else "YC_MODEL")
        except StartupError as error:
            raise CheckFailed(str(error), error.advice) from None
        offered = []
        for uri in uris:
            known = documented(uri)
            context = f", {known.title}, context {known.context_tokens:,} tokens" if known else ""
            offered.append(f"{uri}: offered{context}")
        return "; ".join(offered)

    async def _answer(self) -> str:
        started = time.monotonic()
        first: float | None = None
        text = ""
        try:
            stream = await self.clients.openai.responses.create(
                model=self.settings.yc_model_uri,
                input=PROBE_QUESTION,
                stream=True,
                store=False,
                max_output_tokens=16,
            )
            try:
                async for event in stream:
                    if event.type == "response.output_text.delta":
                        first = first if first is not None else time.monotonic()
                        text += event.delta
                    elif event.type in ("response.failed", "response.incomplete", "error"):
                        break
            finally:
                await stream.close()
        except openai.APIStatusError as error:
            raise CheckFailed(
                f"POST /responses: HTTP {error.status_code}: {_api_message(error)}",
                "the service account needs ai.languageModels.user and ai.assistants.editor on the folder",
            ) from None
        except openai.APIError as error:
            raise CheckFailed(
                f"POST /responses failed: {type(error).__name__}", "check the network"
            ) from None
        if first is None:
            raise CheckFailed("the stream ended without any text", "try another YC_MODEL")
        total = time.monotonic() - started
        return f"first token after {(first - started) * 1000:.0f} ms, {len(text)} characters in {total:.1f} s"

    async def _documents(self) -> str:
        client = self.clients.openai
        word = f"doctor{secrets.token_hex(3)}"
        content = f"This file checks the bot's documents. The check word is {word}.\n".encode()
        file_id: str | None = None
        store_id: str | None = None
        step = "upload (POST /files)"
        try:
            uploaded = await client.files.create(
                file=("bot-doctor.txt", io.BytesIO(content), "text/plain"), purpose="assistants"
            )
            file_id = uploaded.id
            step = "index (POST /vector_stores)"
            store = await client.vector_stores.create(
                name="bot-doctor", file_ids=[file_id], expires_after={"anchor": "last_active_at", "days": 1}
            )
            store_id = store.id
            step = "indexing"
            deadline = time.monotonic() + INDEX_DEADLINE_S
            while store.status == "in_progress":
                if time.monotonic() > deadline:
                    raise CheckFailed(
                        f"indexing took longer than {INDEX_DEADLINE_S:.0f} s", "try again later"
                    )
                await asyncio.sleep(1.0)
                store = await client.vector_stores.retrieve(store_id)
            if store.file_counts.completed != 1:
                raise CheckFailed(f"the file was not indexed (status {store.status}, {store.file_counts})")
            step = "search (POST /vector_stores/{id}/search)"
            page = await client.vector_stores.search(store_id, query=word)
            if not page.data:
                raise CheckFailed("the indexed file was not found by searching for its own words")
        except openai.APIStatusError as error:
            raise CheckFailed(
                f"{step}: HTTP {error.status_code}: {_api_message(error)}",
                "the service account needs ai.assistants.editor on the folder; HTTP 429 may mean the "
                "search-index quota (150 per cloud by default) is used up",
            ) from None
        except openai.APIError as error:
            raise CheckFailed(f"{step}: {type(error).__name__}", "check the network") from None
        finally:
            if store_id is not None:
                with contextlib.suppress(openai.APIError):
                    await client.vector_stores.delete(store_id)
            if file_id is not None:
                with contextlib.suppress(openai.APIError):
                    await client.files.delete(file_id)
        return "uploaded, indexed, found by search, deleted"


async def _raising(awaitable: Awaitable[T]) -> T:
    """A start-up check, its StartupError turned into a failed doctor check."""
    try:
        return await awaitable
    except StartupError as error:
        raise CheckFailed(str(error), error.advice) from None


def _api_message(error: openai.APIStatusError) -> str:
    body = error.body
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or error.message).split())[:200]


def _settings_summary(settings: Settings) -> str:
    auth = {
        "api_key": "API key",
        "sa_key": "service-account key (IAM tokens renewed automatically)",
        "iam_token": "static IAM token (expires within 12 h, not renewed: use YC_API_KEY or YC_SA_KEY_FILE)",
        "metadata": "metadata service (IAM tokens renewed automatically)",
    }.get(settings.yc_auth, settings.yc_auth)
    logging_state = "on" if settings.yc_data_logging else "off"
    return f"{settings.bot_mode} mode, Yandex auth: {auth}, request logging at Yandex {logging_state}"


def render(checks: list[Check]) -> str:
    """A table, one line per check: check | result | what to do (for failed checks)."""
    name_w = max(len("check"), *(len(check.name) for check in checks))
    result_w = min(72, max(len("result"), *(len(check.result) for check in checks)))
    lines = [
        f"{'check':<{name_w}}  {'':<4}  {'result':<{result_w}}  what to do",
        f"{'-' * name_w}  {'-' * 4}  {'-' * result_w}  {'-' * 10}",
    ]
    for check in checks:
        mark = "ok" if check.passed else "FAIL" if check.passed is False else "-"
        advice = check.advice if check.passed is False else ""
        lines.append(f"{check.name:<{name_w}}  {mark:<4}  {check.result:<{result_w}}  {advice}".rstrip())
    return "\n".join(lines)


async def diagnose(settings: Settings) -> list[Check]:
    credentials, client = build_yandex(settings)
    clients = Clients(settings, build_bot(settings), credentials, client)
    try:
        return await Doctor(settings, clients).run()
    finally:
        await clients.close()
