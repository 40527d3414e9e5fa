"""The bot itself, chats and members, files, and the bot's command lists."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram import errors
from tests.fakes.telegram.errors import BotApiError, bad_request
from tests.fakes.telegram.models import ADMINISTRATOR, CREATOR, LEFT, PRIVATE, chat_member_api
from tests.fakes.telegram.params import Params

from .common import Handler

if TYPE_CHECKING:
    from tests.fakes.telegram.core import FakeBotApi

_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


async def get_me(api: FakeBotApi, params: Params) -> dict[str, Any]:
    return {
        **api.state.bot_user().to_api(),
        "can_join_groups": True,
        "can_read_all_group_messages": True,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def get_chat(api: FakeBotApi, params: Params) -> dict[str, Any]:
    chat = api.state.chat_for_bot(params.chat_id())
    return {
        **chat.to_api(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


async def get_chat_member(api: FakeBotApi, params: Params) -> dict[str, Any]:
    chat = api.state.chat_for_bot(params.chat_id())
    user_id = params.integer("user_id", required=True)
    assert user_id is not None
    user = api.state.find_user(user_id)
    if user is None:
        raise bad_request(errors.USER_NOT_FOUND)
    return chat_member_api(user, chat.status_of(user_id), is_anonymous=user_id in chat.anonymous_admins)


async def get_chat_administrators(api: FakeBotApi, params: Params) -> list[dict[str, Any]]:
    chat = api.state.chat_for_bot(params.chat_id())
    if chat.type == PRIVATE:
        raise bad_request(errors.NO_ADMINISTRATORS_IN_PRIVATE)
    admins = []
    for user_id, status in chat.members.items():
        user = api.state.find_user(user_id)
        if user is not None and status in (CREATOR, ADMINISTRATOR):
            admins.append(chat_member_api(user, status, is_anonymous=user_id in chat.anonymous_admins))
    return admins


async def leave_chat(api: FakeBotApi, params: Params) -> bool:
    """The bot leaves a group: it becomes `left` and gets a my_chat_member update sent by itself."""
    chat = api.state.chat_for_bot(params.chat_id())
    if chat.type == PRIVATE:
        raise bad_request(errors.CANT_LEAVE_PRIVATE)
    bot = api.state.bot_user()
    old = chat.status_of(bot.id)
    chat.members[bot.id] = LEFT
    api.emit(
        "my_chat_member",
        {
            "chat": chat.to_api(),
            "from": bot.to_api(),
            "date": int(time.time()),
            "old_chat_member": chat_member_api(bot, old),
            "new_chat_member": chat_member_api(bot, LEFT),
        },
    )
    return True


async def get_file(api: FakeBotApi, params: Params) -> dict[str, Any]:
    stored = api.state.file_by_id(params.string("file_id", required=True))
    if stored.size > api.config.max_download_size:
        raise BotApiError(400, errors.FILE_TOO_BIG)
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.json("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), params.string("language_code") or ""


async def set_my_commands(api: FakeBotApi, params: Params) -> bool:
    commands = params.json("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request(errors.JSON_INVALID.format(name="commands"))
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND.match(str(command.get("command", ""))):
            raise bad_request(errors.BOT_COMMAND_INVALID)
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request(errors.BOT_COMMAND_DESCRIPTION_INVALID)
    key = _commands_key(params)
    api.state.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
    return True


async def get_my_commands(api: FakeBotApi, params: Params) -> list[dict[str, str]]:
    return api.state.commands.get(_commands_key(params), [])


async def delete_my_commands(api: FakeBotApi, params: Params) -> bool:
    api.state.commands.pop(_commands_key(params), None)
    return True


HANDLERS: dict[str, Handler] = {
    "getMe": get_me,
    "getChat": get_chat,
    "getChatMember": get_chat_member,
    "getChatAdministrators": get_chat_administrators,
    "leaveChat": leave_chat,
    "getFile": get_file,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
}
