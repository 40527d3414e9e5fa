"""Redis implementation of the ChatSettingsStore port: one hash per chat or forum topic (storage.keys).

Each choice is its own field, written alone, so two admins changing different settings at once never
undo each other. A field that does not parse (written by a future version, or by hand) is ignored:
that setting follows the operator's default.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.core.chat_settings import ChatChoices, Choice, ReplyFormat
from bot.core.models import ConversationKey
from bot.storage.keys import ChatSettingsKey, Namespace
from bot.storage.redis_typing import awaited, text_of


class RedisChatSettingsStore:
    def __init__(self, redis: aioredis.Redis, ns: Namespace) -> None:
        self._redis = redis
        self._ns = ns

    async def load(self, scope: ConversationKey) -> ChatChoices:
        raw = await awaited(self._redis.hgetall(str(ChatSettingsKey(self._ns, scope))))
        fields = {text_of(name): text_of(value) for name, value in raw.items()}
        reply_format = fields.get(Choice.REPLY_FORMAT)
        web_search = fields.get(Choice.WEB_SEARCH)
        return ChatChoices(
            model=fields.get(Choice.MODEL) or None,
            reply_format=ReplyFormat(reply_format) if reply_format in set(ReplyFormat) else None,
            web_search={"1": True, "0": False}.get(web_search or ""),
            instructions=fields.get(Choice.INSTRUCTIONS),
        )

    async def choose(self, scope: ConversationKey, choice: Choice, value: str | bool | None) -> None:
        key = str(ChatSettingsKey(self._ns, scope))
        if value is None:
            await awaited(self._redis.hdel(key, choice.value))
            return
        stored = ("1" if value else "0") if isinstance(value, bool) else value
        await awaited(self._redis.hset(key, choice.value, stored))
