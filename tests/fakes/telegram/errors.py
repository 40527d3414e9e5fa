"""Bot API errors as the real server words them.

Every failure of a Bot API method is a `BotApiError`; the HTTP layer turns it into
`{"ok": false, "error_code": N, "description": "...", "parameters": {...}}` with HTTP status N, which is what
aiogram's `check_response` maps to `TelegramBadRequest`, `TelegramRetryAfter`, `TelegramMigrateToChat`, ...
Descriptions are constants so tests can assert on them exactly (sources: shared reference §1.3, TDLib
`MessageEntity.cpp`, telegram-bot-api `Client.cpp`). The few descriptions the fake had to choose itself are
marked "(fake's choice)" and listed in the README.
"""

from __future__ import annotations

from typing import Any

UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Not Found"
METHOD_NOT_FOUND = "Not Found: method not found"

CHAT_NOT_FOUND = "Bad Request: chat not found"
USER_NOT_FOUND = "Bad Request: user not found"
MESSAGE_TEXT_EMPTY = "Bad Request: message text is empty"
MESSAGE_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
CANT_PARSE_ENTITIES = "Bad Request: can't parse entities: {detail}"
UNSUPPORTED_PARSE_MODE = "Bad Request: unsupported parse_mode"
MESSAGE_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
MESSAGE_TO_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
MESSAGE_CANT_BE_EDITED = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
MESSAGE_TO_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
MESSAGE_CANT_BE_DELETED = "Bad Request: message can't be deleted"
REPLIED_MESSAGE_NOT_FOUND = "Bad Request: message to be replied not found"
THREAD_NOT_FOUND = "Bad Request: message thread not found"
GROUP_UPGRADED = "Bad Request: group chat was upgraded to a supergroup chat"
FILE_TOO_BIG = "Bad Request: file is too big"
INVALID_FILE_ID = "Bad Request: invalid file_id"
WRONG_FILE_IDENTIFIER = "Bad Request: wrong file identifier/HTTP URL specified"
# The Bot API documents "0-200 characters" for a callback answer's text; the server's wording is unknown.
CALLBACK_ANSWER_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WRONG_CHAT_ACTION = "Bad Request: wrong parameter action in request"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
TEXT_BUTTONS_UNALLOWED = (
    "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
)
BOT_COMMAND_INVALID = "Bad Request: BOT_COMMAND_INVALID"
BOT_COMMAND_DESCRIPTION_INVALID = "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
NO_ADMINISTRATORS_IN_PRIVATE = "Bad Request: there are no administrators in the private chat"
CANT_LEAVE_PRIVATE = "Bad Request: chat member status can't be changed in private chats"  # (fake's choice)
WEBHOOK_URL_INVALID = "Bad Request: bad webhook: invalid webhook URL specified"
SECRET_TOKEN_INVALID = "Bad Request: secret token contains unallowed characters"
# Drafts in non-private chats: the community reports TDLib's TEXTDRAFT_PEER_INVALID (fake's choice).
DRAFT_PEER_INVALID = "Bad Request: TEXTDRAFT_PEER_INVALID"
DRAFT_ID_INVALID = "Bad Request: draft_id must be non-zero"  # (fake's choice)
RICH_CONTENT_INVALID = (
    "Bad Request: exactly one of the fields html, markdown or blocks must be used"  # (fake's)
)
PARAMETER_EMPTY = "Bad Request: {name} is empty"
PARAMETER_INVALID = "Bad Request: invalid {name} specified"
JSON_INVALID = "Bad Request: can't parse {name} JSON object"

BOT_BLOCKED = "Forbidden: bot was blocked by the user"
BOT_KICKED = "Forbidden: bot was kicked from the {kind} chat"
BOT_NOT_MEMBER = "Forbidden: bot is not a member of the {kind} chat"

CONFLICT_OTHER_POLLER = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK_ACTIVE = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"

TOO_MANY_REQUESTS = "Too Many Requests: retry after {retry_after}"


class BotApiError(Exception):
    """A Bot API method failed; carries exactly what the server answers."""

    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters or {}

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            payload["parameters"] = self.parameters
        return payload


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, description)


def cant_parse_entities(detail: str) -> BotApiError:
    return BotApiError(400, CANT_PARSE_ENTITIES.format(detail=detail))


def forbidden(description: str) -> BotApiError:
    return BotApiError(403, description)


def too_many_requests(retry_after: int) -> BotApiError:
    return BotApiError(429, TOO_MANY_REQUESTS.format(retry_after=retry_after), {"retry_after": retry_after})


def group_upgraded(migrate_to_chat_id: int) -> BotApiError:
    return BotApiError(400, GROUP_UPGRADED, {"migrate_to_chat_id": migrate_to_chat_id})


class ControlError(ValueError):
    """A test asked the fake for something impossible (unknown chat, user not a member, ...).

    Raised by the Python control API and answered as HTTP 400 `{"error": ...}` by the HTTP control API.
    """
