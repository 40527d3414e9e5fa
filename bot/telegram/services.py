"""What handlers receive (injected by aiogram as `services`): one typed object, built in bot.wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.access import AccessPolicy
from bot.core.chat_settings import ChatSettingsService
from bot.core.documents import KnowledgeBaseService
from bot.core.models import ConversationKey
from bot.core.ports import ConversationStore
from bot.core.usage import UsageBudget
from bot.telegram.answers import ActiveAnswers, ChatAnswers
from bot.telegram.delivery import TelegramSender
from bot.telegram.documents import AlbumCollector, DocumentFlow
from bot.telegram.mappers import GroupContext
from bot.telegram.media import MediaSettings


class RecentChatterLog(Protocol):
    async def remember(self, key: ConversationKey, author: str | None, text: str) -> None: ...


class ChatKeys(Protocol):
    async def expire_within(self, chat_id: int, seconds: int) -> int: ...


class StopRequests(Protocol):
    async def lookup(self, chat_id: int, answer_id: int) -> tuple[bool, int | None]: ...

    async def request_stop(self, chat_id: int, answer_id: int) -> None: ...


class RefusalLog(Protocol):
    async def should_refuse_loudly(self, chat_id: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class BotServices:
    answers: ChatAnswers
    conversations: ConversationStore
    sender: TelegramSender
    access: AccessPolicy
    refusals: RefusalLog
    active: ActiveAnswers
    knowledge: KnowledgeBaseService
    documents: DocumentFlow
    albums: AlbumCollector
    chat_keys: ChatKeys
    usage: UsageBudget
    stops: StopRequests
    chat_settings: ChatSettingsService
    chatter: RecentChatterLog | None = None
    group_context: GroupContext = "topic"
    group_documents_from_anyone: bool = False
    group_state_retention_days: int = 30
    media: MediaSettings = MediaSettings()
