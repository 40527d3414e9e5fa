"""Telling a Redis outage apart from other failures, without the Telegram layer importing redis."""

from __future__ import annotations

from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError


def is_storage_outage(error: BaseException) -> bool:
    """Redis is unreachable (or still loading after a restart): worth a "temporarily unavailable"."""
    return isinstance(error, ConnectionError | TimeoutError | BusyLoadingError)
