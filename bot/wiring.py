"""The one place that builds clients (Bot, Redis, Yandex credentials, AsyncOpenAI) and services, and
closes them."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass

import httpx2
import redis.asyncio as aioredis
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from openai import AsyncOpenAI
from redis import __version__ as redis_version
from redis.driver_info import DriverInfo
from redis.exceptions import RedisError

from bot.core.access import AccessPolicy
from bot.core.answering import AnswerQuestion, AnswerSettings
from bot.core.authors import with_author_note
from bot.core.breaker import BreakerPolicy, CircuitBreaker
from bot.core.chat_settings import (
    ChatSettingsService,
    ModelOption,
    ReplyFormat,
    SettingsPolicy,
    WebSearchPolicy,
)
from bot.core.context import ContextPolicy, ContextRollover
from bot.core.documents import DocumentLimits, KnowledgeBaseService
from bot.core.lanes import LaneRunner, LaneSettings
from bot.core.output_limits import OutputLimits
from bot.core.references import with_reference_note
from bot.core.speech import SpeechLimits, TranscribeSpeech
from bot.core.usage import UsageBudget, UsageLimits
from bot.errors import StartupError
from bot.metrics import Metrics
from bot.settings import Settings
from bot.storage.access import RedisRefusalLog
from bot.storage.chat_settings import RedisChatSettingsStore
from bot.storage.chats import RedisChatKeys
from bot.storage.chatter import RedisChatter
from bot.storage.conversations import RedisConversationStore
from bot.storage.keys import Namespace
from bot.storage.knowledge import RedisKnowledgeBaseStore
from bot.storage.lanes import RedisLaneStore
from bot.storage.notices import RedisNoticeLog
from bot.storage.pool import ReadyConnectionPool
from bot.storage.redis_typing import awaited
from bot.storage.stops import RedisAnswerDirectory
from bot.storage.telegram_budget import RedisOutputStore
from bot.storage.usage import RedisUsageLedger
from bot.telegram.answers import ActiveAnswers, AnswerOptions, ChatAnswers
from bot.telegram.budget import OutputScheduler
from bot.telegram.delivery import Capabilities, TelegramSender
from bot.telegram.dispatcher import build_dispatcher
from bot.telegram.documents import AlbumCollector, DocumentFlow, TelegramDocumentSource
from bot.telegram.media import TELEGRAM_DOWNLOAD_LIMIT, MediaPreparer, MediaSettings
from bot.telegram.notices import BackgroundNotices
from bot.telegram.receiving import ReceiptMiddleware, UpdateReceipt
from bot.telegram.services import BotServices
from bot.telegram.session import JsonBotSession, KeepResponseModels
from bot.yandex.answers import ResponsesAnswerModel, WebSearchOptions
from bot.yandex.client import build_credentials, build_openai_client, yandex_http_options
from bot.yandex.credentials import YandexCredentials
from bot.yandex.documents import VectorStoreIndex
from bot.yandex.models import model_display_name, model_uri
from bot.yandex.speech import SpeechKitEndpoints, SpeechKitRecognizer
from bot.yandex.vision import ImageAwareModel, VisionAnswerModel

log = logging.getLogger(__name__)

# Document records outlive provider indexes: they let us rebuild an expired index from Telegram.
KNOWLEDGE_TTL_DAYS = 180
# aiogram's default pool of 100 connections makes final texts queue behind drafts and leave in bursts.
TELEGRAM_MAX_CONNECTIONS = 400
REDIS_MAX_CONNECTIONS = 64
BUDGET_REDIS_CONNECTIONS = 4  # one decision at a time, plus penalties after 429s and migrations
NOTICE_DRAIN_SECONDS = 5.0  # on shutdown, notices still waiting for their chat's budget get this long


@dataclass
class Runtime:
    settings: Settings
    bot: Bot
    redis: aioredis.Redis
    heartbeat_redis: aioredis.Redis
    budget_redis: aioredis.Redis
    credentials: YandexCredentials
    openai: AsyncOpenAI
    answers_openai: AsyncOpenAI
    """The client that streams answers (see `bot.yandex.client.build_openai_client`)."""
    receipt: UpdateReceipt
    lanes: LaneRunner
    services: BotServices
    dispatcher: Dispatcher
    metrics: Metrics
    directory: RedisAnswerDirectory
    speech_http: httpx2.AsyncClient
    _stop_listener: asyncio.Task[None] | None = None

    def start_background(self) -> None:
        """Lane keeper and sweeper, the listener for Stop requests from other replicas, and the renewal
        of Yandex IAM tokens."""
        self.credentials.start()
        self.lanes.start()
        if self._stop_listener is None:
            self._stop_listener = asyncio.create_task(
                self.directory.listen(self.services.active.stop), name="stop-listener"
            )

    async def close(self) -> None:
        await self.services.albums.close()
        await self.lanes.close(self.settings.shutdown_deadline_seconds)
        await self.services.answers.close(NOTICE_DRAIN_SECONDS)
        await self.services.sender.scheduler.close()
        if self._stop_listener is not None:
            self._stop_listener.cancel()
            await asyncio.gather(self._stop_listener, return_exceptions=True)
        await self.openai.close()
        await self.answers_openai.close()
        await self.speech_http.aclose()
        await self.credentials.aclose()
        await self.redis.aclose()
        await self.heartbeat_redis.aclose()
        await self.budget_redis.aclose()
        await self.bot.session.close()


def build_bot(settings: Settings) -> Bot:
    api = TelegramAPIServer.from_base(settings.telegram_api_url) if settings.telegram_api_url else PRODUCTION
    session = JsonBotSession(
        api=api, timeout=60, limit=TELEGRAM_MAX_CONNECTIONS, proxy=settings.telegram_proxy_url
    )
    session.middleware(KeepResponseModels())
    return Bot(settings.bot_token.get_secret_value(), session=session, default=DefaultBotProperties())


def settings_policy(settings: Settings) -> SettingsPolicy:
    """What chats may choose in /settings, and the defaults of those that did not."""
    names = [model_display_name(model) for model in settings.allowed_models]
    return SettingsPolicy(
        models=tuple(
            # Two ids may share a name (yandexgpt and yandexgpt/latest): then the id tells them apart.
            ModelOption(model, name if names.count(name) == 1 else f"{name} ({model})")
            for model, name in zip(settings.allowed_models, names, strict=True)
        ),
        default_model=settings.yc_model,
        default_format=ReplyFormat(settings.reply_format),
        web_search=WebSearchPolicy(settings.web_search),
        instructions=settings.assistant_instructions,
    )


def build_yandex(settings: Settings) -> tuple[YandexCredentials, AsyncOpenAI]:
    """The Yandex credentials (one component for every Yandex client: the openai client here, any
    other through `bot.yandex.client.yandex_http_options`) and the OpenAI-compatible client using them.
    Close the client, then `credentials.aclose()`."""
    credentials = build_credentials(settings)
    return credentials, build_openai_client(settings, credentials)


def telegram_server(settings: Settings) -> str:
    """The Bot API server's address for messages (never with the token)."""
    return settings.telegram_api_url or "https://api.telegram.org"


def redacted_url(url: str) -> str:
    """Redis URL without credentials, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"


def output_limits(settings: Settings) -> OutputLimits:
    return OutputLimits(
        global_per_s=settings.telegram_global_per_second,
        chat_per_s=settings.telegram_chat_per_second,
        chat_burst=settings.telegram_chat_burst,
        draft_per_s=settings.telegram_draft_per_second,
        draft_burst=settings.telegram_draft_burst,
        group_per_minute=settings.telegram_group_per_minute,
        margin=settings.telegram_rate_margin,
        recovery_s=settings.telegram_rate_recovery_seconds,
    )


def redis_client(url: str, max_connections: int) -> aioredis.Redis:
    """A client over a bounded pool whose callers wait, without a deadline, for a free connection."""
    pool = ReadyConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=None,
        socket_connect_timeout=5,
        health_check_interval=30,
        # The library's name and version for CLIENT SETINFO, read once: left to redis-py, every new
        # connection of the pool reads the package metadata from disk again (about 2 ms of CPU each).
        driver_info=DriverInfo(lib_version=redis_version),
    )
    client: aioredis.Redis = aioredis.Redis.from_pool(pool)
    return client


async def build_runtime(settings: Settings) -> Runtime:
    # Bounded, and waiting without a deadline for a free connection: with lanes and rate budgets in
    # Redis, a 1,000-chat burst otherwise opens thousands of connections at once (each costing
    # several round trips to set up) and starves the event loop for tens of seconds (bench run).
    # A wait timeout is no better: it turns a busy moment into failed answers.
    redis = redis_client(settings.redis_url, REDIS_MAX_CONNECTIONS)
    try:
        await awaited(redis.ping())
    except (RedisError, OSError) as error:
        await redis.aclose()
        raise StartupError(
            f"cannot reach Redis at {redacted_url(settings.redis_url)} ({type(error).__name__})"
        ) from None

    bot = build_bot(settings)
    receipt = UpdateReceipt(stale_after=settings.updates_stale_seconds)
    bot.session.middleware(ReceiptMiddleware(receipt))
    credentials, openai = build_yandex(settings)
    answers_openai = build_openai_client(settings, credentials, answer_streams=True)
    ns = Namespace(bot_id=settings.bot_id)
    metrics = Metrics()
    conversations = RedisConversationStore(
        redis,
        ns,
        max_turns=settings.transcript_max_turns,
        ttl_seconds=settings.conversation_ttl_days * 86400,
    )

    def count_provider_error(kind: str) -> None:
        metrics.provider_errors.labels(kind=kind).inc()

    folder, default_model = settings.yc_folder_id, settings.yc_model
    text_model = ResponsesAnswerModel(
        answers_openai,
        lambda name: model_uri(folder, name or default_model),
        web_search=WebSearchOptions(domains=settings.web_search_domains, region=settings.web_search_region),
        metrics=metrics,
    )
    vision_model = (
        VisionAnswerModel(
            openai, model_uri(settings.yc_folder_id, settings.vision_model), count_error=count_provider_error
        )
        if settings.vision_model
        else None
    )
    model = ImageAwareModel(text_model, vision_model)
    breaker_policy = BreakerPolicy(
        failures=settings.provider_breaker_failures,
        cooldown=settings.provider_breaker_cooldown_seconds,
        max_cooldown=settings.provider_breaker_max_cooldown_seconds,
    )
    breaker = CircuitBreaker(breaker_policy)
    metrics.provider_breaker.set_function(lambda: breaker.state.level)
    instructions = with_reference_note(with_author_note(settings.assistant_instructions))
    # Summaries for a new chain are written by the text model; image questions never roll over.
    rollover = ContextRollover(
        text_model,
        conversations,
        ContextPolicy(
            context_tokens=settings.context_tokens,
            rollover_percent=settings.context_rollover_percent,
            recent_percent=settings.rollover_recent_percent,
            recent_turns=settings.replay_turns,
            summary_tokens=settings.rollover_summary_tokens,
        ),
        instructions,
        transcript_turns=settings.transcript_max_turns,
    )
    use_case = AnswerQuestion(
        model,
        conversations,
        AnswerSettings(instructions=instructions, model=settings.yc_model),
        breaker,
        rollover,
    )
    # Lane lock heartbeats get connections of their own: queued behind a burst, they would come late.
    heartbeat_redis: aioredis.Redis = aioredis.Redis.from_url(
        settings.redis_url, max_connections=2, socket_connect_timeout=5, health_check_interval=30
    )
    lane_store = RedisLaneStore(redis, ns, heartbeat_redis=heartbeat_redis)
    lanes = LaneRunner(
        lane_store,
        owner=f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}",
        settings=LaneSettings(
            max_jobs=settings.max_queued_per_chat + 1,  # the running job stays in its lane until done
            max_member_jobs=settings.max_queued_per_user + 1,  # the same, for one member of a group
            lock_seconds=settings.lane_lock_seconds,
            # Polling reads one ordered stream; only parallel webhook deliveries can arrive out of order.
            order_grace=settings.update_order_grace_ms / 1000 if settings.bot_mode == "webhook" else 0.0,
            sweep_seconds=min(2.0, settings.lane_lock_seconds / 3),
        ),
    )
    # The output scheduler gets connections of its own too: every frame and final text waits for its
    # decisions, and queued behind a burst's requests for the shared pool they came seconds late, so
    # hardly a first frame went out while a 1,000-chat burst started (bench run).
    budget_redis = redis_client(settings.redis_url, BUDGET_REDIS_CONNECTIONS)
    limits = output_limits(settings)
    scheduler = OutputScheduler(RedisOutputStore(budget_redis, ns, limits), limits, metrics)
    sender = TelegramSender(bot, scheduler, Capabilities(), metrics)
    active = ActiveAnswers()
    knowledge_store = RedisKnowledgeBaseStore(redis, ns, ttl_seconds=KNOWLEDGE_TTL_DAYS * 86400)
    knowledge = KnowledgeBaseService(
        TelegramDocumentSource(bot),
        VectorStoreIndex(
            openai, poll_interval=settings.index_poll_seconds, deadline=settings.index_timeout_seconds
        ),
        knowledge_store,
        DocumentLimits(
            max_bytes=int(settings.max_document_mb * 1024 * 1024),
            max_documents=settings.max_documents_per_chat,
            index_ttl_days=settings.index_ttl_days,
            chunk_size_tokens=settings.chunk_size_tokens,
            chunk_overlap_tokens=settings.chunk_overlap_tokens,
            reclaim_idle_indexes=settings.reclaim_idle_indexes,
            indexing_deadline=settings.index_timeout_seconds,
        ),
    )
    documents = DocumentFlow(knowledge, lanes, sender, metrics)
    # SpeechKit speaks plain REST, with the same credentials, privacy header and proxy as the openai
    # client (a fresh Authorization header per request; a 401 is reported to the credentials).
    speech_http = httpx2.AsyncClient(
        timeout=settings.yc_timeout_seconds,
        **yandex_http_options(settings, credentials, settings.yc_stt_url),
    )
    media_settings = MediaSettings(
        speech_enabled=settings.stt_enabled,
        max_speech_seconds=settings.stt_max_duration_seconds,
        vision_enabled=vision_model is not None,
        max_image_bytes=int(settings.max_image_mb * 1024 * 1024),
    )
    speech = TranscribeSpeech(
        SpeechKitRecognizer(
            speech_http,
            SpeechKitEndpoints(
                sync_url=settings.yc_stt_url,
                async_url=settings.yc_stt_async_url,
                operations_url=settings.yc_operations_url,
            ),
            folder_id=settings.yc_folder_id,
            language=settings.stt_language,
            poll_interval=settings.stt_poll_seconds,
            count_error=count_provider_error,
        ),
        SpeechLimits(max_seconds=settings.stt_max_duration_seconds, max_bytes=TELEGRAM_DOWNLOAD_LIMIT),
        breaker=CircuitBreaker(breaker_policy),
    )
    media = MediaPreparer(
        TelegramDocumentSource(bot),
        speech if settings.stt_enabled else None,
        media_settings,
        max_question_chars=settings.max_question_chars,
    )
    access = AccessPolicy(
        allowed_user_ids=settings.allowed_user_ids,
        allowed_chat_ids=settings.allowed_chat_ids,
        admin_user_ids=settings.admin_user_ids,
    )
    usage = UsageBudget(
        RedisUsageLedger(redis, ns),
        UsageLimits(
            user_daily_tokens=settings.user_daily_tokens, chat_daily_tokens=settings.chat_daily_tokens
        ),
    )
    chat_keys = RedisChatKeys(redis, ns, knowledge_store)
    chat_settings = ChatSettingsService(RedisChatSettingsStore(redis, ns), settings_policy(settings))
    chatter = (
        RedisChatter(redis, ns, keep=settings.group_context_messages)
        if settings.group_context_messages
        else None
    )

    async def move_chat_state(old_chat_id: int, new_chat_id: int) -> None:
        await chat_keys.move(old_chat_id, new_chat_id)
        active.move_chat(old_chat_id, new_chat_id)

    sender.on_migration(move_chat_state)
    directory = RedisAnswerDirectory(redis, ns)
    answers = ChatAnswers(
        use_case,
        lanes,
        lane_store,
        sender,
        active,
        AnswerOptions(
            private_streaming=settings.private_streaming,
            max_question_chars=settings.max_question_chars,
        ),
        knowledge,
        documents,
        usage,
        metrics,
        access,
        directory,
        chat_settings,
        rollover,
        chatter,
        BackgroundNotices(sender, RedisNoticeLog(redis, ns)),
        media,
    )
    metrics.track_queue(lambda: lanes.active_lanes, active.__len__)
    services = BotServices(
        answers=answers,
        conversations=conversations,
        sender=sender,
        access=access,
        refusals=RedisRefusalLog(redis, ns),
        active=active,
        knowledge=knowledge,
        documents=documents,
        albums=AlbumCollector(),
        chat_keys=chat_keys,
        usage=usage,
        stops=directory,
        chat_settings=chat_settings,
        chatter=chatter,
        group_context=settings.group_context,
        group_documents_from_anyone=settings.group_documents_from_anyone,
        group_state_retention_days=settings.group_state_retention_days,
        media=media_settings,
    )
    return Runtime(
        settings=settings,
        bot=bot,
        redis=redis,
        heartbeat_redis=heartbeat_redis,
        budget_redis=budget_redis,
        credentials=credentials,
        openai=openai,
        answers_openai=answers_openai,
        receipt=receipt,
        lanes=lanes,
        services=services,
        dispatcher=build_dispatcher(services),
        metrics=metrics,
        directory=directory,
        speech_http=speech_http,
    )
