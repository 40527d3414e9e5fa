"""Group Q&A end to end: when the bot speaks, where it replies, fairness, admins, topics, migration."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from tests.e2e.harness import Stack

BOT = "@test_assistant_bot"


async def group(
    stack: Stack, *, supergroup: bool = True, forum: bool = False
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
    bob = await stack.telegram.create_user("Bob", username="bob", language_code="en")
    chat = await stack.telegram.create_group("Team", supergroup=supergroup, forum=forum, members=[ann, bob])
    return chat["id"], ann, bob


def bot_messages(stack: Stack, chat_id: int) -> list[dict[str, Any]]:
    """The bot's replies in the chat (its greeting on being added is not a reply)."""
    return [m for m in stack.telegram.bot_messages(chat_id) if m["reply_to_message_id"] is not None]


def finished(stack: Stack, count: int) -> bool:
    done = [
        r
        for r in stack.yandex.responses(limit=200)
        if r["status"] in ("completed", "failed", "cancelled") or r["client_disconnected_at"] is not None
    ]
    return len(done) >= count


async def settle(
    stack: Stack, chat_id: int, answers: int, *, replies_only: bool = True, expect: int | None = None
) -> list[dict[str, Any]]:
    """Wait until `answers` model responses finished, each has its message, and nothing changes any more."""

    def messages() -> list[dict[str, Any]]:
        return bot_messages(stack, chat_id) if replies_only else stack.telegram.bot_messages(chat_id)

    await stack.telegram.wait_for(lambda: finished(stack, answers), timeout=30)
    await stack.telegram.wait_for(
        lambda: len(messages()) >= (answers if expect is None else expect), timeout=30
    )
    previous: Any = None
    for _ in range(100):
        current = [(m["message_id"], len(m["versions"]), m["reply_markup"]) for m in messages()]
        if current == previous and all(m["reply_markup"] is None for m in messages()):
            return messages()
        previous = current
        await asyncio.sleep(0.4)
    raise AssertionError("the bot kept changing its messages")


def last_text(stack: Stack, chat_id: int) -> str:
    messages = stack.telegram.bot_messages(chat_id)
    return (messages[-1]["text"] or "") if messages else ""


def yes_data(prompt: dict[str, Any]) -> str:
    """The /forget prompt's "yes" button (its data names the documents the prompt counted)."""
    return str(prompt["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


def callback_text(stack: Stack, index: int) -> str | None:
    answers = stack.telegram.callback_answers()
    if len(answers) <= index or answers[index]["answer"] is None:
        return None
    return str(answers[index]["answer"].get("text") or "")


async def test_answers_only_when_addressed_and_replies_to_the_asker(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await group(stack)
        await stack.telegram.send_user_message(chat_id, ann, "good morning everyone")
        await stack.telegram.send_user_message(chat_id, bob, "/ask@other_bot what time is it")
        await stack.telegram.send_user_message(chat_id, bob, "/help@other_bot")
        mention = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} what is a heron? emu:echo")
        await settle(stack, chat_id, 1)
        first = bot_messages(stack, chat_id)[0]
        assert first["reply_to_message_id"] == mention["message_id"]
        assert "what is a heron?" in first["text"] and BOT not in first["text"]

        reply = await stack.telegram.send_user_message(
            chat_id, bob, "and where do they live? emu:echo", reply_to_message_id=first["message_id"]
        )
        asked = await stack.telegram.send_user_message(chat_id, ann, "/ask how tall are they? emu:echo")
        addressed = await stack.telegram.send_user_message(chat_id, bob, f"/ask{BOT} and how old? emu:echo")
        messages = await settle(stack, chat_id, 4)
    replies = {m["reply_to_message_id"]: m["text"] for m in messages}
    assert "where do they live?" in replies[reply["message_id"]]
    assert "how tall are they?" in replies[asked["message_id"]]
    assert "and how old?" in replies[addressed["message_id"]]
    assert len(messages) == 4, "chatter and other bots' commands got no reply"
    inputs = [r["input_text"] for r in stack.yandex.responses()]
    assert not any("good morning" in i or "what time" in i for i in inputs)
    assert stack.telegram.drafts(chat_id) == [], "never drafts in a group"
    assert stack.telegram.violations() == []


async def test_answers_stream_by_editing_the_reply(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 150
    async with stack.bot():
        chat_id, ann, _ = await group(stack)
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} tell me a story emu:long=900")
        messages = await settle(stack, chat_id, 1)
    answer = messages[0]
    assert len(answer["versions"]) >= 3, "the reply grows by edits"
    assert answer["versions"][0]["reply_markup"] is not None, "a Stop button while streaming"
    assert answer["reply_markup"] is None, "no button once done"
    final = answer["rich_markdown"] or answer["text"]
    assert final == stack.yandex.responses()[-1]["output_text"]
    assert stack.telegram.violations() == []


async def test_two_askers_at_once_are_both_answered_in_order_without_429(stack: Stack) -> None:
    stack.yandex.config.chars_per_second = 400
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await group(stack)
        first = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} first question emu:long=500")
        await asyncio.sleep(0.3)
        second = await stack.telegram.send_user_message(chat_id, bob, f"{BOT} second question emu:long=500")
        messages = await settle(stack, chat_id, 2)
    assert [m["reply_to_message_id"] for m in messages] == [first["message_id"], second["message_id"]]
    responses = stack.yandex.responses()
    assert responses[0]["completed_at"] <= responses[1]["started_at"]
    assert stack.telegram.violations() == []


async def test_the_group_shares_one_conversation_and_knows_who_asked(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await group(stack)
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} I am planning a trip emu:history")
        await settle(stack, chat_id, 1)
        await stack.telegram.send_user_message(chat_id, bob, f"{BOT} what did Ann plan? emu:history")
        messages = await settle(stack, chat_id, 2)
    assert "history=1" in messages[0]["text"]
    assert "history=2" in messages[1]["text"]
    inputs = [r["input_text"] for r in stack.yandex.responses()]
    assert inputs[0].startswith("⟦author: Ann⟧\n") and inputs[1].startswith("⟦author: Bob⟧\n")


async def test_forum_topics_get_answers_in_their_topic_with_separate_context(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await group(stack, forum=True)
        travel = await stack.telegram.create_topic(chat_id, "Travel", by=ann)
        food = await stack.telegram.create_topic(chat_id, "Food", by=bob)
        await stack.telegram.send_user_message(
            chat_id, ann, f"{BOT} beaches? emu:history", message_thread_id=travel
        )
        await settle(stack, chat_id, 1)
        await stack.telegram.send_user_message(
            chat_id, bob, f"{BOT} soups? emu:history", message_thread_id=food
        )
        await settle(stack, chat_id, 2)
        # Plain chatter in a topic (with the implicit reply to the topic's first message) is not addressed.
        await stack.telegram.send_user_message(chat_id, bob, "nice weather", message_thread_id=food)
        await stack.telegram.send_user_message(
            chat_id, ann, f"{BOT} hotels? emu:history", message_thread_id=travel
        )
        messages = await settle(stack, chat_id, 3)
    assert [(m["message_thread_id"], m["text"].count("history=")) for m in messages] == [
        (travel, 1),
        (food, 1),
        (travel, 1),
    ]
    assert "history=1" in messages[1]["text"]
    assert "history=2" in messages[2]["text"]
    assert len(stack.yandex.responses()) == 3


async def test_stop_button_is_for_the_asker_or_an_admin(stack: Stack) -> None:
    async with stack.bot(reply_format="rich"):
        chat_id, ann, bob = await group(stack)
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} long one emu:slow=60 emu:long=2000")

        def streaming() -> bool:
            replies = bot_messages(stack, chat_id)
            return bool(replies) and replies[0]["reply_markup"] is not None

        await stack.telegram.wait_for(streaming)
        answer = bot_messages(stack, chat_id)[0]
        data = answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await stack.telegram.press_button(chat_id, answer["message_id"], data, user=bob)
        await stack.telegram.wait_for(lambda: callback_text(stack, 0) is not None)
        assert "Only the person who asked" in (callback_text(stack, 0) or "")
        assert stack.yandex.responses()[-1]["status"] == "in_progress"
        await stack.telegram.press_button(chat_id, answer["message_id"], data, user=ann)
        # Stopped by closing the stream (Yandex cancels only background responses).
        await stack.telegram.wait_for(
            lambda: stack.yandex.responses()[-1]["client_disconnected_at"] is not None, timeout=10
        )
        messages = await settle(stack, chat_id, 1)
    final = messages[0]["rich_markdown"] or messages[0]["text"] or ""
    assert final.endswith("_Stopped._")


async def test_forget_and_deleting_others_documents_need_admin_rights(stack: Stack) -> None:
    async with stack.bot():
        chat_id, ann, bob = await group(stack)
        await stack.telegram.set_member_status(chat_id, ann["id"], "administrator")
        notes = {
            "file_name": "plan.md",
            "mime_type": "text/markdown",
            "content": b"The plan is to meet at noon.",
        }
        await stack.telegram.send_user_message(chat_id, bob, document=notes)  # not addressed: ignored
        await stack.telegram.send_user_message(chat_id, bob, document=notes, caption=f"{BOT} keep this")
        await stack.telegram.wait_for(lambda: "✅ Ready" in last_text(stack, chat_id))
        assert len(stack.yandex.vector_stores()[0]["files"]) == 1

        await stack.telegram.send_user_message(chat_id, ann, f"/docs{BOT}")
        await stack.telegram.wait_for(lambda: "Documents in this chat" in last_text(stack, chat_id))
        listing = stack.telegram.bot_messages(chat_id)[-1]
        data = listing["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        carol = await stack.telegram.create_user("Carol")
        await stack.telegram.set_member_status(chat_id, carol["id"], "member")
        await stack.telegram.press_button(chat_id, listing["message_id"], data, user=carol)
        await stack.telegram.wait_for(lambda: callback_text(stack, 0) is not None)
        assert "Only the person who uploaded it" in (callback_text(stack, 0) or "")
        assert len(stack.yandex.vector_stores()[0]["files"]) == 1, "a member cannot delete Bob's document"

        await stack.telegram.send_user_message(chat_id, bob, "/forget")
        await stack.telegram.wait_for(lambda: "Only group admins" in last_text(stack, chat_id))
        await stack.telegram.send_user_message(chat_id, ann, "/forget")
        await stack.telegram.wait_for(lambda: "Delete all 1 documents" in last_text(stack, chat_id))
        confirm = stack.telegram.bot_messages(chat_id)[-1]
        await stack.telegram.press_button(chat_id, confirm["message_id"], yes_data(confirm), user=bob)
        await stack.telegram.wait_for(lambda: callback_text(stack, 1) is not None)
        assert stack.yandex.vector_stores() != [], "a non-admin's confirmation is refused"
        await stack.telegram.press_button(chat_id, confirm["message_id"], yes_data(confirm), user=ann)
        await stack.telegram.wait_for(lambda: stack.yandex.vector_stores() == [])


async def test_state_follows_a_group_that_becomes_a_supergroup(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await group(stack, supergroup=False)
        notes = {
            "file_name": "facts.md",
            "mime_type": "text/markdown",
            "content": b"The password is swordfish.",
        }
        await stack.telegram.send_user_message(chat_id, ann, document=notes, caption=f"{BOT} remember")
        await stack.telegram.wait_for(
            lambda: any("✅ Ready" in (m["text"] or "") for m in bot_messages(stack, chat_id))
        )
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} hello emu:history")
        await stack.telegram.wait_for(lambda: "history=1" in last_text(stack, chat_id))
        new_id = await stack.telegram.migrate_group(chat_id)
        await stack.telegram.send_user_message(new_id, bob, f"{BOT} what is the password? emu:history")
        messages = await settle(stack, new_id, 2, expect=1)
    answer = messages[-1]["text"]
    assert "history=2" in answer, "the conversation moved"
    assert "swordfish" in answer and "facts.md" in answer, "the documents moved"


async def test_a_send_to_an_upgraded_group_is_retried_on_the_new_id(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, _ = await group(stack, supergroup=False)
        await stack.telegram.send_user_message(chat_id, ann, f"{BOT} slow answer emu:slow=30 emu:long=300")
        await stack.telegram.wait_for(lambda: bool(bot_messages(stack, chat_id)))  # streaming has begun
        new_id = await stack.telegram.migrate_group(chat_id)
        messages = await settle(stack, new_id, 1, replies_only=False)
    assert messages, "the answer was delivered in the supergroup"
    assert messages[-1]["text"] == stack.yandex.responses()[-1]["output_text"], "whole, as the model wrote it"


async def test_greeting_when_added_and_cleanup_when_removed(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    async with stack.bot(reply_format="classic", group_state_retention_days=2):
        ann = await stack.telegram.create_user("Ann", username="ann")
        chat = await stack.telegram.create_group(
            "New team", supergroup=True, members=[ann], bot_status="left"
        )
        await stack.telegram.add_bot(chat["id"], by=ann)
        await stack.telegram.wait_for(lambda: bool(stack.telegram.bot_messages(chat["id"])))
        greeting = stack.telegram.bot_messages(chat["id"])[0]["text"]
        assert BOT in greeting and "/ask" in greeting
        await stack.telegram.send_user_message(chat["id"], ann, f"{BOT} remember me")
        await settle(stack, chat["id"], 1)
        await stack.telegram.remove_bot(chat["id"], by=ann)
        keys = [k.decode() for k in await redis_client.keys(f"*:{chat['id']}:t*")]

        async def expiring() -> bool:
            ttls = [await redis_client.ttl(k) for k in keys]
            return bool(ttls) and all(0 < t <= 2 * 86400 for t in ttls)

        for _ in range(50):
            if await expiring():
                break
            await asyncio.sleep(0.1)
    assert keys and await expiring()
