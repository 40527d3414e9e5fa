"""Yandex Cloud IAM as the bot meets it: service-account authorized keys exchanged for IAM tokens, and
the metadata service of a VM or serverless container. Served on a port of its own (the real IAM
endpoint is another host: ``https://iam.api.cloud.yandex.net/iam/v1/tokens``).

* ``POST /iam/v1/tokens`` ``{"jwt": "..."}`` → ``{"iamToken", "expiresAt"}`` — the JWT must be signed
  PS256 by a configured key: header ``kid`` = the key's id, ``iss`` = its service account, ``aud`` =
  ``https://iam.api.cloud.yandex.net/iam/v1/tokens``, ``iat`` and ``exp`` with ``exp - iat ≤ 3600``, not
  expired (``en/iam/operations/iam-token/create-for-sa.md``, ``en/iam/api-ref/IamToken/create.md``).
* ``GET /computeMetadata/v1/instance/service-accounts/default/token`` with ``Metadata-Flavor: Google`` →
  ``{"access_token", "expires_in", "token_type": "Bearer"}``
  (``en/compute/operations/vm-connect/auth-inside-vm.md``, ``en/serverless-containers/operations/sa.md``).

Issued tokens live ``config.iam_token_ttl`` seconds; the ``/v1`` API accepts them as ``Bearer`` and
refuses them with 401 once expired.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

IAM_AUDIENCE = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
MAX_JWT_LIFETIME_S = 3600
TOKEN_PATH = "/iam/v1/tokens"
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"


@dataclass(frozen=True)
class ServiceAccountKey:
    """The public half of an authorized key, as IAM knows it."""

    key_id: str
    service_account_id: str
    public_key: RSAPublicKey


def load_service_account_key(path: str | Path) -> ServiceAccountKey:
    """Read the JSON ``yc iam key create`` writes (``id``, ``service_account_id``, ``public_key`` or, for
    test keys, only ``private_key``); ``ValueError`` with a readable message when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the service-account key file {path}: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(field), str) for field in ("id", "service_account_id")
    ):
        raise ValueError(f"{path} is not an authorized key (needs id and service_account_id)")
    if isinstance(data.get("public_key"), str):
        public = serialization.load_pem_public_key(data["public_key"].encode())
    elif isinstance(data.get("private_key"), str):
        pem = data["private_key"][data["private_key"].index("-----BEGIN") :]
        public = serialization.load_pem_private_key(pem.encode(), password=None).public_key()
    else:
        raise ValueError(f"{path} has neither public_key nor private_key")
    if not isinstance(public, RSAPublicKey):
        raise ValueError(f"{path}: authorized keys are RSA keys")
    return ServiceAccountKey(data["id"], data["service_account_id"], public)


@dataclass
class IssuedToken:
    token: str
    service_account_id: str
    issued_at: float
    expires_at: float
    via: str
    """``jwt`` (exchanged for an authorized key) or ``metadata``."""

    def is_live(self, at: float | None = None) -> bool:
        return (time.time() if at is None else at) < self.expires_at

    def to_record(self) -> dict[str, Any]:
        return {
            "service_account_id": self.service_account_id,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "via": self.via,
        }


_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5}


class IamError(Exception):
    """An IAM refusal, rendered the way Yandex's gRPC-transcoded REST APIs render errors."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        body = {"code": _GRPC_CODES.get(self.status, 2), "message": self.message, "details": []}
        return web.json_response(body, status=self.status)


class IamService:
    """Issued tokens and the keys that may obtain them."""

    def __init__(self) -> None:
        self.tokens: dict[str, IssuedToken] = {}
        self.exchanges: list[IssuedToken] = []

    def issue(self, service_account_id: str, ttl: float, via: str) -> IssuedToken:
        now = time.time()
        value = "t1." + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(40))
        value += "." + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(86))
        token = IssuedToken(value, service_account_id, now, now + ttl, via)
        self.tokens[value] = token
        self.exchanges.append(token)
        return token

    def lookup(self, value: str) -> IssuedToken | None:
        return self.tokens.get(value)

    def exchange(self, assertion: object, keys: tuple[ServiceAccountKey, ...], ttl: float) -> IssuedToken:
        """Check a service account's JWT as IAM does; ``IamError`` when it would be refused."""
        if not isinstance(assertion, str) or not assertion:
            raise IamError(400, "jwt: required field is missing")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as error:
            raise IamError(400, f"jwt: malformed token ({error})") from None
        if header.get("alg") != "PS256":
            raise IamError(400, f"jwt: unsupported algorithm {header.get('alg')!r}, only PS256 is supported")
        key = next((key for key in keys if key.key_id == header.get("kid")), None)
        if key is None:
            raise IamError(401, f"jwt: unknown key id {header.get('kid')!r}")
        try:
            claims = jwt.decode(
                assertion,
                key.public_key,
                algorithms=["PS256"],
                audience=IAM_AUDIENCE,
                issuer=key.service_account_id,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise IamError(401, "jwt: the token has expired") from None
        except jwt.InvalidAudienceError:
            raise IamError(401, f"jwt: aud must be {IAM_AUDIENCE}") from None
        except jwt.InvalidIssuerError:
            raise IamError(401, "jwt: iss is not the service account the key belongs to") from None
        except jwt.InvalidTokenError as error:
            raise IamError(401, f"jwt: {error}") from None
        if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME_S:
            raise IamError(400, "jwt: exp must not exceed iat by more than 3600 seconds")
        return self.issue(key.service_account_id, ttl, "jwt")


def rfc3339(at: float) -> str:
    """``expiresAt`` as IAM writes it: RFC 3339 in UTC with nanoseconds (9 fraction digits)."""
    moment = datetime.fromtimestamp(at, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def write_authorized_key(
    path: Path, *, key_id: str = "ajetestkey0000000001", service_account_id: str = "ajetestaccount000001"
) -> Path:
    """A fresh RSA-2048 authorized key in the JSON shape ``yc iam key create`` writes (the private key
    behind the "PLEASE DO NOT REMOVE THIS LINE!" marker line the CLI puts before the PEM). For tests."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    document = {
        "id": key_id,
        "service_account_id": service_account_id,
        "created_at": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "key_algorithm": "RSA_2048",
        "public_key": public_pem,
        "private_key": f"PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID <{key_id}>\n{private_pem}",
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
