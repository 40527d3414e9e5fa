"""Everything the fake remembers, and the lookups both doors (Bot API methods, control API) share.

`FakeState` owns users, chats, messages, files, drafts, chat actions, callback queries, bot commands and the
log of calls. It renders messages in Bot API shape (with `reply_to_message` filled like Telegram does) and
resolves a `chat_id` the way the server does for a bot: unknown → chat not found, upgraded group →
migrate error, blocked/kicked → Forbidden.
"""

from __future__ import annotations

import itertools
import time
from pathlib import PurePosixPath
from typing import Any

from . import errors
from .config import FakeConfig
from .errors import BotApiError, bad_request, forbidden
from .models import (
    KICKED,
    PRESENT_STATUSES,
    PRIVATE,
    CallbackQuery,
    Chat,
    DraftFrame,
    MessageVersion,
    StoredFile,
    StoredMessage,
    User,
)
from .rich import RichContent

_FIRST_USER_ID = 700_000_001
_FIRST_GROUP_ID = 4_100_000_001  # basic groups: -4100000001, -4100000002, ...
_FIRST_SUPERGROUP_ID = 1_002_000_000_001  # supergroups: -1002000000001, ...


class FakeState:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.drafts: dict[int, list[DraftFrame]] = {}
        self.chat_actions: dict[int, list[dict[str, Any]]] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.calls: list[dict[str, Any]] = []
        self._user_ids = itertools.count(_FIRST_USER_ID)
        self._group_ids = itertools.count(_FIRST_GROUP_ID)
        self._supergroup_ids = itertools.count(_FIRST_SUPERGROUP_ID)
        self._file_numbers = itertools.count(1)
        self._callback_numbers = itertools.count(1)
        self._media_group_numbers = itertools.count(1)

    # --- identities -------------------------------------------------------------------------------------

    def bot_user(self) -> User:
        return User(
            id=self.config.bot_id,
            first_name=self.config.bot_first_name,
            username=self.config.bot_username,
            is_bot=True,
        )

    def new_user_id(self) -> int:
        user_id = next(self._user_ids)
        while user_id in self.users or user_id == self.config.bot_id:
            user_id = next(self._user_ids)
        return user_id

    def new_group_id(self, *, supergroup: bool) -> int:
        return -next(self._supergroup_ids if supergroup else self._group_ids)

    def new_callback_query_id(self) -> str:
        return str(8_000_000_000_000 + next(self._callback_numbers))

    def new_media_group_id(self) -> str:
        return str(13_000_000_000_000_000 + next(self._media_group_numbers))

    def find_user(self, user_id: int) -> User | None:
        if user_id == self.config.bot_id:
            return self.bot_user()
        return self.users.get(user_id)

    # --- chats as the bot sees them ---------------------------------------------------------------------

    def chat_for_bot(self, chat_id: int | str | None) -> Chat:
        """The chat a bot method targets, failing exactly like the server when the bot can't act there."""
        if chat_id is None or chat_id == "":
            raise bad_request(errors.PARAMETER_EMPTY.format(name="chat_id"))
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request(errors.CHAT_NOT_FOUND)
        if chat.migrated_to is not None:
            raise errors.group_upgraded(chat.migrated_to)
        if chat.type == PRIVATE:
            if chat.private_user is not None and chat.private_user.has_blocked_bot:
                raise forbidden(errors.BOT_BLOCKED)
            return chat
        status = chat.status_of(self.config.bot_id)
        if status == KICKED:
            raise forbidden(errors.BOT_KICKED.format(kind=chat.kind_label))
        if status not in PRESENT_STATUSES:
            raise forbidden(errors.BOT_NOT_MEMBER.format(kind=chat.kind_label))
        return chat

    @staticmethod
    def check_thread(chat: Chat, thread_id: int | None) -> None:
        """A forum thread must be a topic (the General topic has no id); elsewhere an existing message."""
        if thread_id is None:
            return
        if chat.is_forum:
            if thread_id not in chat.topics:
                raise bad_request(errors.THREAD_NOT_FOUND)
            return
        root = chat.messages.get(thread_id)
        if root is None or root.deleted:
            raise bad_request(errors.THREAD_NOT_FOUND)

    # --- messages ---------------------------------------------------------------------------------------

    def add_message(
        self,
        chat: Chat,
        sender: User | None,
        content: dict[str, Any],
        *,
        rich: RichContent | None = None,
        reply_markup: dict[str, Any] | None = None,
        thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        media_group_id: str | None = None,
        sender_chat: Chat | None = None,
    ) -> StoredMessage:
        now = time.time()
        is_topic = chat.is_forum and thread_id is not None
        message = StoredMessage(
            chat=chat,
            message_id=chat.take_message_id(),
            sender=sender,
            date=int(time.time()),
            sent_at=now,
            content=content,
            rich=rich,
            reply_markup=reply_markup,
            thread_id=thread_id,
            is_topic_message=is_topic,
            reply_to_message_id=reply_to_message_id,
            implicit_reply_to_message_id=thread_id if is_topic and reply_to_message_id is None else None,
            media_group_id=media_group_id,
            sender_chat=sender_chat,
        )
        message.versions.append(MessageVersion(dict(content), rich, reply_markup, now))
        chat.messages[message.message_id] = message
        return message

    def render_message(self, message: StoredMessage, *, with_reply: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": message.chat.to_api(),
        }
        if message.sender is not None:
            data["from"] = message.sender.to_api()
        if message.sender_chat is not None:
            data["sender_chat"] = message.sender_chat.to_api()
        if message.thread_id is not None:
            data["message_thread_id"] = message.thread_id
        if message.is_topic_message:
            data["is_topic_message"] = True
        reply_id = message.reply_to_message_id or message.implicit_reply_to_message_id
        replied = message.chat.messages.get(reply_id) if reply_id is not None else None
        if with_reply and replied is not None and not replied.deleted:
            data["reply_to_message"] = self.render_message(replied, with_reply=False)
        if message.media_group_id is not None:
            data["media_group_id"] = message.media_group_id
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        data.update(message.content)
        if message.reply_markup is not None:
            data["reply_markup"] = message.reply_markup
        return data

    def find_message(self, chat: Chat, message_id: int | None) -> StoredMessage | None:
        message = chat.messages.get(message_id) if message_id is not None else None
        return None if message is None or message.deleted else message

    # --- files ------------------------------------------------------------------------------------------

    def store_file(
        self,
        *,
        kind: str,
        file_name: str | None,
        mime_type: str | None,
        content: bytes | None,
        size: int | None = None,
    ) -> StoredFile:
        number = next(self._file_numbers)
        suffix = PurePosixPath(file_name).suffix if file_name else ""
        stored = StoredFile(
            file_id=f"{kind.upper()}-{number:06d}-AgADfake",
            file_unique_id=f"AQAD{number:06d}",
            file_path=f"{kind}s/file_{number}{suffix}",
            size=len(content) if content is not None else int(size or 0),
            file_name=file_name,
            mime_type=mime_type,
            content=content,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def file_by_id(self, file_id: str | None) -> StoredFile:
        stored = self.files.get(file_id or "")
        if stored is None:
            raise BotApiError(400, errors.INVALID_FILE_ID)
        return stored

    # --- records for tests ------------------------------------------------------------------------------

    def bot_message_records(self, chat_id: int) -> list[dict[str, Any]]:
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [
            _bot_message_record(message)
            for message in chat.messages.values()
            if message.sender is not None and message.sender.id == self.config.bot_id
        ]

    def draft_records(self, chat_id: int) -> list[dict[str, Any]]:
        return [frame.to_record() for frame in self.drafts.get(chat_id, [])]


def _version_fields(content: dict[str, Any], rich: RichContent | None) -> dict[str, Any]:
    return {
        "text": content.get("text"),
        "entities": content.get("entities", []),
        "rich_markdown": rich.source if rich is not None else None,
    }


def _bot_message_record(message: StoredMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        **_version_fields(message.content, message.rich),
        "rich_source_kind": message.rich.source_kind if message.rich is not None else None,
        "caption": message.content.get("caption"),
        "reply_to_message_id": message.reply_to_message_id,
        "message_thread_id": message.thread_id,
        "reply_markup": message.reply_markup,
        "document": message.content.get("document"),
        "versions": [
            {**_version_fields(v.content, v.rich), "reply_markup": v.reply_markup, "at": v.at}
            for v in message.versions
        ],
        "deleted": message.deleted,
        "sent_at": message.sent_at,
    }
