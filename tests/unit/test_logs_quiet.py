"""Third-party HTTP clients do not flood the log, even at LOG_LEVEL=DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging
from tests.support.logs import logging_restored

NOISY = (
    "httpx",
    "httpcore",
    "httpcore.http11",
    "httpcore.connection",
    "openai._base_client",
    "aiohttp.access",
)


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    with logging_restored():
        yield


@pytest.mark.usefixtures("restored_loggers")
def test_http_client_debug_logs_are_quietened() -> None:
    setup_logging("DEBUG", "text", secrets=[])
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    for name in NOISY:
        logging.getLogger(name).debug("send_request_headers.started request=<Request [b'POST']>")
        logging.getLogger(name).info("HTTP Request: POST https://example.invalid/v1/files")
    logging.getLogger("bot.test").debug("our own debug line")
    output = stream.getvalue()
    assert "send_request_headers" not in output and "HTTP Request" not in output, output
    assert "our own debug line" in output
