"""The objects the fake keeps: users, chats with members and topics, messages with edit history, files,
drafts and callback queries. Each knows how to render itself in Bot API shape (`to_api`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .rich import RichContent

# Member statuses as the Bot API names them.
CREATOR, ADMINISTRATOR, MEMBER, LEFT, KICKED = "creator", "administrator", "member", "left", "kicked"
PRESENT_STATUSES = frozenset({CREATOR, ADMINISTRATOR, MEMBER})
MEMBER_STATUSES = frozenset({CREATOR, ADMINISTRATOR, MEMBER, LEFT, KICKED})

PRIVATE, GROUP, SUPERGROUP = "private", "group", "supergroup"

# The user Telegram puts in `from` of messages an anonymous group admin sends on behalf of the group
# (Bot API `Message.sender_chat`: "For backward compatibility, if the message was sent on behalf of a
# chat, the field from contains a fake sender user in non-channel chats").
GROUP_ANONYMOUS_BOT_ID = 1087968824


@dataclass
class User:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    has_blocked_bot: bool = False
    last_name: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    is_forum: bool = False
    private_user: User | None = None
    members: dict[int, str] = field(default_factory=dict)  # user id (the bot included) → status
    topics: dict[int, str] = field(default_factory=dict)  # message_thread_id → topic name
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    migrated_to: int | None = None
    anonymous_admins: set[int] = field(default_factory=set)  # admins who post on behalf of the group

    @property
    def is_group(self) -> bool:
        return self.type in (GROUP, SUPERGROUP)

    @property
    def kind_label(self) -> str:
        """How Forbidden errors name the chat: "group chat" / "supergroup chat"."""
        return "supergroup" if self.type == SUPERGROUP else "group"

    def status_of(self, user_id: int) -> str:
        if self.type == PRIVATE:
            return MEMBER if self.private_user is not None and user_id == self.private_user.id else LEFT
        return self.members.get(user_id, LEFT)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def to_api(self) -> dict[str, Any]:
        if self.type == PRIVATE and self.private_user is not None:
            data: dict[str, Any] = {
                "id": self.id,
                "type": PRIVATE,
                "first_name": self.private_user.first_name,
            }
            if self.private_user.username:
                data["username"] = self.private_user.username
            return data
        data = {"id": self.id, "type": self.type, "title": self.title}
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class MessageVersion:
    """One state of a message's content; the first version is the message as sent."""

    content: dict[str, Any]
    rich: RichContent | None
    reply_markup: dict[str, Any] | None
    at: float


@dataclass
class StoredMessage:
    chat: Chat
    message_id: int
    sender: User | None
    date: int
    sent_at: float
    content: dict[
        str, Any
    ]  # content fields of the Message: text/entities, caption, document, rich_message, ...
    rich: RichContent | None = None
    reply_markup: dict[str, Any] | None = None
    thread_id: int | None = None
    is_topic_message: bool = False
    reply_to_message_id: int | None = None  # an explicit reply
    implicit_reply_to_message_id: int | None = None  # a forum topic's creation message
    media_group_id: str | None = None
    sender_chat: Chat | None = None  # an anonymous admin's message: the group itself
    edit_date: int | None = None
    deleted: bool = False
    versions: list[MessageVersion] = field(default_factory=list)

    @property
    def content_key(self) -> tuple[str, str]:
        return content_key(self.content, self.rich)


def content_key(content: dict[str, Any], rich: RichContent | None) -> tuple[str, str]:
    """What an edit must change (or the reply markup) not to be "message is not modified"."""
    if rich is not None:
        return ("rich", rich.key())
    return ("text", json.dumps([content.get("text"), content.get("entities") or []], sort_keys=True))


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    size: int
    file_name: str | None = None
    mime_type: str | None = None
    content: bytes | None = None  # None: only a declared size (downloads serve deterministic filler bytes)

    def document_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name is not None:
            data["file_name"] = self.file_name
        if self.mime_type is not None:
            data["mime_type"] = self.mime_type
        data["file_size"] = self.size
        return data

    def read(self) -> bytes:
        return self.content if self.content is not None else b"\0" * self.size


@dataclass
class DraftFrame:
    chat_id: int
    draft_id: int
    text: str | None
    entities: list[dict[str, Any]]
    rich_markdown: str | None
    can_stop: bool
    keep_on_stop: bool
    message_thread_id: int | None
    at: float

    def to_record(self) -> dict[str, Any]:
        return {
            "draft_id": self.draft_id,
            "text": self.text,
            "entities": self.entities,
            "rich_markdown": self.rich_markdown,
            "can_stop": self.can_stop,
            "keep_on_stop": self.keep_on_stop,
            "message_thread_id": self.message_thread_id,
            "at": self.at,
        }


@dataclass
class CallbackQuery:
    id: str
    chat_id: int
    message_id: int
    user_id: int
    data: str
    created_at: float
    answer: dict[str, Any] | None = None


def anonymous_admin_user() -> User:
    return User(id=GROUP_ANONYMOUS_BOT_ID, first_name="Group", username="GroupAnonymousBot", is_bot=True)


def chat_member_api(user: User, status: str, *, is_anonymous: bool = False) -> dict[str, Any]:
    """A ChatMember object of the given status (administrators get the usual rights)."""
    member: dict[str, Any] = {"status": status, "user": user.to_api()}
    if status == CREATOR:
        member["is_anonymous"] = is_anonymous
    elif status == ADMINISTRATOR:
        member.update(
            {
                "can_be_edited": False,
                "is_anonymous": is_anonymous,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
                "can_pin_messages": True,
                "can_manage_topics": True,
            }
        )
    elif status == KICKED:
        member["until_date"] = 0
    return member
