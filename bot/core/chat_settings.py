"""Per-chat settings: which model answers, how answers look, whether the web is searched, and the
chat's own instructions.

A chat stores only what it chose; everything else follows the operator's defaults, so a changed
default reaches every chat that never chose. Choices that are no longer allowed (a model the operator
removed, web search the operator turned off) quietly fall back to the defaults. Settings belong to a
conversation's scope without its member: the whole chat, or one forum topic where conversations are
per topic (core.models.ConversationKey). Who may change them is for the caller to decide (in groups:
admins only); this module only checks that a change is valid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from bot.core.authors import with_author_note
from bot.core.models import AnswerProfile, ConversationKey

log = logging.getLogger(__name__)

MAX_INSTRUCTIONS_CHARS = 4000


class ReplyFormat(StrEnum):
    CLASSIC = "classic"
    """Text with entities: readable on every Telegram client."""
    RICH = "rich"
    """Bot API rich messages (Markdown rendered natively); some clients cannot show them."""


class WebSearchPolicy(StrEnum):
    """What the operator allows (WEB_SEARCH)."""

    OFF = "off"
    ALLOWED = "allowed"
    """Chats may turn web search on; it starts off."""
    ON = "on"
    """Chats may turn web search off; it starts on."""


class Choice(StrEnum):
    """The settings a chat can choose, as stored."""

    MODEL = "model"
    REPLY_FORMAT = "reply_format"
    WEB_SEARCH = "web_search"
    INSTRUCTIONS = "instructions"


class Change(StrEnum):
    """What became of a requested change."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    UNKNOWN_MODEL = "unknown_model"
    WEB_SEARCH_DISABLED = "web_search_disabled"
    TOO_LONG = "too_long"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class ModelOption:
    model: str
    """As the operator wrote it in YC_MODELS (sent to the provider, stored per chat)."""
    name: str
    """What people see, e.g. "YandexGPT Pro 5"."""


@dataclass(frozen=True, slots=True)
class SettingsPolicy:
    """The operator's side: what chats may choose, and the defaults of chats that did not."""

    models: tuple[ModelOption, ...]
    default_model: str
    default_format: ReplyFormat
    web_search: WebSearchPolicy
    instructions: str

    def __post_init__(self) -> None:
        if not any(option.model == self.default_model for option in self.models):
            raise ValueError("the default model must be one of the allowed models")

    def option(self, model: str | None) -> ModelOption | None:
        return next((option for option in self.models if option.model == model), None)

    @property
    def web_search_offered(self) -> bool:
        return self.web_search is not WebSearchPolicy.OFF

    @property
    def default_option(self) -> ModelOption:
        option = self.option(self.default_model)
        assert option is not None  # checked in __post_init__
        return option


@dataclass(frozen=True, slots=True)
class ChatChoices:
    """What a chat chose; None means "the operator's default"."""

    model: str | None = None
    reply_format: ReplyFormat | None = None
    web_search: bool | None = None
    instructions: str | None = None


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A chat's settings in effect."""

    model: ModelOption
    reply_format: ReplyFormat
    web_search: bool
    web_search_offered: bool
    instructions: str
    own_instructions: bool
    """True when the chat set its instructions with /prompt (False: the operator's)."""

    @property
    def profile(self) -> AnswerProfile:
        """What answers use. The instructions always end with how group authors are marked, whoever
        wrote the rest: a chat's own instructions cannot drop it."""
        return AnswerProfile(
            model=self.model.model,
            instructions=with_author_note(self.instructions),
            web_search=self.web_search,
        )


class ChatSettingsStore(Protocol):
    async def load(self, scope: ConversationKey) -> ChatChoices: ...

    async def choose(self, scope: ConversationKey, choice: Choice, value: str | bool | None) -> None:
        """Store one choice (None: forget it, back to the default), leaving the others as they are."""


def settings_scope(key: ConversationKey) -> ConversationKey:
    """The settings of a conversation belong to its chat or topic, never to one member."""
    return replace(key, user_id=None)


class ChatSettingsService:
    def __init__(self, store: ChatSettingsStore, policy: SettingsPolicy) -> None:
        self._store = store
        self._policy = policy

    @property
    def policy(self) -> SettingsPolicy:
        return self._policy

    async def current(self, key: ConversationKey) -> ChatSettings:
        return self.resolve(await self._store.load(settings_scope(key)))

    def resolve(self, choices: ChatChoices) -> ChatSettings:
        policy = self._policy
        model = policy.option(choices.model)
        if choices.model is not None and model is None:
            log.info("a chat's model is no longer allowed; using the default")
        offered = policy.web_search_offered
        web_search = offered and (
            choices.web_search if choices.web_search is not None else policy.web_search is WebSearchPolicy.ON
        )
        return ChatSettings(
            model=model or policy.default_option,
            reply_format=choices.reply_format or policy.default_format,
            web_search=web_search,
            web_search_offered=offered,
            instructions=choices.instructions if choices.instructions is not None else policy.instructions,
            own_instructions=choices.instructions is not None,
        )

    def find_model(self, text: str) -> ModelOption | None:
        """The allowed model named `text`: its identifier or its human name, case and spacing aside."""
        wanted = " ".join(text.split()).casefold()
        for option in self._policy.models:
            if wanted in (option.model.casefold(), option.name.casefold()):
                return option
        return None

    async def choose_model(self, key: ConversationKey, model: str) -> Change:
        option = self._policy.option(model)
        if option is None:
            return Change.UNKNOWN_MODEL
        if (await self.current(key)).model == option:
            return Change.UNCHANGED
        # A conversation's provider chain cannot change models: the answering use case starts a new
        # chain when it sees that the chain's model is not the chat's model any more.
        await self._store.choose(settings_scope(key), Choice.MODEL, option.model)
        return Change.CHANGED

    async def choose_format(self, key: ConversationKey, reply_format: ReplyFormat) -> Change:
        if (await self.current(key)).reply_format is reply_format:
            return Change.UNCHANGED
        await self._store.choose(settings_scope(key), Choice.REPLY_FORMAT, reply_format.value)
        return Change.CHANGED

    async def choose_web_search(self, key: ConversationKey, enabled: bool) -> Change:
        if self._policy.web_search is WebSearchPolicy.OFF:
            return Change.WEB_SEARCH_DISABLED
        if (await self.current(key)).web_search == enabled:
            return Change.UNCHANGED
        await self._store.choose(settings_scope(key), Choice.WEB_SEARCH, enabled)
        return Change.CHANGED

    async def set_instructions(self, key: ConversationKey, text: str) -> Change:
        instructions = text.strip()
        if not instructions:
            return Change.EMPTY
        if len(instructions) > MAX_INSTRUCTIONS_CHARS:
            return Change.TOO_LONG
        current = await self.current(key)
        if current.own_instructions and current.instructions == instructions:
            return Change.UNCHANGED
        await self._store.choose(settings_scope(key), Choice.INSTRUCTIONS, instructions)
        return Change.CHANGED

    async def reset_instructions(self, key: ConversationKey) -> Change:
        if not (await self.current(key)).own_instructions:
            return Change.UNCHANGED
        await self._store.choose(settings_scope(key), Choice.INSTRUCTIONS, None)
        return Change.CHANGED
