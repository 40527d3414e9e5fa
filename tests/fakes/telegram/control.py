"""The control API: tests act as Telegram users and read what the bot did.

`Controller` is the one implementation. The Python handle (`server.TelegramFake`) calls it directly; the
HTTP routes under `/__control/` (registered by `add_control_routes`) call it with JSON, so a fake started
in another process (`python -m tests.fakes.telegram`) is driven the same way.

Users act like on Telegram: their messages become `message` updates (only for chats where the bot is a
member), with auto-detected `bot_command`/`mention` entities, `reply_to_message` filled with the full replied
message, and in forum topics the implicit reply to the topic's creation message. A mistake in a test (unknown
chat, user not a member, pressing a button that does not exist) raises `ControlError`.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .core import FakeBotApi
from .errors import BotApiError, ControlError
from .media import audio_content, photo_content, quote_of, voice_content
from .models import (
    ADMINISTRATOR,
    CREATOR,
    GROUP,
    KICKED,
    LEFT,
    MEMBER,
    MEMBER_STATUSES,
    PRESENT_STATUSES,
    PRIVATE,
    SUPERGROUP,
    CallbackQuery,
    Chat,
    StoredFile,
    StoredMessage,
    User,
    anonymous_admin_user,
    chat_member_api,
)
from .ratelimit import PenaltyScope
from .state import FakeState
from .text import Entity, check_entity_bounds, detect_entities, utf16_len, validate_entities

_TOPIC_ICON_COLOR = 7322096


class Controller:
    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    @property
    def state(self) -> FakeState:
        return self.api.state

    # --- users and chats --------------------------------------------------------------------------------

    def create_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        last_name: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """A Telegram user; `is_bot=True` makes another bot (its messages in groups are from a bot)."""
        if user_id is not None and (user_id in self.state.users or user_id == self.api.config.bot_id):
            raise ControlError(f"user {user_id} already exists")
        if not first_name:
            raise ControlError("a user needs a first name")
        user = User(
            id=user_id if user_id is not None else self.state.new_user_id(),
            first_name=first_name,
            username=username,
            language_code=None if is_bot else language_code,
            last_name=last_name,
            is_bot=is_bot,
        )
        self.state.users[user.id] = user
        return user.to_api()

    def create_private_chat(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        chat = self.state.chats.get(user.id)
        if chat is None:
            chat = Chat(id=user.id, type=PRIVATE, private_user=user)
            self.state.chats[chat.id] = chat
        return chat.to_api()

    def create_group(
        self,
        title: str,
        *,
        supergroup: bool = False,
        forum: bool = False,
        member_ids: list[int] | None = None,
        bot_status: str = MEMBER,
    ) -> dict[str, Any]:
        """A group whose first member is its creator; the bot joins with `bot_status` (my_chat_member)."""
        self._check_status(bot_status)
        members = [self._user(user_id) for user_id in member_ids or []]
        is_supergroup = supergroup or forum
        chat = Chat(
            id=self.state.new_group_id(supergroup=is_supergroup),
            type=SUPERGROUP if is_supergroup else GROUP,
            title=title,
            is_forum=forum,
            # In a forum, thread id 1 is the General topic, which has no creation message of its own.
            next_message_id=2 if forum else 1,
        )
        for index, user in enumerate(members):
            chat.members[user.id] = CREATOR if index == 0 else MEMBER
        chat.members[self.api.config.bot_id] = bot_status
        self.state.chats[chat.id] = chat
        if members and bot_status in PRESENT_STATUSES:
            self._emit_my_chat_member(chat, members[0], LEFT, bot_status)
        return chat.to_api()

    def create_topic(self, chat_id: int, name: str, *, by_user_id: int) -> int:
        chat = self._chat(chat_id)
        if not chat.is_forum:
            raise ControlError(f"chat {chat_id} is not a forum")
        user = self._member(chat, by_user_id)
        message = self.state.add_message(
            chat, user, {"forum_topic_created": {"name": name, "icon_color": _TOPIC_ICON_COLOR}}
        )
        message.thread_id = message.message_id
        message.is_topic_message = True
        chat.topics[message.message_id] = name
        self._emit_message(message)
        return message.message_id

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Change a member's status; for the bot itself this sends my_chat_member (from the creator)."""
        self._check_status(status)
        chat = self._chat(chat_id)
        if chat.type == PRIVATE:
            raise ControlError("members of private chats have no status to set")
        if user_id == self.api.config.bot_id:
            self._change_bot_status(chat, self._creator(chat), status)
            return
        self._user(user_id)
        chat.members[user_id] = status

    def add_bot(self, chat_id: int, *, by_user_id: int, status: str = MEMBER) -> None:
        if status not in PRESENT_STATUSES:
            raise ControlError(f"the bot can't be added as {status!r}")
        chat = self._chat(chat_id)
        self._change_bot_status(chat, self._member(chat, by_user_id), status)

    def remove_bot(self, chat_id: int, *, by_user_id: int) -> None:
        chat = self._chat(chat_id)
        self._change_bot_status(chat, self._member(chat, by_user_id), KICKED)

    def block_bot(self, user_id: int) -> None:
        self._set_blocked(self._user(user_id), blocked=True)

    def unblock_bot(self, user_id: int) -> None:
        self._set_blocked(self._user(user_id), blocked=False)

    def migrate_group(self, chat_id: int) -> int:
        """Upgrade a basic group to a supergroup: new id, service messages in both chats, state copied."""
        chat = self._chat(chat_id)
        if chat.type != GROUP:
            raise ControlError(f"chat {chat_id} is not a basic group")
        new_chat = Chat(
            id=self.state.new_group_id(supergroup=True),
            type=SUPERGROUP,
            title=chat.title,
            members=dict(chat.members),
        )
        self.state.chats[new_chat.id] = new_chat
        actor = self._creator(chat)
        chat.migrated_to = new_chat.id
        self._emit_message(self.state.add_message(chat, actor, {"migrate_to_chat_id": new_chat.id}))
        self._emit_message(self.state.add_message(new_chat, actor, {"migrate_from_chat_id": chat.id}))
        return new_chat.id

    # --- users acting -----------------------------------------------------------------------------------

    def send_user_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        entities: list[Entity] | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        document: dict[str, Any] | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        sticker: bool = False,
        voice: bool | dict[str, Any] = False,
        anonymous: bool = False,
        audio: dict[str, Any] | None = None,
        photo: dict[str, Any] | None = None,
        quote: str | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user's message. `anonymous`: an admin of a supergroup posting on behalf of the group —
        `from` is GroupAnonymousBot and `sender_chat` the group, as Telegram shows such messages.
        Media (see `media.py`): `voice` (True for a 2-second silent note, or {content | content_base64
        | size, duration, mime_type?}), `audio` ({…, duration, file_name?, mime_type?, performer?,
        title?}), `photo` ({…, width, height}); `caption` goes with media or a document. `quote`: part
        of the replied message's text or caption that this reply quotes. `forward_origin`: the message
        is a forward, {"type": "user", "sender_user_id": id} or {"type": "hidden_user",
        "sender_user_name": name}."""
        chat = self._chat(chat_id)
        user = self._member(chat, user_id)
        sender, sender_chat = user, None
        if anonymous:
            if chat.type != SUPERGROUP:
                raise ControlError("only supergroup admins can post anonymously")
            if chat.status_of(user.id) not in (CREATOR, ADMINISTRATOR):
                raise ControlError(f"user {user_id} is not an admin of chat {chat_id}")
            chat.anonymous_admins.add(user.id)
            sender, sender_chat = anonymous_admin_user(), chat
        if chat.type == PRIVATE and user.has_blocked_bot:
            raise ControlError(f"user {user_id} has blocked the bot; unblock_bot first")
        if message_thread_id is not None and message_thread_id not in chat.topics:
            raise ControlError(f"chat {chat_id} has no topic {message_thread_id}")
        replied = None
        if reply_to_message_id is not None:
            replied = self.state.find_message(chat, reply_to_message_id)
            if replied is None:
                raise ControlError(f"chat {chat_id} has no message {reply_to_message_id}")
            if message_thread_id is None and replied.is_topic_message:
                message_thread_id = replied.thread_id
        content = self._user_content(
            text, entities, document, caption, sticker=sticker, voice=voice, audio=audio, photo=photo
        )
        if quote is not None:
            if replied is None:
                raise ControlError("a quote needs reply_to_message_id")
            content["quote"] = quote_of(replied.content, quote)
        if forward_origin is not None:
            content["forward_origin"] = self._forward_origin(forward_origin)
        message = self.state.add_message(
            chat,
            sender,
            content,
            thread_id=message_thread_id,
            reply_to_message_id=reply_to_message_id,
            media_group_id=media_group_id,
            sender_chat=sender_chat,
        )
        return self._emit_message(message)

    def send_media_group(
        self,
        chat_id: int,
        user_id: int,
        documents: list[dict[str, Any]] | None = None,
        *,
        photos: list[dict[str, Any]] | None = None,
        caption: str | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """An album: one message per item sharing `media_group_id`, the caption on the first. Items are
        all documents or all photos (Telegram groups documents only with documents)."""
        if (documents is None) == (photos is None):
            raise ControlError("a media group has either documents or photos")
        items = documents if documents is not None else photos
        assert items is not None
        if not 2 <= len(items) <= 10:
            raise ControlError("a media group has 2-10 items")
        group_id = self.state.new_media_group_id()
        field = "document" if documents is not None else "photo"
        return [
            self.send_user_message(
                chat_id,
                user_id,
                caption=caption if index == 0 else None,
                message_thread_id=message_thread_id,
                media_group_id=group_id,
                reply_to_message_id=reply_to_message_id if index == 0 else None,
                **{field: item},  # type: ignore[arg-type]  # one of document / photo, both dicts
            )
            for index, item in enumerate(items)
        ]

    def press_button(self, chat_id: int, message_id: int, data: str, *, user_id: int) -> str:
        """Press an inline button with this callback_data on a bot message → callback_query update."""
        chat = self._chat(chat_id)
        user = self._member(chat, user_id)
        message = self.state.find_message(chat, message_id)
        if message is None or message.sender is None or message.sender.id != self.api.config.bot_id:
            raise ControlError(f"chat {chat_id} has no bot message {message_id}")
        rows = (message.reply_markup or {}).get("inline_keyboard", [])
        if not any(button.get("callback_data") == data for row in rows for button in row):
            raise ControlError(f"message {message_id} has no button with callback_data {data!r}")
        return self._emit_callback(chat, message, user, data)

    def forge_callback(self, chat_id: int, message_id: int, data: str, *, user_id: int) -> str:
        """A callback query with any `data` on any bot message, whatever its keyboard shows: what a
        modified client (or a keyboard the client still shows after the bot changed it) can send.
        Telegram's documentation promises nothing about callback_data matching a button, so a bot
        must not trust it; the data still has to be 1-64 bytes, like a button's."""
        chat = self._chat(chat_id)
        user = self._member(chat, user_id)
        message = self.state.find_message(chat, message_id)
        if message is None or message.sender is None or message.sender.id != self.api.config.bot_id:
            raise ControlError(f"chat {chat_id} has no bot message {message_id}")
        if not 1 <= len(data.encode()) <= 64:
            raise ControlError("callback_data is 1-64 bytes")
        return self._emit_callback(chat, message, user, data)

    def _emit_callback(self, chat: Chat, message: StoredMessage, user: User, data: str) -> str:
        query = CallbackQuery(
            id=self.state.new_callback_query_id(),
            chat_id=chat.id,
            message_id=message.message_id,
            user_id=user.id,
            data=data,
            created_at=time.time(),
        )
        self.state.callback_queries[query.id] = query
        self.api.emit(
            "callback_query",
            {
                "id": query.id,
                "from": user.to_api(),
                "message": self.state.render_message(message),
                "chat_instance": str(abs(chat.id) * 31 + 7),
                "data": data,
            },
        )
        return query.id

    def press_stop(self, chat_id: int, draft_id: int, *, message_thread_id: int | None = None) -> None:
        """Press Stop on a draft sent with can_stop=True → stopped_message_generation update."""
        chat = self._chat(chat_id)
        frames = [f for f in self.state.drafts.get(chat.id, []) if f.draft_id == draft_id]
        if not frames:
            raise ControlError(f"chat {chat_id} has no draft {draft_id}")
        if not frames[-1].can_stop:
            raise ControlError(
                f"draft {draft_id} was not sent with can_stop=True, so it shows no Stop button"
            )
        body: dict[str, Any] = {"chat": chat.to_api(), "draft_id": draft_id}
        if message_thread_id is not None:
            body["message_thread_id"] = message_thread_id
        self.api.emit("stopped_message_generation", body)

    # --- reading what happened ----------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        calls = self.state.calls
        if method is None:
            return list(calls)
        return [c for c in calls if c["method"].lower() == method.lower()]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return self.state.bot_message_records(chat_id)

    def drafts(self, chat_id: int) -> list[dict[str, Any]]:
        return self.state.draft_records(chat_id)

    def chat_actions(self, chat_id: int) -> list[dict[str, Any]]:
        return list(self.state.chat_actions.get(chat_id, []))

    def callback_answers(self) -> list[dict[str, Any]]:
        return [
            {"callback_query_id": q.id, "data": q.data, "answer": q.answer}
            for q in self.state.callback_queries.values()
        ]

    def violations(self) -> list[dict[str, Any]]:
        return list(self.api.limiter.violations)

    def injected_429s(self) -> list[dict[str, Any]]:
        """Injected 429s that opened a penalty window (not in violations(): the bot did not earn them)."""
        return list(self.api.limiter.injected)

    def rate_stats(self) -> dict[str, int]:
        """Limited calls admitted, and the most admitted within one rolling global window."""
        limiter = self.api.limiter
        return {"accepted": limiter.accepted, "peak_per_window": limiter.peak_per_window}

    def visible_drafts(self, chat_id: int) -> list[dict[str, Any]]:
        """The drafts a user sees now: the latest frame of each draft updated within draft_lifetime_s."""
        horizon = time.time() - self.api.config.draft_lifetime_s
        latest: dict[int, dict[str, Any]] = {}
        for frame in self.state.draft_records(chat_id):
            latest[frame["draft_id"]] = frame
        return [frame for frame in latest.values() if frame["at"] > horizon]

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return list(self.api.webhook.deliveries)

    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self.api.updates.pending)

    def commands(self) -> list[dict[str, Any]]:
        return [
            {"scope": scope, "language_code": language, "commands": commands}
            for (scope, language), commands in self.state.commands.items()
        ]

    def fail_next(
        self,
        method: str,
        count: int = 1,
        *,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        penalty: PenaltyScope = "chat",
        after_delivery: bool = False,
    ) -> None:
        """Queue failures (see faults.py): an injected 429 penalises the chat (or, with
        penalty="global", the whole bot) like an earned one; `after_delivery` carries the call out first."""
        self.api.faults.fail_next(
            method,
            count,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            migrate_to_chat_id=migrate_to_chat_id,
            penalty=penalty,
            after_delivery=after_delivery,
        )

    def config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.api.config)

    def update_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change config fields at run time; values must keep the field's type (ints allowed for floats)."""
        current = self.api.config
        for name, value in changes.items():
            if not hasattr(current, name):
                raise ControlError(f"unknown config field {name!r}")
            old = getattr(current, name)
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not type(old):
                raise ControlError(f"config field {name!r} expects {type(old).__name__}")
            setattr(current, name, value)
        return self.config()

    def reset(self) -> None:
        self.api.reset()

    # --- internals --------------------------------------------------------------------------------------

    def _user(self, user_id: int) -> User:
        user = self.state.users.get(user_id)
        if user is None:
            raise ControlError(f"unknown user {user_id}")
        return user

    def _chat(self, chat_id: int) -> Chat:
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise ControlError(f"unknown chat {chat_id}")
        if chat.migrated_to is not None:
            raise ControlError(f"chat {chat_id} was upgraded to {chat.migrated_to}")
        return chat

    def _member(self, chat: Chat, user_id: int) -> User:
        user = self._user(user_id)
        if chat.status_of(user.id) not in PRESENT_STATUSES:
            raise ControlError(f"user {user_id} is not a member of chat {chat.id}")
        return user

    def _creator(self, chat: Chat) -> User | None:
        present = [uid for uid, status in chat.members.items() if status in PRESENT_STATUSES]
        ordered = sorted(present, key=lambda uid: chat.members[uid] != CREATOR)
        return next((self.state.users[uid] for uid in ordered if uid in self.state.users), None)

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in MEMBER_STATUSES:
            raise ControlError(f"unknown member status {status!r}; use one of {sorted(MEMBER_STATUSES)}")

    def _change_bot_status(self, chat: Chat, by: User | None, status: str) -> None:
        old = chat.status_of(self.api.config.bot_id)
        chat.members[self.api.config.bot_id] = status
        if by is not None and old != status:
            self._emit_my_chat_member(chat, by, old, status)

    def _set_blocked(self, user: User, *, blocked: bool) -> None:
        if user.has_blocked_bot == blocked:
            return
        user.has_blocked_bot = blocked
        chat = self.state.chats.get(user.id)
        if chat is not None:
            old, new = (MEMBER, KICKED) if blocked else (KICKED, MEMBER)
            self._emit_my_chat_member(chat, user, old, new)

    def _emit_my_chat_member(self, chat: Chat, by: User, old: str, new: str) -> None:
        bot = self.state.bot_user()
        self.api.emit(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": by.to_api(),
                "date": int(time.time()),
                "old_chat_member": chat_member_api(bot, old),
                "new_chat_member": chat_member_api(bot, new),
            },
        )

    def _emit_message(self, message: StoredMessage) -> dict[str, Any]:
        """Render a user/service message and deliver it to the bot if the bot is in the chat."""
        rendered = self.state.render_message(message)
        chat = message.chat
        if chat.type == PRIVATE or chat.status_of(self.api.config.bot_id) in PRESENT_STATUSES:
            self.api.emit("message", rendered)
        return rendered

    def _user_content(
        self,
        text: str | None,
        entities: list[Entity] | None,
        document: dict[str, Any] | None,
        caption: str | None,
        *,
        sticker: bool,
        voice: bool | dict[str, Any],
        audio: dict[str, Any] | None = None,
        photo: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        media: dict[str, Any] | None = None
        if document is not None:
            media = {"document": self._store_document(document).document_api()}
        elif photo is not None:
            media = photo_content(self.state, photo)
        elif audio is not None:
            media = audio_content(self.state, audio)
        elif isinstance(voice, dict):
            media = voice_content(self.state, voice)
        if media is not None:
            if caption:
                if utf16_len(caption) > self.api.config.max_caption_length:
                    raise ControlError("the caption is too long")
                media["caption"] = caption
                if caption_entities := detect_entities(caption):
                    media["caption_entities"] = caption_entities
            return media
        if sticker:
            stored = self.state.store_file(
                kind="sticker", file_name=None, mime_type="image/webp", content=b"\0" * 512
            )
            return {
                "sticker": {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "👍",
                    "file_size": stored.size,
                }
            }
        if voice:
            return voice_content(self.state, voice)
        if text is None or not text.strip():
            raise ControlError("a user message needs text, a document, a sticker or a voice note")
        if entities is None:
            entities = detect_entities(text)
        else:
            try:
                entities = validate_entities(entities)
                check_entity_bounds(text, entities)
            except BotApiError as exc:
                raise ControlError(exc.description) from None
        return {"text": text, "entities": entities} if entities else {"text": text}

    def _forward_origin(self, origin: dict[str, Any]) -> dict[str, Any]:
        """A MessageOrigin (Bot API): who wrote the forwarded message originally."""
        kind = origin.get("type")
        date = int(origin.get("date", time.time()))
        if kind == "user":
            return {
                "type": "user",
                "date": date,
                "sender_user": self._user(origin["sender_user_id"]).to_api(),
            }
        if kind == "hidden_user":
            name = origin.get("sender_user_name")
            if not isinstance(name, str) or not name:
                raise ControlError("a hidden_user origin needs sender_user_name")
            return {"type": "hidden_user", "date": date, "sender_user_name": name}
        raise ControlError("forward_origin type must be 'user' or 'hidden_user'")

    def _store_document(self, document: dict[str, Any]) -> StoredFile:
        content = document.get("content")
        if isinstance(content, str):
            content = content.encode()
        if "content_base64" in document:
            content = base64.b64decode(document["content_base64"])
        if content is None and not isinstance(document.get("size"), int):
            raise ControlError("a document needs content (bytes) or a declared size")
        return self.state.store_file(
            kind="document",
            file_name=document.get("file_name"),
            mime_type=document.get("mime_type"),
            content=content,
            size=document.get("size"),
        )


# --- HTTP door ----------------------------------------------------------------------------------------------


def add_control_routes(app: web.Application, controller: Controller) -> None:
    """Register `/__control/...` (JSON in, JSON out; a ControlError answers 400 {"error": ...})."""
    c = controller

    async def body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise ControlError("the request body must be a JSON object")
        return data

    def chat_id(request: web.Request) -> int:
        return int(request.match_info["chat_id"])

    async def create_user(request: web.Request) -> Any:
        b = await body(request)
        return c.create_user(
            b["first_name"],
            username=b.get("username"),
            language_code=b.get("language_code", "en"),
            user_id=b.get("user_id"),
            last_name=b.get("last_name"),
            is_bot=b.get("is_bot", False),
        )

    async def create_private_chat(request: web.Request) -> Any:
        return c.create_private_chat((await body(request))["user_id"])

    async def create_group(request: web.Request) -> Any:
        b = await body(request)
        return c.create_group(
            b["title"],
            supergroup=b.get("supergroup", False),
            forum=b.get("forum", False),
            member_ids=b.get("member_ids", []),
            bot_status=b.get("bot_status", MEMBER),
        )

    async def create_topic(request: web.Request) -> Any:
        b = await body(request)
        return {"message_thread_id": c.create_topic(chat_id(request), b["name"], by_user_id=b["by_user_id"])}

    async def set_member_status(request: web.Request) -> Any:
        c.set_member_status(
            chat_id(request), int(request.match_info["user_id"]), (await body(request))["status"]
        )
        return {"ok": True}

    async def add_bot(request: web.Request) -> Any:
        b = await body(request)
        c.add_bot(chat_id(request), by_user_id=b["by_user_id"], status=b.get("status", MEMBER))
        return {"ok": True}

    async def remove_bot(request: web.Request) -> Any:
        c.remove_bot(chat_id(request), by_user_id=(await body(request))["by_user_id"])
        return {"ok": True}

    async def send_user_message(request: web.Request) -> Any:
        b = await body(request)
        return c.send_user_message(
            chat_id(request),
            b["user_id"],
            b.get("text"),
            entities=b.get("entities"),
            reply_to_message_id=b.get("reply_to_message_id"),
            message_thread_id=b.get("message_thread_id"),
            document=b.get("document"),
            caption=b.get("caption"),
            media_group_id=b.get("media_group_id"),
            sticker=b.get("sticker", False),
            voice=b.get("voice", False),
            anonymous=b.get("anonymous", False),
            audio=b.get("audio"),
            photo=b.get("photo"),
            quote=b.get("quote"),
            forward_origin=b.get("forward_origin"),
        )

    async def send_media_group(request: web.Request) -> Any:
        b = await body(request)
        return c.send_media_group(
            chat_id(request),
            b["user_id"],
            b.get("documents"),
            photos=b.get("photos"),
            caption=b.get("caption"),
            message_thread_id=b.get("message_thread_id"),
            reply_to_message_id=b.get("reply_to_message_id"),
        )

    async def press_button(request: web.Request) -> Any:
        b = await body(request)
        query_id = c.press_button(chat_id(request), b["message_id"], b["data"], user_id=b["user_id"])
        return {"callback_query_id": query_id}

    async def forge_callback(request: web.Request) -> Any:
        b = await body(request)
        query_id = c.forge_callback(chat_id(request), b["message_id"], b["data"], user_id=b["user_id"])
        return {"callback_query_id": query_id}

    async def press_stop(request: web.Request) -> Any:
        b = await body(request)
        c.press_stop(chat_id(request), b["draft_id"], message_thread_id=b.get("message_thread_id"))
        return {"ok": True}

    async def migrate_group(request: web.Request) -> Any:
        return {"migrate_to_chat_id": c.migrate_group(chat_id(request))}

    async def block_bot(request: web.Request) -> Any:
        c.block_bot(int(request.match_info["user_id"]))
        return {"ok": True}

    async def unblock_bot(request: web.Request) -> Any:
        c.unblock_bot(int(request.match_info["user_id"]))
        return {"ok": True}

    async def fail_next(request: web.Request) -> Any:
        b = await body(request)
        c.fail_next(
            b["method"],
            b.get("count", 1),
            error_code=b["error_code"],
            description=b["description"],
            retry_after=b.get("retry_after"),
            migrate_to_chat_id=b.get("migrate_to_chat_id"),
            penalty=b.get("penalty", "chat"),
            after_delivery=bool(b.get("after_delivery", False)),
        )
        return {"ok": True}

    async def calls(request: web.Request) -> Any:
        return c.calls(request.query.get("method"))

    async def bot_messages(request: web.Request) -> Any:
        return c.bot_messages(chat_id(request))

    async def drafts(request: web.Request) -> Any:
        return c.drafts(chat_id(request))

    async def chat_actions(request: web.Request) -> Any:
        return c.chat_actions(chat_id(request))

    async def violations(request: web.Request) -> Any:
        return c.violations()

    async def rate_stats(request: web.Request) -> Any:
        return c.rate_stats()

    async def visible_drafts(request: web.Request) -> Any:
        return c.visible_drafts(int(request.match_info["chat_id"]))

    async def callback_answers(request: web.Request) -> Any:
        return c.callback_answers()

    async def webhook_deliveries(request: web.Request) -> Any:
        return c.webhook_deliveries()

    async def pending_updates(request: web.Request) -> Any:
        return c.pending_updates()

    async def commands(request: web.Request) -> Any:
        return c.commands()

    async def get_config(request: web.Request) -> Any:
        return c.config()

    async def update_config(request: web.Request) -> Any:
        return c.update_config(await body(request))

    async def reset(request: web.Request) -> Any:
        c.reset()
        return {"ok": True}

    routes = [
        ("POST", "/users", create_user),
        ("POST", "/users/{user_id}/block", block_bot),
        ("POST", "/users/{user_id}/unblock", unblock_bot),
        ("POST", "/chats/private", create_private_chat),
        ("POST", "/chats/group", create_group),
        ("POST", "/chats/{chat_id}/topics", create_topic),
        ("POST", "/chats/{chat_id}/members/{user_id}", set_member_status),
        ("POST", "/chats/{chat_id}/bot/add", add_bot),
        ("POST", "/chats/{chat_id}/bot/remove", remove_bot),
        ("POST", "/chats/{chat_id}/messages", send_user_message),
        ("POST", "/chats/{chat_id}/media_groups", send_media_group),
        ("POST", "/chats/{chat_id}/callback", press_button),
        ("POST", "/chats/{chat_id}/forged_callback", forge_callback),
        ("POST", "/chats/{chat_id}/stop", press_stop),
        ("POST", "/chats/{chat_id}/migrate", migrate_group),
        ("GET", "/chats/{chat_id}/bot_messages", bot_messages),
        ("GET", "/chats/{chat_id}/drafts", drafts),
        ("GET", "/chats/{chat_id}/chat_actions", chat_actions),
        ("POST", "/fail_next", fail_next),
        ("GET", "/calls", calls),
        ("GET", "/violations", violations),
        ("GET", "/rate_stats", rate_stats),
        ("GET", "/chats/{chat_id}/visible_drafts", visible_drafts),
        ("GET", "/callback_answers", callback_answers),
        ("GET", "/webhook_deliveries", webhook_deliveries),
        ("GET", "/updates", pending_updates),
        ("GET", "/commands", commands),
        ("GET", "/config", get_config),
        ("PATCH", "/config", update_config),
        ("POST", "/reset", reset),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, f"/__control{path}", _json_handler(handler))


def _json_handler(
    handler: Callable[[web.Request], Awaitable[Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            result = await handler(request)
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": f"bad control request: {exc!r}"}, status=400)
        return web.json_response(result)

    return wrapped
