"""Contract: what a careless or hostile user can make Telegram send a bot — callbacks from any member
(and forged ones), anonymous group admins, long names — and the bot leaving a group."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from tests.fakes.telegram.errors import ControlError
from tests.fakes.telegram.server import TelegramFake

ANONYMOUS_BOT_ID = 1087968824


async def test_any_member_presses_buttons_and_forged_data_reaches_the_bot(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    owner = await telegram_fake.create_user("Olga")
    member = await telegram_fake.create_user("Max")
    group = await telegram_fake.create_group("Team", supergroup=True, members=[owner, member])
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go:1")]])
    with_button = await tg_bot.send_message(group["id"], "press me", reply_markup=keyboard)
    plain = await tg_bot.send_message(group["id"], "no buttons here")
    updates = await tg_bot.get_updates()
    offset = updates[-1].update_id + 1

    await telegram_fake.press_button(group["id"], with_button.message_id, "go:1", user=member)
    with pytest.raises(ControlError):
        await telegram_fake.press_button(group["id"], plain.message_id, "go:1", user=member)
    await telegram_fake.forge_callback(group["id"], plain.message_id, "kb:forget:no", user=member)
    with pytest.raises(ControlError):
        await telegram_fake.forge_callback(group["id"], plain.message_id, "x" * 65, user=member)
    stranger = await telegram_fake.create_user("Eve")
    with pytest.raises(ControlError):
        await telegram_fake.forge_callback(group["id"], plain.message_id, "go:1", user=stranger)

    updates = await tg_bot.get_updates(offset=offset)
    queries = [u.callback_query for u in updates if u.callback_query is not None]
    assert [(q.from_user.id, q.data) for q in queries] == [
        (member["id"], "go:1"),
        (member["id"], "kb:forget:no"),
    ]
    pressed, forged = queries
    assert isinstance(pressed.message, Message) and pressed.message.reply_markup is not None
    assert forged.message is not None and forged.message.message_id == plain.message_id
    assert getattr(forged.message, "reply_markup", None) is None, "the forged data is on no button"
    assert await tg_bot.answer_callback_query(forged.id)


async def test_anonymous_admins_post_as_the_group(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    owner = await telegram_fake.create_user("Olga")
    member = await telegram_fake.create_user("Max")
    group = await telegram_fake.create_group("Team", supergroup=True, members=[owner, member])
    await telegram_fake.send_user_message(group["id"], owner, "/new", anonymous=True)
    with pytest.raises(ControlError):
        await telegram_fake.send_user_message(group["id"], member, "hi", anonymous=True)
    basic = await telegram_fake.create_group("Basic", members=[owner])
    with pytest.raises(ControlError):
        await telegram_fake.send_user_message(basic["id"], owner, "hi", anonymous=True)

    messages = [u.message for u in await tg_bot.get_updates() if u.message is not None]
    [anonymous] = [m for m in messages if m.chat.id == group["id"]]
    assert anonymous.from_user is not None
    assert (anonymous.from_user.id, anonymous.from_user.username) == (ANONYMOUS_BOT_ID, "GroupAnonymousBot")
    assert anonymous.sender_chat is not None and anonymous.sender_chat.id == group["id"]
    member_info = await tg_bot.get_chat_member(group["id"], owner["id"])
    assert member_info.status == "creator" and getattr(member_info, "is_anonymous", None) is True
    with pytest.raises(TelegramBadRequest) as unknown:
        await tg_bot.get_chat_member(group["id"], ANONYMOUS_BOT_ID)
    assert unknown.value.message == "Bad Request: user not found"


async def test_long_names_are_delivered_whole(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Quentin", last_name="Q" * 80)
    chat = await telegram_fake.create_private_chat(user)
    name = "a" * 400 + ".md"
    await telegram_fake.send_user_message(
        chat["id"], user, document={"file_name": name, "mime_type": "text/markdown", "content": b"x"}
    )
    [update] = await tg_bot.get_updates()
    assert update.message is not None and update.message.document is not None
    assert update.message.document.file_name == name
    assert update.message.from_user is not None and update.message.from_user.last_name == "Q" * 80


async def test_leaving_a_group(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    owner = await telegram_fake.create_user("Olga")
    group = await telegram_fake.create_group("Team", supergroup=True, members=[owner])
    chat = await telegram_fake.create_private_chat(owner)
    joined = await tg_bot.get_updates()
    assert await tg_bot.leave_chat(group["id"])
    updates = await tg_bot.get_updates(offset=joined[-1].update_id + 1)
    [left] = [u.my_chat_member for u in updates if u.my_chat_member is not None]
    assert left.from_user.id == telegram_fake.config.bot_id
    assert (left.old_chat_member.status, left.new_chat_member.status) == ("member", "left")
    with pytest.raises(TelegramForbiddenError):
        await tg_bot.send_message(group["id"], "still here?")
    with pytest.raises(TelegramBadRequest) as private:
        await tg_bot.leave_chat(chat["id"])
    assert private.value.message == "Bad Request: chat member status can't be changed in private chats"
