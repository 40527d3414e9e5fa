"""Errors that end the process with one line (kept apart so `python -m bot` can report bad settings
before it imports the heavy clients)."""

from __future__ import annotations


class StartupError(Exception):
    """The bot cannot start (or go on); the message is one line, safe to print (no secrets). `advice`
    says what to do, for the doctor's table."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.advice = advice
