"""Failures the use cases understand. Adapters translate their libraries' exceptions into these."""

from __future__ import annotations


class ProviderError(Exception):
    """The model provider failed. `retryable` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class ContextLostError(ProviderError):
    """The provider no longer knows the conversation we referred to (expired or deleted)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, status=404)


class StreamBrokenError(ProviderError):
    """The answer stream ended with an error after it had started."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class SearchIndexGoneError(ProviderError):
    """The provider no longer has the document index the request named (expired or deleted)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, status=404)


class PromptTooLongError(ProviderError):
    """The provider refused the request because the prompt (instructions, context, input, search
    results) does not fit the model's context."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, status=400)
