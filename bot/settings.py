"""Typed settings from the environment and an optional `.env` file (pydantic-settings).

Loaded once in `bot.__main__` and passed down; nothing reads the environment anywhere else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.context import documented_context_tokens
from bot.yandex.authorized_key import load_authorized_key
from bot.yandex.models import model_uri

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant in a Telegram chat. Answer concisely and accurately, in the language "
    "of the question. Use Markdown sparingly. When documents are available, rely on them and say so."
)

IdSet = Annotated[frozenset[int], NoDecode]
NameList = Annotated[tuple[str, ...], NoDecode]
YandexAuth = Literal["auto", "api_key", "sa_key", "iam_token", "metadata"]

IAM_TOKENS_URL = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
# The metadata service of Yandex Cloud VMs and serverless containers, in Google Compute Engine format
# (en/compute/operations/vm-connect/auth-inside-vm.md, en/serverless-containers/operations/sa.md).
METADATA_TOKEN_URL = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"
_CREDENTIAL_SETTINGS: dict[YandexAuth, str] = {
    "api_key": "YC_API_KEY",
    "sa_key": "YC_SA_KEY_FILE",
    "iam_token": "YC_IAM_TOKEN",
}
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)?(@[A-Za-z0-9._-]+)?")
_MODEL_SHAPE = "is not a model name such as yandexgpt/latest or a URI gpt://<folder>/<model>"
MAX_WEB_SEARCH_DOMAINS = 5  # Yandex: `allowed_domains` holds up to five domains (tools/websearch.md)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")

# SpeechKit's recognition languages, case-insensitive (speechkit/stt/models.md).
STT_LANGUAGES = frozenset(
    code.lower()
    for code in (
        "auto",
        "de-DE",
        "en-US",
        "es-ES",
        "fi-FI",
        "fr-FR",
        "he-HE",
        "it-IT",
        "kk-KZ",
        "nl-NL",
        "pl-PL",
        "pt-PT",
        "pt-BR",
        "ru-RU",
        "sv-SE",
        "tr-TR",
        "uz-UZ",
    )
)


class SettingsError(Exception):
    """Settings are missing or invalid; the message names every one of them and is safe to print."""


def _combined(message: str) -> PydanticCustomError:
    """An error about several settings at once: its message names them itself (see `_describe`)."""
    return PydanticCustomError("combined", message)


class Settings(BaseSettings):
    # Empty values (e.g. `YC_IAM_TOKEN=` in .env) mean "not set", so defaults apply.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # Telegram
    bot_token: SecretStr
    telegram_api_url: str | None = None
    # A proxy for Telegram only (http://, https://, socks4:// or socks5://, with user:password@ if needed);
    # without it the standard HTTPS_PROXY (minus NO_PROXY hosts) applies to Telegram and Yandex alike.
    telegram_proxy: str | None = None
    https_proxy: str | None = Field(default=None, validation_alias=AliasChoices("HTTPS_PROXY", "https_proxy"))
    no_proxy: str | None = Field(default=None, validation_alias=AliasChoices("NO_PROXY", "no_proxy"))
    bot_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    # Replicas: a conversation's lane lock lives this long without a heartbeat (a killed replica's
    # answers resume elsewhere after it); deliveries of one chat wait this long for an earlier one.
    lane_lock_seconds: float = Field(default=15.0, ge=1, le=600)
    update_order_grace_ms: int = Field(default=300, ge=0, le=10_000)
    # Telegram's output limits as the scheduler models them (defaults: the strictest documented reading;
    # README "Limits and behaviour"); the scheduler stays TELEGRAM_RATE_MARGIN under every rate.
    telegram_global_per_second: float = Field(default=30.0, gt=0, le=1000)
    telegram_chat_per_second: float = Field(default=1.0, gt=0, le=100)
    telegram_chat_burst: int = Field(default=3, ge=1, le=100)
    telegram_draft_per_second: float = Field(default=2.0, gt=0, le=100)
    telegram_draft_burst: int = Field(default=3, ge=1, le=100)
    telegram_group_per_minute: int = Field(default=20, ge=1, le=1000)
    telegram_rate_margin: float = Field(default=0.1, ge=0, lt=1)
    telegram_rate_recovery_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # Storage
    redis_url: str = "redis://localhost:6379/0"
    # Yandex AI Studio: the folder, then one way to authenticate (see `_credentials`)
    yc_folder_id: str
    yc_api_key: SecretStr | None = None
    yc_sa_key_file: Path | None = None
    yc_iam_token: SecretStr | None = None
    yc_auth: YandexAuth = Field(default="auto", validate_default=True)
    yc_iam_url: str = IAM_TOKENS_URL
    yc_metadata_url: str = METADATA_TOKEN_URL
    # Yandex logs request contents unless told not to (operations/disable-logging.md); off by default.
    yc_data_logging: bool = False
    yc_base_url: str = "https://ai.api.cloud.yandex.net/v1"
    yc_model: str = Field(default="yandexgpt/latest", validate_default=True)
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
    rollover_recent_percent: int = Field(default=20, ge=5, le=50, validate_default=True)
    rollover_summary_tokens: int = Field(default=800, ge=64, le=8192)
    # Voice messages (Yandex SpeechKit) and images (an image-capable model)
    stt_enabled: bool = True
    stt_language: str = "auto"
    stt_max_duration_seconds: int = Field(default=600, ge=30, le=4 * 3600)
    stt_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    yc_stt_url: str = "https://stt.api.cloud.yandex.net/speech/v1/stt:recognize"
    yc_stt_async_url: str = "https://stt.api.cloud.yandex.net/stt/v3"
    yc_operations_url: str = "https://operation.api.cloud.yandex.net/operations"
    vision_model: str | None = None
    max_image_mb: float = Field(default=5.0, gt=0, le=20)
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
    chunk_overlap_tokens: int = Field(default=400, ge=0, le=2048, validate_default=True)
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
    # The health check fails when the bot could not receive updates from Telegram for this long.
    updates_stale_seconds: float = Field(default=120.0, ge=1, le=3600)
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

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """The models a chat may choose, in the operator's order (just YC_MODEL without YC_MODELS)."""
        return self.yc_models or (self.yc_model,)

    @property
    def allowed_model_uris(self) -> tuple[str, ...]:
        """The allowed models as Yandex wants them: gpt://<folder>/<model>."""
        return tuple(model_uri(self.yc_folder_id, model) for model in self.allowed_models)

    @field_validator("stt_language")
    @classmethod
    def _stt_language(cls, value: str) -> str:
        if value.lower() not in STT_LANGUAGES:
            raise ValueError(f"must be one of SpeechKit's language codes: {', '.join(sorted(STT_LANGUAGES))}")
        return value

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

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://localhost:6379/0")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("needs a host, e.g. redis://localhost:6379/0")
        if port == 0:
            raise ValueError("has an invalid port")
        database = parts.path.strip("/") if parts.scheme != "unix" else ""
        if database and not database.isdigit():
            raise ValueError("the path must be a database number, e.g. /0")
        return value

    @field_validator("telegram_proxy", "https_proxy")
    @classmethod
    def _proxy_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks4", "socks5") or not parts.hostname:
            raise ValueError("must be a proxy URL such as http://proxy:3128 or socks5://user:pass@host:1080")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_settings(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("bot_mode") != "webhook":
            return value
        problems = []
        url = info.data.get("webhook_url")
        if "webhook_url" in info.data and (not url or not url.startswith(("https://", "http://"))):
            problems.append("WEBHOOK_URL must be an http(s) URL when BOT_MODE=webhook")
        secret = value.get_secret_value() if value else ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            problems.append(
                "WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ or - in webhook mode"
            )
        if problems:
            raise _combined("; ".join(problems))
        return value

    @field_validator("yc_sa_key_file")
    @classmethod
    def _readable_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_authorized_key(value)  # ValueError says what is wrong with the file
        return value

    @field_validator("yc_auth")
    @classmethod
    def _credentials(cls, value: YandexAuth, info: ValidationInfo) -> YandexAuth:
        """One way to authenticate: the one YC_AUTH names, or the only credential that is set."""
        given = {
            mode: name
            for mode, name in _CREDENTIAL_SETTINGS.items()
            if info.data.get(name.lower()) is not None
            or name.lower() not in info.data  # set, but invalid: reported on its own
        }
        if value == "auto":
            if len(given) == 1:
                return next(iter(given))
            if not given:
                raise _combined(
                    "YC_API_KEY, YC_SA_KEY_FILE or YC_IAM_TOKEN must be set "
                    "(or YC_AUTH=metadata on a Yandex Cloud VM or serverless container)"
                )
            raise _combined(
                f"set only one of {', '.join(given.values())}, or choose one with YC_AUTH "
                f"({'|'.join(_CREDENTIAL_SETTINGS)}|metadata)"
            )
        if value != "metadata" and value not in given:
            raise _combined(f"YC_AUTH={value} needs {_CREDENTIAL_SETTINGS[value]}")
        return value

    @field_validator("yc_model")
    @classmethod
    def _model_shape(cls, value: str, info: ValidationInfo) -> str:
        return _checked_model(value, info.data.get("yc_folder_id"), "YC_MODEL")

    @field_validator("yc_models")
    @classmethod
    def _models_shape(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        folder = info.data.get("yc_folder_id")
        models = tuple(_checked_model(model, folder, "YC_MODELS") for model in value)
        default = info.data.get("yc_model")
        if models and default is not None and default not in models:
            raise _combined("YC_MODEL must be one of YC_MODELS")
        return models

    @field_validator("chunk_overlap_tokens")
    @classmethod
    def _chunk_overlap(cls, value: int, info: ValidationInfo) -> int:
        size = info.data.get("chunk_size_tokens")
        if size is not None and value * 2 > size:
            raise _combined("CHUNK_OVERLAP_TOKENS must be at most half of CHUNK_SIZE_TOKENS")
        return value

    @property
    def webhook_path(self) -> str:
        return urlsplit(self.webhook_url or "").path or "/"

    @field_validator("rollover_recent_percent")
    @classmethod
    def _rollover_leaves_room(cls, value: int, info: ValidationInfo) -> int:
        threshold = info.data.get("context_rollover_percent")
        if threshold is not None and value * 2 > threshold:
            raise _combined(
                "ROLLOVER_RECENT_PERCENT must be at most half of CONTEXT_ROLLOVER_PERCENT "
                "(a new chain must start well below the rollover threshold)"
            )
        return value

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
    def yc_model_uri(self) -> str:
        """YC_MODEL as Yandex wants it: gpt://<folder>/<model>."""
        return model_uri(self.yc_folder_id, self.yc_model)

    def proxy_for(self, url: str) -> str | None:
        """HTTPS_PROXY for `url`, unless NO_PROXY exempts its host (the usual convention)."""
        if not self.https_proxy or _exempt(urlsplit(url).hostname or "", self.no_proxy or ""):
            return None
        return self.https_proxy

    @property
    def telegram_proxy_url(self) -> str | None:
        """TELEGRAM_PROXY, else HTTPS_PROXY (minus NO_PROXY) for the Bot API server."""
        return self.telegram_proxy or self.proxy_for(self.telegram_api_url or "https://api.telegram.org")

    def secrets(self) -> list[str]:
        """Every secret value in these settings, for log redaction."""
        values = [self.bot_token.get_secret_value()]
        for secret in (self.yc_api_key, self.yc_iam_token, self.webhook_secret):
            if secret is not None:
                values.append(secret.get_secret_value())
        for url in (self.redis_url, self.telegram_proxy, self.https_proxy):
            password = urlsplit(url).password if url else None
            if password:
                values.append(password)
        return values


def _exempt(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY (comma-separated hosts or domain suffixes, `*` for all) covers `host`."""
    for entry in (part.strip().lower() for part in no_proxy.split(",")):
        entry = entry.split(":", 1)[0] if entry.count(":") == 1 else entry  # host:port → host
        if entry == "*" or (entry and (host == entry.lstrip(".") or host.endswith("." + entry.lstrip(".")))):
            return True
    return False


def _checked_model(value: str, folder: str | None, setting: str) -> str:
    """A model name (`yandexgpt/latest`) or URI (`gpt://<folder>/<model>`) in the configured folder."""
    if value.startswith("gpt://"):
        model_folder, _, name = value.removeprefix("gpt://").partition("/")
        if not name or not _MODEL_NAME.fullmatch(name):
            raise ValueError(f"{value!r} {_MODEL_SHAPE}")
        if folder is not None and model_folder != folder:
            raise _combined(
                f"{setting} names folder {model_folder!r} but YC_FOLDER_ID is {folder!r}: Yandex "
                "refuses models outside the service account's folder"
            )
    elif not _MODEL_NAME.fullmatch(value):
        raise ValueError(f"{value!r} {_MODEL_SHAPE}")
    return value


def load_settings(**overrides: object) -> Settings:
    """Build Settings or raise SettingsError with one line naming every missing or invalid setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic-settings takes env-style kwargs
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    """One line: "invalid setting NAME: why" for one problem, "invalid settings: A; B; …" for several."""
    problems: list[tuple[str, str]] = []  # (setting name or "", what is wrong)
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if not str(part).isdigit()]
        name = location[0].upper() if location and item.get("type") != "combined" else ""
        message = " ".join(str(item.get("msg", "invalid value")).removeprefix("Value error, ").split())
        problems.append((name, "is required but not set" if item.get("type") == "missing" else message))
    if len(problems) == 1:
        name, message = problems[0]
        return f"invalid setting {name}: {message}" if name else f"invalid configuration: {message}"
    parts = [
        message if not name else f"{name} {message}" if message.startswith("is ") else f"{name}: {message}"
        for name, message in problems
    ]
    return "invalid settings: " + "; ".join(dict.fromkeys(parts))
