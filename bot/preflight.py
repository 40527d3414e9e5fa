"""What must hold before the bot serves anyone: Telegram knows the token, Yandex accepts the credentials,
the model exists. Each failure is a `StartupError` with one line for the operator (and, for the doctor,
what to do about it). Used by `python -m bot` at start and by `python -m bot.doctor`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import openai
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import User
from openai import AsyncOpenAI

from bot.errors import StartupError
from bot.yandex.credentials import (
    CredentialsError,
    CredentialsRejected,
    CredentialsUnavailable,
    YandexCredentials,
)
from bot.yandex.models import missing_models

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 30.0


async def telegram_identity(bot: Bot, server: str) -> User:
    """getMe: the bot's own user, or StartupError when the token is refused or Telegram unreachable."""
    try:
        return await asyncio.wait_for(bot.me(), CHECK_TIMEOUT_S)
    except TelegramUnauthorizedError:
        raise StartupError(
            "Telegram rejected BOT_TOKEN (401 Unauthorized)",
            "copy the token again from @BotFather (/mybots → API Token)",
        ) from None
    except (TelegramNetworkError, TimeoutError, OSError) as error:
        raise StartupError(
            f"cannot reach Telegram at {server} ({_cause(error)})",
            "check the network, TELEGRAM_API_URL and the proxy settings (TELEGRAM_PROXY, HTTPS_PROXY)",
        ) from None
    except TelegramAPIError as error:
        raise StartupError(f"Telegram refused getMe ({_one_line(error.message)})") from None


async def yandex_models(client: AsyncOpenAI, credentials: YandexCredentials, base_url: str) -> list[str]:
    """The model URIs GET /v1/models offers with these credentials (getting the first IAM token on the
    way), or StartupError saying why Yandex cannot be used."""
    try:
        await credentials.authorization()
        page = await asyncio.wait_for(client.models.list(), CHECK_TIMEOUT_S)
    except CredentialsRejected as error:
        raise StartupError(str(error), _credentials_advice(credentials)) from None
    except CredentialsUnavailable as error:
        raise StartupError(str(error), "check the network and YC_IAM_URL / YC_METADATA_URL") from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
        raise StartupError(
            f"Yandex AI Studio rejected the credentials ({credentials.description}): "
            f"HTTP {error.status_code}: {_api_message(error)}",
            _credentials_advice(credentials),
        ) from None
    except openai.BadRequestError as error:
        raise StartupError(
            f"Yandex AI Studio refused the request: {_api_message(error)}",
            "YC_FOLDER_ID must be the folder the service account was created in",
        ) from None
    except openai.APIStatusError as error:
        raise StartupError(
            f"Yandex AI Studio answered GET /models with HTTP {error.status_code}: {_api_message(error)}",
            "try again later; if it persists, ask Yandex support with the x-request-id",
        ) from None
    except (openai.APIConnectionError, TimeoutError) as error:
        cause = error.__cause__ if isinstance(error.__cause__, CredentialsError) else None
        raise StartupError(
            str(cause) if cause else f"cannot reach Yandex AI Studio at {base_url} ({_cause(error)})",
            "check the network, YC_BASE_URL and HTTPS_PROXY",
        ) from None
    return [model.id for model in page.data]


def require_models(available: Sequence[str], wanted: Sequence[str], setting: str = "YC_MODEL") -> None:
    """StartupError naming the first of `wanted` that `available` lacks. Fine-tuned models (`@suffix`)
    only warn: whether GET /v1/models lists them is not documented."""
    for uri in missing_models(available, wanted):
        if "@" in uri:
            log.warning("%s %s is not listed by GET /v1/models; trying it anyway (fine-tuned)", setting, uri)
            continue
        listed = ", ".join(sorted(available)[:12]) or "nothing"
        raise StartupError(
            f"{setting} {uri} is not offered by Yandex AI Studio to this folder (it offers: {listed})",
            "pick a model from that list (README: Models); Yandex retires old versions",
        )


def _credentials_advice(credentials: YandexCredentials) -> str:
    return (
        "check the key and the service account's roles on the folder: ai.languageModels.user and "
        f"ai.assistants.editor (credentials: {credentials.description})"
    )


def _api_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return _one_line(str(message))
    return _one_line(error.message)


def _cause(error: BaseException) -> str:
    inner = error.__cause__ or error.__context__
    return (
        type(inner).__name__
        if inner is not None and type(error).__name__.startswith("Telegram")
        else type(error).__name__
    )


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]
