"""OpenAI-style API errors: one exception type that handlers raise and the app turns into a response.

The body is always ``{"error": {"message", "type", "param", "code"}}``, the shape the openai client
parses into ``APIStatusError`` subclasses (``BadRequestError``, ``NotFoundError``, ``RateLimitError``…).
"""

from __future__ import annotations

from typing import Any

# Small back-off hints on 429s, so clients retry quickly in tests (openai prefers ``retry-after-ms``).
RETRY_AFTER_HEADERS = {"retry-after-ms": "50", "retry-after": "1"}

_TYPE_AND_CODE_BY_STATUS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "file_too_large"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "deadline_exceeded"),
}


class ApiError(Exception):
    """An HTTP error with an OpenAI-style JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        default_type, default_code = default_type_and_code(status)
        self.status = status
        self.message = message
        self.error_type = error_type or default_type
        self.code = code if code is not None else default_code
        self.param = param
        self.headers = dict(headers or {})
        if status == 429 and not self.headers:
            self.headers.update(RETRY_AFTER_HEADERS)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


def default_type_and_code(status: int) -> tuple[str, str | None]:
    """The error ``type`` and ``code`` the emulator uses for a status when nothing more specific applies."""
    if status in _TYPE_AND_CODE_BY_STATUS:
        return _TYPE_AND_CODE_BY_STATUS[status]
    if status >= 500:
        return "server_error", "server_error"
    return "invalid_request_error", None


def not_found(kind: str, object_id: str, *, param: str | None = None, code: str = "not_found") -> ApiError:
    return ApiError(404, f"{kind} with id '{object_id}' not found.", param=param, code=code)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def injected_failure(status: int, reason: str) -> ApiError:
    """A failure the test asked for (a fault or ``emu:fail=STATUS``)."""
    return ApiError(status, f"Emulated failure with HTTP {status} ({reason}).")
