"""Structured logs: JSON lines, correlation id, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import correlation_id, setup_logging
from tests.support.logs import logging_restored


@pytest.fixture(autouse=True)
def restored_loggers() -> Iterator[None]:
    with logging_restored():
        yield


def test_json_lines_carry_the_update_id_and_never_a_secret() -> None:
    setup_logging("INFO", "json", secrets=["123456:SECRET-TOKEN", "yc-api-key-value"])
    handler = logging.getLogger().handlers[0]
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("bot.test")
    token = correlation_id.set("4242")
    try:
        log.info("calling https://api.telegram.org/bot123456:SECRET-TOKEN/getMe", extra={"chars": 12})
        log.warning("key yc-api-key-value rejected")
    finally:
        correlation_id.reset(token)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["update_id"] for line in lines] == ["4242", "4242"]
    assert lines[0]["chars"] == 12
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "bot.test"
    assert "SECRET-TOKEN" not in stream.getvalue()
    assert "yc-api-key-value" not in stream.getvalue()
    assert "[redacted]" in lines[1]["msg"]


def test_the_real_set_up_is_undone_after_a_test() -> None:
    """What the other logging tests rely on: `setup_logging` leaves no trace once the test is over."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers), logging.getLogger("httpx").level)
    with logging_restored():
        setup_logging("DEBUG", "json", secrets=["a-secret-value"])
        assert (root.level, list(root.handlers), logging.getLogger("httpx").level) != before
    assert (root.level, list(root.handlers), logging.getLogger("httpx").level) == before
