"""A service account's authorized key: the JSON file `yc iam key create` writes.

The file holds `id` (the key id, the JWT's `kid`), `service_account_id` (the JWT's `iss`) and
`private_key`, a PEM that the CLI may precede with a marker line; the IAM API itself returns keys with
literal `\\n` escapes (en/iam/operations/iam-token/create-for-sa.md, en/_includes/key-response-format.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

PEM_START = "-----BEGIN"


@dataclass(frozen=True)
class AuthorizedKey:
    key_id: str
    service_account_id: str
    private_key: RSAPrivateKey


def load_authorized_key(path: Path) -> AuthorizedKey:
    """The key in `path`; ValueError with a message fit for the operator when it is not usable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path} ({error.strerror or type(error).__name__})") from None
    except ValueError:
        raise ValueError(f"{path} is not JSON: expected the file `yc iam key create` writes") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not an authorized key: expected the file `yc iam key create` writes")
    missing = [
        name for name in ("id", "service_account_id", "private_key") if not isinstance(data.get(name), str)
    ]
    if missing:
        raise ValueError(f"{path} is not an authorized key: no {', '.join(missing)}")
    pem = data["private_key"].replace("\\n", "\n")
    if PEM_START not in pem:
        raise ValueError(f"{path}: private_key holds no PEM key")
    try:
        key = serialization.load_pem_private_key(pem[pem.index(PEM_START) :].encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(f"{path}: private_key is not a readable unencrypted PEM key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path}: private_key is not an RSA key (Yandex signs with PS256)")
    return AuthorizedKey(data["id"], data["service_account_id"], key)
