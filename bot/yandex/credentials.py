"""Credentials for Yandex Cloud APIs: one component that knows which `Authorization` header to send now.

Every client that talks to Yandex (the openai client today, SpeechKit calls tomorrow) asks the same
`YandexCredentials` for the header of each request (`authorization()`), and reports a 401 with `reject()`.

- An **API key** is sent as `Api-Key <key>` (the scheme Yandex documents for every API-key service,
  en/_includes/ai-studio/ai-before-beginning.md; the OpenAI-compatible endpoint also takes `Bearer`).
- A static **IAM token** is sent as `Bearer <token>`. It lives at most 12 hours and nothing renews it.
- A service account's **authorized key** signs a PS256 JWT (`kid` = key id, `iss` = service account,
  `aud` = https://iam.api.cloud.yandex.net/iam/v1/tokens, at most an hour long) that IAM exchanges for an
  IAM token (en/iam/operations/iam-token/create-for-sa.md, en/iam/api-ref/IamToken/create.md).
- On a Yandex Cloud VM or serverless container the **metadata service** hands out the linked service
  account's IAM token (en/compute/operations/vm-connect/auth-inside-vm.md,
  en/serverless-containers/operations/sa.md).

Issued tokens are renewed well before they expire: by a background task (`start()`) once half their
lifetime or an hour has passed, whichever comes first (Yandex recommends renewing hourly), and, should
that task not have managed, by the request that finds the token close to expiry. A renewal that fails
while the current token is still valid only logs a warning and is retried, so no user request fails
because a token expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx2
import jwt

from bot.yandex.authorized_key import AuthorizedKey

log = logging.getLogger(__name__)

IAM_AUDIENCE = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
JWT_LIFETIME_S = 600  # only has to outlive the exchange; IAM accepts up to 3600
RENEW_AFTER_MAX_S = 3600.0  # "we recommend requesting a token more often, e.g., every hour"
EXPIRY_MARGIN_MAX_S = 60.0
REQUEST_TIMEOUT_S = 10.0


class CredentialsError(httpx2.TransportError):
    """No valid token can be had. A transport error on purpose: raised while a request is being sent,
    it reaches the openai client as a connection failure (the answer fails as "temporarily
    unavailable", the circuit breaker counts it) instead of as an unknown exception. Safe to print."""


class CredentialsRejected(CredentialsError):
    """IAM or the metadata service refused to issue a token: the operator has to act."""


class CredentialsUnavailable(CredentialsError):
    """IAM or the metadata service is unreachable or failing right now."""


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_at: float
    """Unix time."""


class TokenSource(Protocol):
    description: str

    async def fetch(self) -> IssuedToken: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class _HeldToken:
    header: str
    expires_at: float
    renew_at: float
    usable_until: float

    @classmethod
    def of(cls, token: IssuedToken, now: float) -> _HeldToken:
        lifetime = max(token.expires_at - now, 0.0)
        return cls(
            header=f"Bearer {token.value}",
            expires_at=token.expires_at,
            renew_at=now + min(lifetime / 2, RENEW_AFTER_MAX_S),
            usable_until=token.expires_at - min(lifetime / 10, EXPIRY_MARGIN_MAX_S),
        )


class YandexCredentials:
    """The Authorization header for Yandex requests; see the module docstring."""

    def __init__(
        self,
        description: str,
        *,
        static_header: str | None = None,
        source: TokenSource | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        assert (static_header is None) != (source is None)
        self.description = description
        self._static = static_header
        self._source = source
        self._clock = clock
        self._sleep = sleep
        self._token: _HeldToken | None = None
        self._lock = asyncio.Lock()
        self._keeper: asyncio.Task[None] | None = None

    @classmethod
    def api_key(cls, key: str) -> YandexCredentials:
        return cls("API key", static_header=f"Api-Key {key}")

    @classmethod
    def iam_token(cls, token: str) -> YandexCredentials:
        return cls("static IAM token", static_header=f"Bearer {token}")

    @classmethod
    def issued_by(cls, source: TokenSource) -> YandexCredentials:
        return cls(f"IAM tokens from {source.description}", source=source)

    @property
    def renews(self) -> bool:
        return self._source is not None

    async def authorization(self) -> str:
        """The header value for a request sent now. Raises CredentialsError (CredentialsRejected or
        CredentialsUnavailable) only when no valid token is held and none can be had."""
        if self._static is not None:
            return self._static
        held = self._token
        if held is not None and self._clock() < held.usable_until:
            return held.header
        return (await self._renew(only_if_unusable=True)).header

    def reject(self, authorization: str) -> None:
        """A request sent with `authorization` got 401: do not send that token again."""
        held = self._token
        if held is not None and held.header == authorization:
            log.warning("Yandex refused the current IAM token (401); fetching a new one")
            self._token = None

    def start(self) -> None:
        """Renew tokens in the background until `aclose()`; nothing to do for static credentials."""
        if self._source is not None and self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_fresh(), name="yandex-token-renewal")

    async def aclose(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        if self._source is not None:
            await self._source.aclose()

    async def _renew(self, *, only_if_unusable: bool) -> _HeldToken:
        assert self._source is not None
        async with self._lock:
            held = self._token
            if only_if_unusable and held is not None and self._clock() < held.usable_until:
                return held  # renewed by someone else while this request waited
            issued = await self._source.fetch()
            self._token = _HeldToken.of(issued, self._clock())
            return self._token

    async def _keep_fresh(self) -> None:
        while True:
            held = self._token
            if held is not None and held.renew_at > self._clock():
                await self._sleep(held.renew_at - self._clock())
            try:
                await self._renew(only_if_unusable=False)
            except CredentialsError as error:
                current = self._token
                left = current.expires_at - self._clock() if current is not None else 0.0
                log.log(
                    logging.ERROR if isinstance(error, CredentialsRejected) else logging.WARNING,
                    "could not renew the Yandex IAM token (%s); the current one is valid for %.0f s more",
                    error,
                    max(left, 0.0),
                )
                # Retry often enough to renew before the current token lapses, without hammering IAM.
                await self._sleep(min(30.0, max(0.5, left / 10)))


class ServiceAccountKeySource:
    """IAM tokens for a service account's authorized key, exchanged at `iam_url`."""

    def __init__(self, key: AuthorizedKey, iam_url: str, http: httpx2.AsyncClient) -> None:
        self._key = key
        self._url = iam_url
        self._http = http
        self.description = f"service-account key {key.key_id}"

    def signed_jwt(self, now: int) -> str:
        claims = {
            "iss": self._key.service_account_id,
            "aud": IAM_AUDIENCE,
            "iat": now,
            "exp": now + JWT_LIFETIME_S,
        }
        return jwt.encode(claims, self._key.private_key, algorithm="PS256", headers={"kid": self._key.key_id})

    async def fetch(self) -> IssuedToken:
        assertion = self.signed_jwt(int(time.time()))
        try:
            response = await self._http.post(self._url, json={"jwt": assertion}, timeout=REQUEST_TIMEOUT_S)
        except httpx2.HTTPError as error:
            raise CredentialsUnavailable(
                f"cannot reach IAM at {self._url} ({type(error).__name__})"
            ) from None
        body = _json_or_empty(response)
        if response.status_code in (400, 401, 403, 404):
            raise CredentialsRejected(
                f"Yandex IAM refused the service-account key {self._key.key_id} of service account "
                f"{self._key.service_account_id} (HTTP {response.status_code}: {_message(body)})"
            )
        if response.status_code != 200 or not isinstance(body.get("iamToken"), str):
            raise CredentialsUnavailable(f"IAM at {self._url} answered HTTP {response.status_code}")
        return IssuedToken(body["iamToken"], _expiry(body.get("expiresAt")))

    async def aclose(self) -> None:
        await self._http.aclose()


class MetadataSource:
    """IAM tokens of the service account linked to this VM or serverless container."""

    description = "the metadata service"

    def __init__(self, url: str, http: httpx2.AsyncClient) -> None:
        self._url = url
        self._http = http

    async def fetch(self) -> IssuedToken:
        try:
            response = await self._http.get(
                self._url, headers={"Metadata-Flavor": "Google"}, timeout=REQUEST_TIMEOUT_S
            )
        except httpx2.HTTPError as error:
            raise CredentialsUnavailable(
                f"cannot reach the metadata service at {self._url} ({type(error).__name__}): YC_AUTH=metadata "
                "works on a Yandex Cloud VM or serverless container"
            ) from None
        if response.status_code in (403, 404):
            raise CredentialsRejected(
                f"the metadata service has no token (HTTP {response.status_code}): link a service account "
                "to this VM or container"
            )
        body = _json_or_empty(response)
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise CredentialsUnavailable(f"the metadata service answered HTTP {response.status_code}")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else RENEW_AFTER_MAX_S
        return IssuedToken(body["access_token"], time.time() + lifetime)

    async def aclose(self) -> None:
        await self._http.aclose()


class YandexAuth(httpx2.Auth):
    """Sets each request's Authorization header from the credentials, and reports 401s to them."""

    def __init__(self, credentials: YandexCredentials) -> None:
        self._credentials = credentials

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        authorization = await self._credentials.authorization()
        request.headers["Authorization"] = authorization
        response = yield request
        if response.status_code == 401:
            self._credentials.reject(authorization)


def _json_or_empty(response: httpx2.Response) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return body
    return {}


def _message(body: dict[str, Any]) -> str:
    message = body.get("message") or body.get("error") or "no details"
    return " ".join(str(message).split())[:200]


def _expiry(value: object) -> float:
    """`expiresAt` is RFC 3339 with up to nine fraction digits; Python reads at most six."""
    if not isinstance(value, str):
        return time.time() + RENEW_AFTER_MAX_S
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return time.time() + RENEW_AFTER_MAX_S
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
