"""Builds the clients that talk to Yandex: the credentials and the OpenAI-compatible client for AI Studio.
Called only from bot.wiring (and the doctor, which checks a deployment with the same pieces)."""

from __future__ import annotations

from typing import Any

import httpx2
from openai import AsyncOpenAI, DefaultAioHttpClient, DefaultAsyncHttpxClient

from bot.settings import Settings
from bot.yandex.authorized_key import load_authorized_key
from bot.yandex.credentials import (
    MetadataSource,
    ServiceAccountKeySource,
    YandexAuth,
    YandexCredentials,
)

# The openai client insists on an api_key; the real header comes from YandexAuth on every request.
_PLACEHOLDER_KEY = "set-per-request"


def yandex_headers(settings: Settings) -> dict[str, str]:
    """Headers every request to Yandex carries: request logging is off unless YC_DATA_LOGGING=true
    (en/ai-studio/operations/disable-logging.md)."""
    return {} if settings.yc_data_logging else {"x-data-logging-enabled": "false"}


def build_credentials(settings: Settings) -> YandexCredentials:
    """The credentials YC_AUTH chose (settings resolved `auto` to one of them)."""
    if settings.yc_auth == "api_key":
        assert settings.yc_api_key is not None
        return YandexCredentials.api_key(settings.yc_api_key.get_secret_value())
    if settings.yc_auth == "iam_token":
        assert settings.yc_iam_token is not None
        return YandexCredentials.iam_token(settings.yc_iam_token.get_secret_value())
    if settings.yc_auth == "sa_key":
        assert settings.yc_sa_key_file is not None
        http = httpx2.AsyncClient(proxy=settings.proxy_for(settings.yc_iam_url))
        source = ServiceAccountKeySource(
            load_authorized_key(settings.yc_sa_key_file), settings.yc_iam_url, http
        )
        return YandexCredentials.issued_by(source)
    # The metadata service is link-local: never through a proxy.
    return YandexCredentials.issued_by(
        MetadataSource(settings.yc_metadata_url, httpx2.AsyncClient(trust_env=False))
    )


def yandex_http_options(settings: Settings, credentials: YandexCredentials, url: str) -> dict[str, Any]:
    """Keyword arguments for an `httpx2.AsyncClient` that talks to a Yandex API at `url` the way every
    Yandex client of the bot does: the shared credentials (a fresh Authorization header per request),
    the privacy header, the proxy. E.g. SpeechKit: `httpx2.AsyncClient(**yandex_http_options(...))`."""
    return {
        "auth": YandexAuth(credentials),
        "headers": yandex_headers(settings),
        "proxy": settings.proxy_for(url),
    }


def build_openai_client(
    settings: Settings, credentials: YandexCredentials, *, answer_streams: bool = False
) -> AsyncOpenAI:
    """The OpenAI-compatible client for AI Studio. `answer_streams`: the client that only asks for
    answers (the hot path), which reads its streams through aiohttp — see `_http_client`."""
    # Retries are ours (core.answering): the client must not retry behind our back, or a stream
    # could be restarted after the user already saw text.
    options = yandex_http_options(settings, credentials, settings.yc_base_url)
    return AsyncOpenAI(
        api_key=_PLACEHOLDER_KEY,
        project=settings.yc_folder_id,
        base_url=settings.yc_base_url,
        max_retries=0,
        timeout=settings.yc_timeout_seconds,
        default_headers=options.pop("headers"),
        http_client=_http_client(options, answer_streams=answer_streams),
    )


def _http_client(options: dict[str, Any], *, answer_streams: bool) -> httpx2.AsyncClient:
    """openai's defaults (timeouts, pool, redirects) on httpx's own transport, or — for answer
    streams without a proxy — on aiohttp, openai's documented alternative backend.

    An answer streams about a hundred small events, each its own chunk. httpx's transport pays for
    every one of them through six layers of async generators and anyio (a cancel scope per read, the
    socket registered with and removed from epoll per read), and every request and response close
    probes every idle pooled connection; aiohttp reads them from one protocol buffer. Measured by
    streaming 500-character answers from the emulator (bot side only): 23 → 15 ms of CPU per answer
    at 20 at a time, 11 → 7 ms at 100 (bench/README.md, "Cheaper answers"). Behind a proxy the httpx
    transport stays, as before: aiohttp handles proxies differently (HTTP ones only)."""
    if answer_streams and options.get("proxy") is None:
        options = {key: value for key, value in options.items() if key != "proxy"}
        return DefaultAioHttpClient(**options)
    return DefaultAsyncHttpxClient(**options)


def warm_up(client: AsyncOpenAI) -> None:
    """Do now what the client otherwise does lazily on the first answer: import and build its
    resources (done mid-answer, that blocks the event loop — every chat stalls, and lane heartbeats
    come late). Answer streams are read without the client's event models, so none are built."""
    resources = (
        client.responses.with_streaming_response,
        client.conversations,
        client.files,
        client.vector_stores,
        client.models,
    )
    assert all(resource is not None for resource in resources)
