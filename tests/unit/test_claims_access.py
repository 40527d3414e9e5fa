"""README "Limits and behaviour" → Access: Stop on a draft is checked against the allowlists before any
handler runs. End to end this cannot be seen (a chat outside the allowlists never gets an answer, so it
never has a draft to stop); here the access middleware gets the update aiogram would give it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiogram.types import Chat, MessageGenerationStopped, TelegramObject, Update

from bot.core.access import AccessPolicy
from bot.telegram.middlewares import AccessMiddleware

ALLOWED, OTHER = 1001, 2002


def stop_pressed_in(chat_id: int) -> Update:
    chat = Chat(id=chat_id, type="private", first_name="Someone")
    return Update(update_id=7, stopped_message_generation=MessageGenerationStopped(chat=chat, draft_id=5))


async def handled(policy: AccessPolicy, update: Update) -> bool:
    reached: list[TelegramObject] = []

    async def handler(event: TelegramObject, data: dict[str, Any]) -> None:
        reached.append(event)

    await AccessMiddleware()(handler, update, {"services": SimpleNamespace(access=policy)})
    return reached == [update]


async def test_stop_on_a_draft_is_checked_against_the_allowlists() -> None:
    users = AccessPolicy(allowed_user_ids=frozenset({ALLOWED}))
    assert await handled(users, stop_pressed_in(ALLOWED))
    assert not await handled(users, stop_pressed_in(OTHER))
    chats = AccessPolicy(allowed_chat_ids=frozenset({ALLOWED}))
    assert await handled(chats, stop_pressed_in(ALLOWED))
    assert not await handled(chats, stop_pressed_in(OTHER))
    admins = AccessPolicy(allowed_user_ids=frozenset({ALLOWED}), admin_user_ids=frozenset({OTHER}))
    assert await handled(admins, stop_pressed_in(OTHER))
    assert await handled(AccessPolicy(), stop_pressed_in(OTHER)), "no allowlists: everyone"
