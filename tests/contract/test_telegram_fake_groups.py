"""Contract: groups, forum topics, membership, migration and drafts in the Telegram fake."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
)
from aiogram.types import InputRichMessage

from tests.fakes.telegram.server import TelegramFake


async def test_group_membership_updates_and_forbidden_errors(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    owner = await telegram_fake.create_user("Olga", username="olga_owner")
    member = await telegram_fake.create_user("Max")
    group = await telegram_fake.create_group("Team", members=[owner, member])
    assert group["type"] == "group"

    [joined] = await tg_bot.get_updates()
    assert joined.my_chat_member is not None
    assert joined.my_chat_member.from_user.id == owner["id"]
    assert (joined.my_chat_member.old_chat_member.status, joined.my_chat_member.new_chat_member.status) == (
        "left",
        "member",
    )
    info = await tg_bot.get_chat(group["id"])
    assert (info.type, info.title) == ("group", "Team")
    admins = await tg_bot.get_chat_administrators(group["id"])
    assert [(a.status, a.user.id) for a in admins] == [("creator", owner["id"])]
    assert (await tg_bot.get_chat_member(group["id"], member["id"])).status == "member"

    await telegram_fake.set_member_status(group["id"], member["id"], "administrator")
    assert (await tg_bot.get_chat_member(group["id"], member["id"])).status == "administrator"

    await telegram_fake.remove_bot(group["id"], by=owner)
    with pytest.raises(TelegramForbiddenError) as caught:
        await tg_bot.send_message(group["id"], "still here?")
    assert caught.value.message == "Forbidden: bot was kicked from the group chat"
    await telegram_fake.send_user_message(group["id"], member, "the bot does not see this")
    updates = await tg_bot.get_updates(offset=joined.update_id + 1)
    assert [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member] == ["kicked"]
    assert not [u for u in updates if u.message]

    left = await telegram_fake.create_group("Quiet", supergroup=True, members=[owner], bot_status="left")
    with pytest.raises(TelegramForbiddenError) as not_member:
        await tg_bot.send_message(left["id"], "hi")
    assert not_member.value.message == "Forbidden: bot is not a member of the supergroup chat"


async def test_forum_topics_threads_and_implicit_replies(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    owner = await telegram_fake.create_user("Olga")
    forum = await telegram_fake.create_group("Forum", forum=True, members=[owner], bot_status="administrator")
    assert forum["type"] == "supergroup" and forum["is_forum"] is True
    topic_id = await telegram_fake.create_topic(forum["id"], "Questions", by=owner)

    asked = await telegram_fake.send_user_message(
        forum["id"], owner, "@test_assistant_bot why?", message_thread_id=topic_id
    )
    assert asked["message_thread_id"] == topic_id and asked["is_topic_message"] is True
    assert (
        asked["reply_to_message"]["message_id"] == topic_id
    )  # implicit reply to the topic's creation message
    assert asked["reply_to_message"]["forum_topic_created"]["name"] == "Questions"
    assert asked["entities"] == [{"type": "mention", "offset": 0, "length": 19}]

    general = await telegram_fake.send_user_message(forum["id"], owner, "in General")
    assert "message_thread_id" not in general and "reply_to_message" not in general

    updates = await tg_bot.get_updates()
    message = updates[-2].message
    assert message is not None and message.is_topic_message and message.message_thread_id == topic_id

    answer = await message.reply("because")  # aiogram fills message_thread_id for topic messages
    assert answer.message_thread_id == topic_id and answer.is_topic_message
    assert answer.reply_to_message is not None and answer.reply_to_message.message_id == asked["message_id"]
    [record] = telegram_fake.bot_messages(forum["id"])
    assert (record["message_thread_id"], record["reply_to_message_id"]) == (topic_id, asked["message_id"])

    for missing in (999, 1):  # an unknown topic, and the General topic which has no thread id
        with pytest.raises(TelegramBadRequest) as caught:
            await tg_bot.send_message(forum["id"], "x", message_thread_id=missing)
        assert caught.value.message == "Bad Request: message thread not found"


async def test_replies_are_filled_with_the_full_replied_message(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    owner = await telegram_fake.create_user("Olga")
    group = await telegram_fake.create_group("Team", supergroup=True, members=[owner])
    sent = await tg_bot.send_message(group["id"], "<b>hello</b>", parse_mode="HTML")
    reply = await telegram_fake.send_user_message(
        group["id"], owner, "thanks", reply_to_message_id=sent.message_id
    )
    assert reply["reply_to_message"]["text"] == "hello"
    assert reply["reply_to_message"]["from"]["id"] == telegram_fake.config.bot_id
    assert reply["reply_to_message"]["entities"] == [{"type": "bold", "offset": 0, "length": 5}]


async def test_group_migration(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    owner = await telegram_fake.create_user("Olga")
    group = await telegram_fake.create_group("Team", members=[owner])
    await tg_bot.send_message(group["id"], "before")
    new_id = await telegram_fake.migrate_group(group["id"])
    assert str(new_id).startswith("-100")

    updates = await tg_bot.get_updates()
    migrations = [
        (u.message.chat.id, u.message.migrate_to_chat_id, u.message.migrate_from_chat_id)
        for u in updates
        if u.message
    ]
    assert migrations == [(group["id"], new_id, None), (new_id, None, group["id"])]

    with pytest.raises(TelegramMigrateToChat) as caught:
        await tg_bot.send_message(group["id"], "after")
    assert caught.value.migrate_to_chat_id == new_id
    assert "Bad Request: group chat was upgraded to a supergroup chat" in caught.value.message

    moved = await tg_bot.send_message(new_id, "after")
    assert moved.chat.type == "supergroup" and moved.chat.title == "Team"
    assert (await tg_bot.get_chat_member(new_id, owner["id"])).status == "creator"


async def test_drafts_in_private_chats(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    assert (
        await tg_bot.send_message_draft(chat["id"], draft_id=7, text="", can_stop=True) is True
    )  # "Thinking…"
    assert await tg_bot.send_message_draft(
        chat["id"], draft_id=7, text="<b>Hel</b>", parse_mode="HTML", can_stop=True
    )
    assert await tg_bot.send_rich_message_draft(
        chat["id"], draft_id=7, rich_message=InputRichMessage(markdown="**Hello**"), keep_on_stop=True
    )
    frames = telegram_fake.drafts(chat["id"])
    assert [(f["draft_id"], f["text"], f["rich_markdown"]) for f in frames] == [
        (7, "", None),
        (7, "Hel", None),
        (7, None, "**Hello**"),
    ]
    assert frames[1]["entities"] == [{"type": "bold", "offset": 0, "length": 3}]
    assert [f["can_stop"] for f in frames] == [True, True, False] and frames[2]["keep_on_stop"] is True
    assert frames[0]["at"] <= frames[1]["at"] <= frames[2]["at"]

    with pytest.raises(TelegramBadRequest, match="draft_id must be non-zero"):
        await tg_bot.send_message_draft(chat["id"], draft_id=0, text="x")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await tg_bot.send_message_draft(chat["id"], draft_id=8, text="x" * 4097)


async def test_press_stop_sends_stopped_message_generation(telegram_fake: TelegramFake, tg_bot: Bot) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    await tg_bot.send_message_draft(chat["id"], draft_id=3, text="partial", can_stop=True)
    await telegram_fake.press_stop(chat["id"], 3)
    [update] = await tg_bot.get_updates()
    assert update.stopped_message_generation is not None
    assert (update.stopped_message_generation.chat.id, update.stopped_message_generation.draft_id) == (
        chat["id"],
        3,
    )


async def test_drafts_are_rejected_outside_private_chats_and_by_old_servers(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    owner = await telegram_fake.create_user("Olga")
    group = await telegram_fake.create_group("Team", supergroup=True, members=[owner])
    with pytest.raises(TelegramBadRequest) as caught:
        await tg_bot.send_message_draft(group["id"], draft_id=1, text="x")
    assert caught.value.message == "Bad Request: TEXTDRAFT_PEER_INVALID"
    with pytest.raises(TelegramBadRequest, match="TEXTDRAFT_PEER_INVALID"):
        await tg_bot.send_rich_message_draft(
            group["id"], draft_id=1, rich_message=InputRichMessage(markdown="x")
        )

    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    telegram_fake.config.drafts_supported = False
    with pytest.raises(TelegramNotFound) as not_found:
        await tg_bot.send_message_draft(chat["id"], draft_id=1, text="x")
    assert not_found.value.message == "Not Found: method not found"
    assert telegram_fake.drafts(chat["id"]) == []


async def test_user_documents_media_groups_stickers_and_voice(
    telegram_fake: TelegramFake, tg_bot: Bot
) -> None:
    user = await telegram_fake.create_user("Ann")
    chat = await telegram_fake.create_private_chat(user)
    album = await telegram_fake.send_media_group(
        chat["id"],
        user,
        [
            {"file_name": "a.pdf", "mime_type": "application/pdf", "content": b"%PDF-a"},
            {"file_name": "b.txt", "mime_type": "text/plain", "content": b"bbb"},
        ],
        caption="/summarize both",
    )
    assert len({m["media_group_id"] for m in album}) == 1
    assert album[0]["caption"] == "/summarize both" and "caption" not in album[1]
    assert album[0]["caption_entities"] == [{"type": "bot_command", "offset": 0, "length": 10}]
    sticker = await telegram_fake.send_user_message(chat["id"], user, sticker=True)
    voice = await telegram_fake.send_user_message(chat["id"], user, voice=True)
    updates = await tg_bot.get_updates()
    parsed = [u.message for u in updates if u.message]
    assert [m.document.file_name for m in parsed if m.document] == ["a.pdf", "b.txt"]
    assert parsed[2].sticker is not None and parsed[2].message_id == sticker["message_id"]
    assert parsed[3].voice is not None and parsed[3].message_id == voice["message_id"]
