"""Typed Redis keys. Every key family has one owner module, a prefix and a TTL policy (see owners).

All keys live under a namespace holding the bot id, so several bots may share one Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import ConversationKey


@dataclass(frozen=True, slots=True)
class Namespace:
    bot_id: int

    @property
    def prefix(self) -> str:
        return f"yab:{self.bot_id}"


@dataclass(frozen=True, slots=True)
class ConversationStateKey:
    """Hash: provider context handle and the model of its chain, carry-over turns, summary (and up to
    which turn), how full the context is, a learned context limit and when the chain started. Owner:
    storage.conversations."""

    ns: Namespace
    conversation: ConversationKey

    def __str__(self) -> str:
        return f"{self.ns.prefix}:conv:{self.conversation.as_path()}"


@dataclass(frozen=True, slots=True)
class TranscriptKey:
    """List of JSON turns, newest last, trimmed. Owner: storage.conversations."""

    ns: Namespace
    conversation: ConversationKey

    def __str__(self) -> str:
        return f"{self.ns.prefix}:transcript:{self.conversation.as_path()}"


@dataclass(frozen=True, slots=True)
class AccessNoticeKey:
    """String with TTL: a refusal was already sent to this chat recently. Owner: storage.access."""

    ns: Namespace
    chat_id: int

    def __str__(self) -> str:
        return f"{self.ns.prefix}:access-notice:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class NoticeSentKey:
    """String with TTL: a notice of this kind went to this member of this chat recently (at most one
    per interval). Owner: storage.notices."""

    ns: Namespace
    kind: str
    chat_id: int
    member: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:notice:{self.kind}:{self.chat_id}/{self.member}"


@dataclass(frozen=True, slots=True)
class HeartbeatKey:
    """String (JSON: unix time and whether updates arrive) with TTL, refreshed by a serving bot process.
    Owner: storage.heartbeat."""

    ns: Namespace

    def __str__(self) -> str:
        return f"{self.ns.prefix}:heartbeat"


@dataclass(frozen=True, slots=True)
class DoctorProbeKey:
    """String with a 60 s TTL, written, read back and deleted by `python -m bot.doctor`. Owner:
    storage.heartbeat."""

    ns: Namespace
    nonce: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:doctor:{self.nonce}"


@dataclass(frozen=True, slots=True)
class KnowledgeBaseKey:
    """JSON of the chat's documents and index id. Owner: storage.knowledge."""

    ns: Namespace
    conversation: ConversationKey

    def __str__(self) -> str:
        return f"{self.ns.prefix}:kb:{self.conversation.as_path()}"


@dataclass(frozen=True, slots=True)
class KnowledgeActivityKey:
    """Sorted set: conversation path → last use of its index (unix time). Owner: storage.knowledge."""

    ns: Namespace

    def __str__(self) -> str:
        return f"{self.ns.prefix}:kb-activity"


@dataclass(frozen=True, slots=True)
class ChatterKey:
    """List of recent unaddressed group messages (JSON), trimmed, 1-day TTL. Owner: storage.chatter."""

    ns: Namespace
    conversation: ConversationKey

    def __str__(self) -> str:
        return f"{self.ns.prefix}:chatter:{self.conversation.as_path()}"


@dataclass(frozen=True, slots=True)
class ChatSettingsKey:
    """Hash: what a chat (or forum topic) chose in /settings — model, reply_format, web_search ("1"/"0"),
    instructions; absent fields follow the operator's defaults. No TTL: kept until the chat's state
    goes (bot removed from the group), moved with a migrated group. Owner: storage.chat_settings."""

    ns: Namespace
    scope: ConversationKey

    def __str__(self) -> str:
        return f"{self.ns.prefix}:settings:{self.scope.as_path()}"


def chat_key_pattern(ns: Namespace, chat_id: int) -> str:
    """SCAN pattern matching every per-conversation key of one chat, whatever its family."""
    return f"{ns.prefix}:*:{chat_id}:t*"


@dataclass(frozen=True, slots=True)
class UsageKey:
    """Integer: tokens used by a user or a chat on one UTC day; 3-day TTL. Owner: storage.usage."""

    ns: Namespace
    scope: str  # "user" | "chat"
    owner_id: int
    day: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:usage:{self.scope}:{self.owner_id}:{self.day}"


@dataclass(frozen=True, slots=True)
class UsageApproximateKey:
    """String with a 3-day TTL: some of that day's tokens (UsageKey) are estimates. Owner: storage.usage."""

    ns: Namespace
    scope: str  # "user" | "chat"
    owner_id: int
    day: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:usage-approx:{self.scope}:{self.owner_id}:{self.day}"


@dataclass(frozen=True, slots=True)
class LaneJobsKey:
    """Sorted set: job ids of one conversation's lane, scored by update id. Owner: storage.lanes.

    Lane names use '/' where conversation paths use ':', so chat-wide operations (chat_key_pattern)
    never rename or expire the lanes of a chat while a replica works them."""

    ns: Namespace
    lane: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:lane:{self.lane}"


@dataclass(frozen=True, slots=True)
class LaneLockKey:
    """String with a PX expiry: the replica working the lane; kept alive by a heartbeat. Owner: storage.lanes."""

    ns: Namespace
    lane: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:lane-lock:{self.lane}"


@dataclass(frozen=True, slots=True)
class LaneJobKey:
    """Hash: one queued job (kind, payload, attempt, progress), then a 1-day tombstone. Owner: storage.lanes."""

    ns: Namespace
    job_id: str

    def __str__(self) -> str:
        return f"{self.ns.prefix}:job:{self.job_id}"


@dataclass(frozen=True, slots=True)
class ActiveLanesKey:
    """Set: lanes holding jobs, swept for lanes whose replica died. Owner: storage.lanes."""

    ns: Namespace

    def __str__(self) -> str:
        return f"{self.ns.prefix}:lanes"


@dataclass(frozen=True, slots=True)
class SeenUpdateKey:
    """String with a 1-day TTL: this update id was accepted by some replica. Owner: storage.updates."""

    ns: Namespace
    update_id: int

    def __str__(self) -> str:
        return f"{self.ns.prefix}:update:{self.update_id}"


# -- Telegram rate budgets shared by replicas. Owner: storage.telegram_budget. ---------------------
# Every key expires by itself: a bucket once it would be full again, the group window after one
# window, a pause when it ends, a learnt factor once it has climbed back to 1. A missing key means
# "nothing spent, nothing learnt", so expiry loses nothing.


@dataclass(frozen=True, slots=True)
class TelegramChatRateKey:
    """One chat's rate state: `chat`/`draft` hash {tokens, ts (µs)}; `window` sorted set of send times
    (µs); `pause`/`dpause` strings with a PX expiry (Telegram's retry_after, for sends+edits / drafts);
    `dlearn` hash {f, ts}: the learnt draft-rate factor. Owner: storage.telegram_budget."""

    ns: Namespace
    family: str  # "chat" | "draft" | "window" | "pause" | "dpause" | "dlearn"
    chat_id: int

    def __str__(self) -> str:
        return f"{self.ns.prefix}:tg-rate:{self.family}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class TelegramGlobalRateKey:
    """Bot-wide rate state: `tat` string (µs, GCRA: when the next global slot is free); `pause` string
    with PX expiry; `learn` hash {f, ts}: the learnt global-rate factor; `last429` string (the chat of
    the latest 429, PX retry_after). Owner: storage.telegram_budget."""

    ns: Namespace
    family: str  # "tat" | "pause" | "learn" | "last429"

    def __str__(self) -> str:
        return f"{self.ns.prefix}:tg-rate:global:{self.family}"


@dataclass(frozen=True, slots=True)
class RunningAnswerKey:
    """String (asker id, or '-') while an answer streams, 3-hour TTL. Owner: storage.stops."""

    ns: Namespace
    chat_id: int
    answer_id: int

    def __str__(self) -> str:
        return f"{self.ns.prefix}:running:{self.chat_id}/{self.answer_id}"


@dataclass(frozen=True, slots=True)
class StopChannel:
    """Pub/sub channel: "<chat id>/<answer id>" of an answer a user asked to stop. Owner: storage.stops."""

    ns: Namespace

    def __str__(self) -> str:
        return f"{self.ns.prefix}:stops"
