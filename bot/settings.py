"""Typed settings from the environment and an optional `.env` file (pydantic-settings).

Loaded once in `bot.__main__` and passed down; nothing reads the environment anywhere else.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.context import documented_context_tokens

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant in a Telegram chat. Answer concisely and accurately, in the language "
    "of the question. Use Markdown sparingly. When documents are available, rely on them and say so."
)

IdSet = Annotated[frozenset[int], NoDecode]
NameList = Annotated[tuple[str, ...], NoDecode]

MAX_WEB_SEARCH_DOMAINS = 5  # Yandex: `allowed_domains` holds up to five domains (tools/websearch.md)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it and is safe to print."""


class Settings(BaseSettings):
    # Empty values (e.g. `YC_IAM_TOKEN=` in .env) mean "not set", so defaults apply.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # Telegram
    bot_token: SecretStr
    telegram_api_url: str | None = None
    bot_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    # Replicas: a conversation's lane lock lives this long without a heartbeat (a killed replica's
    # answers resume elsewhere after it); deliveries of one chat wait this long for an earlier one.
    lane_lock_seconds: float = Field(default=15.0, ge=1, le=600)
    update_order_grace_ms: int = Field(default=300, ge=0, le=10_000)
    # Storage
    redis_url: str = "redis://localhost:6379/0"
    # Yandex AI Studio
    yc_folder_id: str
    yc_api_key: SecretStr | None = None
    yc_iam_token: SecretStr | None = None
    yc_base_url: str = "https://ai.api.cloud.yandex.net/v1"
    yc_model: str = "yandexgpt/latest"
    # Models a chat may choose in /settings (YC_MODEL is the default and must be one of them).
    yc_models: NameList = ()
    yc_timeout_seconds: float = Field(default=120.0, gt=0)
    provider_breaker_failures: int = Field(default=5, ge=0, le=1000)  # 0 = the breaker never opens
    provider_breaker_cooldown_seconds: float = Field(default=15.0, gt=0, le=3600)
    provider_breaker_max_cooldown_seconds: float = Field(default=120.0, gt=0, le=3600)
    assistant_instructions: str = DEFAULT_INSTRUCTIONS
    # Web search (Yandex's web_search tool): off, allowed (a chat may turn it on), on (on by default)
    web_search: Literal["off", "allowed", "on"] = "off"
    web_search_domains: NameList = ()
    web_search_region: str | None = None
    # Context: the model's size (default: what Yandex documents for the allowed models), when to roll a
    # conversation over into a new chain, and what the new chain carries.
    model_context_tokens: int | None = Field(default=None, ge=1024, le=2_000_000)
    context_rollover_percent: int = Field(default=75, ge=20, le=95)
    rollover_recent_percent: int = Field(default=20, ge=5, le=50)
    rollover_summary_tokens: int = Field(default=800, ge=64, le=8192)
    # Presentation: the default of chats that have not chosen (see README, "Why classic")
    reply_format: Literal["rich", "classic"] = "classic"
    private_streaming: Literal["draft", "edit"] = "draft"
    # Access
    allowed_user_ids: IdSet = frozenset()
    allowed_chat_ids: IdSet = frozenset()
    admin_user_ids: IdSet = frozenset()
    # Groups
    group_context: Literal["group", "topic", "user"] = "topic"
    group_context_messages: int = Field(default=0, ge=0, le=50)
    group_documents_from_anyone: bool = False
    group_state_retention_days: int = Field(default=30, ge=1, le=365)
    # Documents
    max_document_mb: float = Field(default=20.0, gt=0, le=2000)
    max_documents_per_chat: int = Field(default=20, ge=1, le=10_000)
    index_ttl_days: int = Field(default=7, ge=1, le=365)
    chunk_size_tokens: int = Field(default=800, ge=100, le=4096)
    chunk_overlap_tokens: int = Field(default=400, ge=0, le=2048)
    reclaim_idle_indexes: bool = False
    index_poll_seconds: float = Field(default=1.0, gt=0)
    index_timeout_seconds: float = Field(default=600.0, gt=0)
    # Behaviour and limits
    max_queued_per_chat: int = Field(default=5, ge=1, le=100)
    max_queued_per_user: int = Field(default=3, ge=1, le=100)  # in groups, per member
    max_question_chars: int = Field(default=8000, ge=100)
    transcript_max_turns: int = Field(default=200, ge=10)
    replay_turns: int = Field(default=20, ge=0, le=200)  # most turns carried verbatim into a new chain
    conversation_ttl_days: int = Field(default=29, ge=1, le=365)
    shutdown_deadline_seconds: float = Field(default=25.0, ge=0)
    user_daily_tokens: int = Field(default=0, ge=0)
    chat_daily_tokens: int = Field(default=0, ge=0)
    # Operations
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("allowed_user_ids", "allowed_chat_ids", "admin_user_ids", mode="before")
    @classmethod
    def _parse_id_list(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        return value

    @field_validator("yc_models", "web_search_domains", mode="before")
    @classmethod
    def _parse_name_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
        return value

    @field_validator("web_search_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_WEB_SEARCH_DOMAINS:
            raise ValueError(f"at most {MAX_WEB_SEARCH_DOMAINS} domains (Yandex's limit)")
        for domain in value:
            if not _DOMAIN.fullmatch(domain.lower()):
                raise ValueError(f"{domain!r} is not a domain name (no scheme or path, e.g. example.org)")
        return tuple(domain.lower() for domain in value)

    @field_validator("web_search_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().isdigit():
            raise ValueError("must be a numeric Yandex region code, e.g. 213 (Moscow)")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _default_model_allowed(self) -> Settings:
        if self.yc_models and self.yc_model not in self.yc_models:
            raise ValueError("YC_MODEL must be one of YC_MODELS")
        return self

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """The models a chat may choose, in the operator's order (just YC_MODEL without YC_MODELS)."""
        return self.yc_models or (self.yc_model,)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        bot_id, _, secret = value.get_secret_value().partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("must look like <bot id>:<secret> as issued by @BotFather")
        return value

    @model_validator(mode="after")
    def _chunk_overlap(self) -> Settings:
        if self.chunk_overlap_tokens * 2 > self.chunk_size_tokens:
            raise ValueError("CHUNK_OVERLAP_TOKENS must be at most half of CHUNK_SIZE_TOKENS")
        return self

    @model_validator(mode="after")
    def _webhook_settings(self) -> Settings:
        if self.bot_mode == "webhook":
            if not self.webhook_url or not self.webhook_url.startswith(("https://", "http://")):
                raise ValueError("WEBHOOK_URL must be an http(s) URL when BOT_MODE=webhook")
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
                raise ValueError(
                    "WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ or - in webhook mode"
                )
        return self

    @property
    def webhook_path(self) -> str:
        return urlsplit(self.webhook_url or "").path or "/"

    @model_validator(mode="after")
    def _one_credential(self) -> Settings:
        if self.yc_api_key is None and self.yc_iam_token is None:
            raise ValueError("YC_API_KEY or YC_IAM_TOKEN must be set")
        return self

    @model_validator(mode="after")
    def _rollover_leaves_room(self) -> Settings:
        if self.rollover_recent_percent * 2 > self.context_rollover_percent:
            raise ValueError(
                "ROLLOVER_RECENT_PERCENT must be at most half of CONTEXT_ROLLOVER_PERCENT "
                "(a new chain must start well below the rollover threshold)"
            )
        return self

    @property
    def context_tokens(self) -> int:
        """MODEL_CONTEXT_TOKENS, or the smallest context Yandex documents for the models a chat may
        use (YC_MODEL, or any of YC_MODELS): one rollover policy then fits whichever a chat chose."""
        if self.model_context_tokens:
            return self.model_context_tokens
        return min(documented_context_tokens(model) for model in self.allowed_models)

    @property
    def bot_id(self) -> int:
        return int(self.bot_token.get_secret_value().split(":", 1)[0])

    @property
    def yc_credential(self) -> str:
        secret = self.yc_api_key or self.yc_iam_token
        assert secret is not None  # guaranteed by _one_credential
        return secret.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Build Settings or raise SettingsError with one line naming the offending setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic-settings takes env-style kwargs
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if not str(part).isdigit()]
    name = location[0].upper() if location else ""
    message = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        message = "is required but not set"
    if not name:
        return f"invalid configuration: {message.removeprefix('Value error, ')}"
    return f"invalid setting {name}: {message.removeprefix('Value error, ')}"
