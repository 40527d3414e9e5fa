"""Redis implementation of the ConversationStore port.

Key families (see storage.keys): the conversation state hash (the provider chain, the model it was
made with, what to carry into the next request, how full the chain is) and the transcript list. Both
expire after `ttl_seconds` without activity; every write refreshes the TTL. One answer costs two round
trips here: one `load` and one pipelined `record`. A rollover done ahead of need replaces the state
with one script that first checks the conversation still refers to the chain it rolled over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, TypeAdapter

from bot.core.models import ConversationKey, Turn
from bot.core.ports import ConversationState
from bot.storage.keys import ConversationStateKey, Namespace, TranscriptKey
from bot.storage.redis_typing import awaited


class TurnRecord(BaseModel):
    role: Literal["user", "assistant"]
    text: str
    at: float
    author: str | None = None
    interrupted: bool = False

    @classmethod
    def of(cls, turn: Turn) -> TurnRecord:
        return cls(
            role=turn.role, text=turn.text, at=turn.at, author=turn.author, interrupted=turn.interrupted
        )

    def to_turn(self) -> Turn:
        return Turn(
            role=self.role, text=self.text, at=self.at, author=self.author, interrupted=self.interrupted
        )


_TURNS = TypeAdapter(list[TurnRecord])

# KEYS[1] state hash; ARGV[1] expected context handle ('' for none), ARGV[2] TTL in seconds, then
# field/value pairs. Replaces the state only if the hash exists and still holds that handle.
_REPLACE_IF_UNCHANGED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local handle = redis.call('HGET', KEYS[1], 'context_handle') or ''
if handle ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _state_fields(state: ConversationState) -> dict[str, str]:
    return {
        "context_handle": state.context_handle or "",
        "carry_over": json.dumps(
            [TurnRecord.of(t).model_dump() for t in state.carry_over], ensure_ascii=False
        ),
        "summary": state.summary or "",
        "summarized_until": repr(state.summarized_until),
        "context_tokens": str(state.context_tokens),
        "context_limit": str(state.context_limit),
        "model": state.model or "",
        "chain_started_at": "" if state.chain_started_at is None else repr(state.chain_started_at),
    }


class RedisConversationStore:
    def __init__(self, redis: aioredis.Redis, ns: Namespace, *, max_turns: int, ttl_seconds: int) -> None:
        self._redis = redis
        self._ns = ns
        self._max_turns = max_turns
        self._ttl = ttl_seconds
        self._replace_if_unchanged = redis.register_script(_REPLACE_IF_UNCHANGED)

    async def load(self, key: ConversationKey) -> ConversationState:
        raw: dict[bytes, bytes] = await awaited(self._redis.hgetall(str(ConversationStateKey(self._ns, key))))
        handle = raw.get(b"context_handle", b"").decode() or None
        carry_raw = raw.get(b"carry_over")
        carry = tuple(r.to_turn() for r in _TURNS.validate_json(carry_raw)) if carry_raw else ()
        # States written before rollovers existed lack the other fields: they read as "unknown" (0).
        return ConversationState(
            context_handle=handle,
            carry_over=carry,
            summary=raw.get(b"summary", b"").decode() or None,
            summarized_until=float(raw.get(b"summarized_until", b"0")),
            context_tokens=int(raw.get(b"context_tokens", b"0")),
            context_limit=int(raw.get(b"context_limit", b"0")),
            model=raw.get(b"model", b"").decode() or None,
            chain_started_at=float(started) if (started := raw.get(b"chain_started_at")) else None,
        )

    async def recent_turns(self, key: ConversationKey, limit: int) -> list[Turn]:
        raw: list[bytes] = await awaited(self._redis.lrange(str(TranscriptKey(self._ns, key)), -limit, -1))
        return [TurnRecord.model_validate_json(item).to_turn() for item in raw]

    async def transcript(self, key: ConversationKey) -> list[Turn]:
        return await self.recent_turns(key, self._max_turns)

    async def record(self, key: ConversationKey, turns: Sequence[Turn], state: ConversationState) -> None:
        state_key = str(ConversationStateKey(self._ns, key))
        transcript_key = str(TranscriptKey(self._ns, key))
        async with self._redis.pipeline(transaction=True) as pipe:
            if turns:
                pipe.rpush(transcript_key, *(TurnRecord.of(t).model_dump_json() for t in turns))
                pipe.ltrim(transcript_key, -self._max_turns, -1)
                pipe.expire(transcript_key, self._ttl)
            pipe.hset(state_key, mapping=_state_fields(state))
            pipe.expire(state_key, self._ttl)
            await pipe.execute()

    async def replace_state(
        self, key: ConversationKey, expected_handle: str | None, state: ConversationState
    ) -> bool:
        pairs = [part for item in _state_fields(state).items() for part in item]
        replaced = await self._replace_if_unchanged(
            keys=[str(ConversationStateKey(self._ns, key))],
            args=[expected_handle or "", self._ttl, *pairs],
        )
        return bool(replaced)

    async def reset(self, key: ConversationKey) -> None:
        await self._redis.delete(str(ConversationStateKey(self._ns, key)), str(TranscriptKey(self._ns, key)))
