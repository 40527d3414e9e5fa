"""YandexCredentials: which Authorization header goes out, when IAM tokens are renewed, and how a
service account's JWT is built (checked with PyJWT against the public key, as IAM checks it)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bot.yandex.authorized_key import load_authorized_key
from bot.yandex.credentials import (
    IAM_AUDIENCE,
    CredentialsRejected,
    CredentialsUnavailable,
    IssuedToken,
    ServiceAccountKeySource,
    YandexCredentials,
    _expiry,
)
from tests.fakes.yandex.iam import write_authorized_key


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedSource:
    """Tokens that live `lifetime` seconds from the fake clock; `failing` makes fetches fail."""

    description = "a test source"

    def __init__(self, clock: Clock, lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.fetches = 0
        self.failing: Exception | None = None
        self.closed = False

    async def fetch(self) -> IssuedToken:
        if self.failing is not None:
            raise self.failing
        self.fetches += 1
        return IssuedToken(f"token-{self.fetches}", self.clock() + self.lifetime)

    async def aclose(self) -> None:
        self.closed = True


async def test_static_credentials_use_the_documented_schemes() -> None:
    assert await YandexCredentials.api_key("AQVN-key").authorization() == "Api-Key AQVN-key"
    assert await YandexCredentials.iam_token("t1.abc").authorization() == "Bearer t1.abc"
    assert not YandexCredentials.api_key("k").renews


async def test_a_held_token_is_reused_until_close_to_expiry_then_fetched_again() -> None:
    clock = Clock()
    source = ScriptedSource(clock, lifetime=3600)
    credentials = YandexCredentials.issued_by(source)
    credentials._clock = clock  # the held token's times come from the same fake clock
    assert await credentials.authorization() == "Bearer token-1"
    clock.now += 3000
    assert await credentials.authorization() == "Bearer token-1"
    clock.now += 545  # 55 s left: within the last 60 s (a tenth of the lifetime, at most a minute)
    assert await credentials.authorization() == "Bearer token-2"
    assert source.fetches == 2


async def test_concurrent_requests_share_one_fetch() -> None:
    clock = Clock()
    source = ScriptedSource(clock, lifetime=3600)
    credentials = YandexCredentials("t", source=source, clock=clock)
    headers = await asyncio.gather(*(credentials.authorization() for _ in range(20)))
    assert set(headers) == {"Bearer token-1"} and source.fetches == 1


async def test_a_rejected_token_is_not_sent_again() -> None:
    clock = Clock()
    source = ScriptedSource(clock, lifetime=3600)
    credentials = YandexCredentials("t", source=source, clock=clock)
    first = await credentials.authorization()
    credentials.reject("Bearer some-other-token")
    assert await credentials.authorization() == first
    credentials.reject(first)
    assert await credentials.authorization() == "Bearer token-2"


async def test_without_a_valid_token_the_failure_reaches_the_caller() -> None:
    clock = Clock()
    source = ScriptedSource(clock, lifetime=3600)
    credentials = YandexCredentials("t", source=source, clock=clock)
    source.failing = CredentialsRejected("IAM refused the key")
    with pytest.raises(CredentialsRejected):
        await credentials.authorization()
    source.failing = CredentialsUnavailable("IAM unreachable")
    with pytest.raises(CredentialsUnavailable):
        await credentials.authorization()


async def test_background_renewal_runs_at_half_life_and_survives_failures() -> None:
    clock = Clock()
    sleeps: list[float] = []
    wake = asyncio.Event()
    proceed = asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds
        wake.set()
        await proceed.wait()
        proceed.clear()

    source = ScriptedSource(clock, lifetime=10)
    credentials = YandexCredentials("t", source=source, clock=clock, sleep=sleep)
    assert await credentials.authorization() == "Bearer token-1"
    credentials.start()

    async def next_sleep() -> float:
        await asyncio.wait_for(wake.wait(), 5)
        wake.clear()
        return sleeps[-1]

    assert await next_sleep() == pytest.approx(5.0), "renewed at half of a short lifetime"
    source.failing = CredentialsUnavailable("IAM down")
    proceed.set()
    retry = await next_sleep()
    assert 0.5 <= retry < 5, "a failed renewal is retried soon, while the current token still works"
    assert await credentials.authorization() == "Bearer token-1", "the current token keeps being used"
    source.failing = None
    proceed.set()
    assert await next_sleep() == pytest.approx(5.0)
    assert await credentials.authorization() == "Bearer token-2"
    await credentials.aclose()
    assert source.closed


async def test_long_tokens_are_renewed_hourly() -> None:
    clock = Clock()
    source = ScriptedSource(clock, lifetime=12 * 3600)
    credentials = YandexCredentials("t", source=source, clock=clock)
    await credentials.authorization()
    held = credentials._token
    assert held is not None
    assert held.renew_at - clock.now == pytest.approx(3600), "Yandex recommends renewing every hour"


def test_expiry_reads_rfc3339_with_nanoseconds() -> None:
    assert _expiry("2026-12-03T10:00:00.123456789Z") == pytest.approx(1796292000.123456)
    assert _expiry("2026-12-03T13:00:00+03:00") == pytest.approx(1796292000.0)
    assert _expiry("2026-12-03T10:00:00Z") == pytest.approx(1796292000.0)
    assert _expiry("nonsense") > time.time()


def test_the_jwt_is_what_iam_expects(tmp_path: Path) -> None:
    key_file = write_authorized_key(tmp_path / "key.json", key_id="ajekey", service_account_id="ajeaccount")
    source = ServiceAccountKeySource(load_authorized_key(key_file), "http://unused", None)  # type: ignore[arg-type]
    token = source.signed_jwt(now=int(time.time()))
    public = serialization.load_pem_public_key(json.loads(key_file.read_text())["public_key"].encode())
    assert isinstance(public, RSAPublicKey)
    assert jwt.get_unverified_header(token) == {"alg": "PS256", "typ": "JWT", "kid": "ajekey"}
    claims = jwt.decode(
        token,
        public,
        algorithms=["PS256"],
        audience=IAM_AUDIENCE,
        options={"verify_exp": False},
    )
    assert claims["iss"] == "ajeaccount"
    assert claims["aud"] == "https://iam.api.cloud.yandex.net/iam/v1/tokens"
    assert 0 < claims["exp"] - claims["iat"] <= 3600


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "is not JSON"),
        ('{"id": "a", "service_account_id": "b"}', "no private_key"),
        ('{"id": "a", "service_account_id": "b", "private_key": "garbage"}', "holds no PEM key"),
        (
            '{"id": "a", "service_account_id": "b", "private_key": "-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----"}',
            "not a readable",
        ),
    ],
)
def test_unusable_key_files_are_explained(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "key.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=says):
        load_authorized_key(path)


def test_a_key_as_the_api_returns_it_with_escaped_newlines_loads(tmp_path: Path) -> None:
    document = json.loads(write_authorized_key(tmp_path / "key.json").read_text())
    document["private_key"] = document["private_key"].replace("\n", "\\n")
    (tmp_path / "escaped.json").write_text(json.dumps(document))
    assert load_authorized_key(tmp_path / "escaped.json").key_id == document["id"]
