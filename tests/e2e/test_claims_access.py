"""README "Configuration" and "Limits and behaviour" → Access: ALLOWED_CHAT_IDS lets everyone in a listed
chat in (and only there), ADMIN_USER_IDS are always allowed, and anonymous group admins count as
their chat only. End to end: the real bot against the Telegram fake and the Yandex emulator."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"
REFUSAL = "Sorry, this bot is private. Ask its owner for access."


def asked(stack: Stack) -> list[str]:
    """The questions the model was asked (group questions carry their author's label first)."""
    return [r["input_text"] for r in stack.yandex.responses(limit=100)]


def was_asked(stack: Stack, question: str) -> bool:
    return any(question in text for text in asked(stack))


def texts_of(stack: Stack, chat_id: int) -> list[str]:
    return [m["text"] or m["rich_markdown"] or "" for m in stack.telegram.bot_messages(chat_id)]


def left(stack: Stack, chat_id: int) -> bool:
    return any(
        c["params"].get("chat_id") in (chat_id, str(chat_id)) for c in stack.telegram.calls("leaveChat")
    )


async def private_chat(stack: Stack, user: dict[str, Any]) -> int:
    return int((await stack.telegram.create_private_chat(user))["id"])


async def test_allowed_chat_ids_let_every_member_of_a_listed_chat_in_and_nobody_elsewhere(
    stack: Stack,
) -> None:
    ann = await stack.telegram.create_user("Ann", language_code="en")
    listed = (await stack.telegram.create_group("Listed", supergroup=True, members=[ann]))["id"]
    other = (await stack.telegram.create_group("Other", supergroup=True, members=[ann]))["id"]
    async with stack.bot(allowed_chat_ids=str(listed), reply_format="classic"):
        await stack.telegram.send_user_message(listed, ann, f"{BOT} question in the listed group")
        await stack.telegram.wait_for(lambda: was_asked(stack, "question in the listed group"), timeout=15)
        # An anonymous admin of the listed group posts as the group: it counts as the group, allowed.
        await stack.telegram.send_user_message(
            listed, ann, f"{BOT} anonymous in the listed group", anonymous=True
        )
        await stack.telegram.wait_for(lambda: was_asked(stack, "anonymous in the listed group"), timeout=15)

        own_chat = await private_chat(stack, ann)
        await stack.telegram.send_user_message(own_chat, ann, "question in my private chat")
        await stack.telegram.wait_for(lambda: bool(final_texts(stack.telegram, own_chat)))
        # Added to the other group by Ann, who is allowed in the listed chat only: it says so and leaves.
        await stack.telegram.wait_for(lambda: left(stack, other))
        await stack.telegram.wait_for(
            lambda: all(m["reply_markup"] is None for m in stack.telegram.bot_messages(listed)), timeout=15
        )
    assert final_texts(stack.telegram, own_chat) == [REFUSAL], "Ann is allowed in the listed chat only"
    assert not was_asked(stack, "question in my private chat")
    assert len(asked(stack)) == 2
    [notice] = texts_of(stack, other)
    assert "private" in notice and "/ask" not in notice, "a refusal, not a greeting"
    assert not left(stack, listed)


async def test_admins_are_always_allowed(stack: Stack) -> None:
    boss = await stack.telegram.create_user("Boss", user_id=777, language_code="en")
    outsider = await stack.telegram.create_user("Olga", language_code="en")
    group = (await stack.telegram.create_group("Unlisted", supergroup=True, members=[boss, outsider]))["id"]
    async with stack.bot(
        allowed_user_ids="999", allowed_chat_ids="-1000999", admin_user_ids="777", reply_format="classic"
    ):
        boss_chat = await private_chat(stack, boss)
        await stack.telegram.send_user_message(boss_chat, boss, "the admin asks privately emu:echo")
        await stack.telegram.wait_for(lambda: bool(final_texts(stack.telegram, boss_chat)))
        await stack.telegram.send_user_message(group, boss, f"{BOT} the admin asks in a group")
        await stack.telegram.wait_for(lambda: was_asked(stack, "the admin asks in a group"), timeout=15)
        await stack.telegram.send_user_message(group, outsider, "/ask an outsider asks in the group")
        await stack.telegram.wait_for(lambda: REFUSAL in texts_of(stack, group))
    assert final_texts(stack.telegram, boss_chat)[0].startswith("the admin asks privately")
    assert REFUSAL not in final_texts(stack.telegram, boss_chat)
    assert not was_asked(stack, "an outsider asks in the group")


async def test_an_anonymous_admin_counts_as_the_chat_only(stack: Stack) -> None:
    ann = await stack.telegram.create_user("Ann", language_code="en")
    group = (await stack.telegram.create_group("Unlisted", supergroup=True, members=[ann]))["id"]
    await stack.telegram.set_member_status(group, ann["id"], "administrator")
    async with stack.bot(allowed_user_ids=str(ann["id"]), reply_format="classic"):
        await stack.telegram.send_user_message(group, ann, f"{BOT} Ann asks as herself")
        await stack.telegram.wait_for(lambda: was_asked(stack, "Ann asks as herself"), timeout=15)
        # Posting as the group hides who wrote it: Ann's own allowance does not apply. (In groups the
        # refusal answers commands only: members' chatter passes through the same check.)
        await stack.telegram.send_user_message(group, ann, "/ask Ann asks as the group", anonymous=True)
        await stack.telegram.wait_for(lambda: REFUSAL in texts_of(stack, group))
    assert not was_asked(stack, "Ann asks as the group")
