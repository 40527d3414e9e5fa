"""Structured logs: JSON lines, correlation id, secrets redacted."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import correlation_id, setup_logging


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
    logging.getLogger().handlers.clear()
