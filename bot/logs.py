"""Logging: structured JSON lines (or plain text) with a per-update correlation id, secrets redacted.

The correlation id is the Telegram update id, carried in a context variable: set by an outer
middleware for each update and re-set by background jobs started on its behalf.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: _Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        update_id = getattr(record, "correlation_id", None)
        if update_id:
            entry["update_id"] = update_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "correlation_id" and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self._redactor.redact(json.dumps(entry, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self, redactor: _Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s")
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def setup_logging(level: str, fmt: str, secrets: Iterable[str]) -> None:
    redactor = _Redactor(secrets)
    handler = logging.StreamHandler()
    handler.addFilter(redactor)
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else TextFormatter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party request logs would only repeat what our own logs say, one line per HTTP call.
    for noisy in ("httpx", "httpx2", "httpcore", "openai._base_client", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
