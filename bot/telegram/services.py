"""What handlers receive (injected by aiogram as `services`): one typed object, built in bot.wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.access import AccessPolicy
from bot.core.documents import KnowledgeBaseService
from bot.core.ports import ConversationStore
from bot.telegram.answers import ActiveAnswers, ChatAnswers
from bot.telegram.delivery import TelegramSender
from bot.telegram.documents import AlbumCollector, DocumentFlow


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
