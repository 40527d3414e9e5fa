"""README "Groups" claims end to end that no other test exercised: /ask as a reply, GROUP_CONTEXT=group
and =user, GROUP_CONTEXT_MESSAGES, which documents are indexed, and what only admins may do (Stop
someone else's answer, /new, delete another member's document)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.e2e.harness import Stack

BOT = "@test_assistant_bot"
HISTORY = re.compile(r"history=(\d+)")
NOTES = {"file_name": "plan.md", "mime_type": "text/markdown", "content": b"The plan is to meet at noon."}


async def team(stack: Stack, *, forum: bool = False) -> tuple[int, dict[str, Any], dict[str, Any]]:
    ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
    bob = await stack.telegram.create_user("Bob", username="bob", language_code="en")
    chat = await stack.telegram.create_group("Team", supergroup=True, forum=forum, members=[ann, bob])
    return chat["id"], ann, bob


def reply_to(stack: Stack, chat_id: int, message_id: int) -> dict[str, Any] | None:
    """The bot's finished reply to a message (no Stop button left), if any."""
    for message in stack.telegram.bot_messages(chat_id):
        finished = message["reply_markup"] is None and (message["text"] or message["rich_markdown"])
        if message["reply_to_message_id"] == message_id and finished:
            return message
    return None


async def answer_to(stack: Stack, chat_id: int, message: dict[str, Any], timeout: float = 20.0) -> str:
    """Wait for the bot's final answer to `message`: the reply shows a completed response's text (and
    the document sources after it, if any)."""

    def done() -> bool:
        reply = reply_to(stack, chat_id, message["message_id"])
        if reply is None:
            return False
        text = reply["rich_markdown"] or reply["text"]
        return any(
            r["status"] == "completed" and r["output_text"] and text.startswith(r["output_text"])
            for r in stack.yandex.responses()
        )

    await stack.telegram.wait_for(done, timeout=timeout)
    reply = reply_to(stack, chat_id, message["message_id"])
    assert reply is not None
    return str(reply["rich_markdown"] or reply["text"])


def history(text: str) -> int:
    return int(HISTORY.findall(text)[-1])


async def wait_message(stack: Stack, chat_id: int, needle: str, timeout: float = 15.0) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [m for m in stack.telegram.bot_messages(chat_id) if needle in (m["text"] or "")]

    await stack.telegram.wait_for(lambda: bool(found()), timeout=timeout)
    return found()[-1]


async def callback_answer(stack: Stack, query_id: str) -> str:
    def answer() -> dict[str, Any] | None:
        for record in stack.telegram.callback_answers():
            if record["callback_query_id"] == query_id:
                found: dict[str, Any] | None = record["answer"]
                return found
        return None

    await stack.telegram.wait_for(lambda: answer() is not None)
    return str((answer() or {}).get("text") or "")


def store_files(stack: Stack) -> list[str]:
    return sorted(f["filename"] for store in stack.yandex.vector_stores() for f in store["files"])


async def test_ask_as_a_reply_asks_about_the_replied_message(stack: Stack) -> None:
    """A bare `/ask` replying to a message asks that message's text; `/ask <question>` as a reply asks
    the question about it (the replied message reaches the model as a reference)."""
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await team(stack)
        said = await stack.telegram.send_user_message(chat_id, bob, "Why is the sky blue at noon?")
        bare = await stack.telegram.send_user_message(
            chat_id, ann, "/ask", reply_to_message_id=said["message_id"]
        )
        await answer_to(stack, chat_id, bare)
        asked = await stack.telegram.send_user_message(
            chat_id, ann, "/ask is that true at dawn?", reply_to_message_id=said["message_id"]
        )
        await answer_to(stack, chat_id, asked)
    first, second = (r for r in stack.yandex.responses() if r["status"] == "completed")
    assert first["input_text"] == "⟦author: Ann⟧\nWhy is the sky blue at noon?"
    assert second["input_text"] == (
        "⟦refers to: a message by Bob⟧\nWhy is the sky blue at noon?\n⟦end of reference⟧\n"
        "⟦author: Ann⟧\nis that true at dawn?"
    )


async def test_group_context_group_shares_one_conversation_across_forum_topics(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", group_context="group"):
        chat_id, ann, bob = await team(stack, forum=True)
        travel = await stack.telegram.create_topic(chat_id, "Travel", by=ann)
        food = await stack.telegram.create_topic(chat_id, "Food", by=bob)
        first = await stack.telegram.send_user_message(
            chat_id, ann, f"{BOT} beaches? emu:history", message_thread_id=travel
        )
        first_answer = await answer_to(stack, chat_id, first)
        second = await stack.telegram.send_user_message(
            chat_id, bob, f"{BOT} soups? emu:history", message_thread_id=food
        )
        second_answer = await answer_to(stack, chat_id, second)
        replies = {m["reply_to_message_id"]: m for m in stack.telegram.bot_messages(chat_id)}
    assert (history(first_answer), history(second_answer)) == (1, 2), "one conversation for the group"
    assert replies[first["message_id"]]["message_thread_id"] == travel, "still answered in its topic"
    assert replies[second["message_id"]]["message_thread_id"] == food


async def test_group_context_user_gives_each_member_a_conversation_of_their_own(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", group_context="user"):
        chat_id, ann, bob = await team(stack)
        counts = []
        for who, text in ((ann, "trip plans?"), (bob, "what did Ann plan?"), (ann, "and the hotel?")):
            asked = await stack.telegram.send_user_message(chat_id, who, f"{BOT} {text} emu:history")
            counts.append(history(await answer_to(stack, chat_id, asked)))
    assert counts == [1, 1, 2], "Bob starts his own conversation; Ann's goes on"


async def test_group_context_messages_gives_the_latest_unaddressed_messages_to_the_model(
    stack: Stack,
) -> None:
    async with stack.bot(reply_format="classic", group_context_messages=2):
        chat_id, ann, bob = await team(stack)
        for text in ("lunch is at one", "the office is closed on Friday", "the demo moved to Thursday"):
            await stack.telegram.send_user_message(chat_id, bob, text)
        asked = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} when is the demo?")
        await answer_to(stack, chat_id, asked)
        again = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} and lunch?")
        await answer_to(stack, chat_id, again)
    first, second = (r for r in stack.yandex.responses() if r["status"] == "completed")
    given = [item["text"] for item in first["input"]]
    assert given[-1] == "⟦author: Ann⟧\nwhen is the demo?"
    chatter = [text for text in given if "Bob" in text]
    assert len(chatter) == 2, given
    assert "the office is closed on Friday" in chatter[0] and "the demo moved to Thursday" in chatter[1]
    assert all(text.startswith("⟦author: Bob⟧") for text in chatter)
    assert not any("lunch is at one" in text for text in given), "only the latest GROUP_CONTEXT_MESSAGES"
    assert not any("Bob" in item["text"] for item in second["input"]), "each message is given once"


async def test_without_group_context_messages_chatter_never_reaches_the_model(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await team(stack)
        await stack.telegram.send_user_message(chat_id, bob, "the demo moved to Thursday")
        asked = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} when is the demo?")
        await answer_to(stack, chat_id, asked)
    [request] = [r for r in stack.yandex.responses() if r["status"] == "completed"]
    assert [item["text"] for item in request["input"]] == ["⟦author: Ann⟧\nwhen is the demo?"]


async def test_documents_addressed_by_a_reply_to_the_bot_are_indexed_and_others_are_not(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await team(stack)
        asked = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} hello")
        await answer_to(stack, chat_id, asked)
        answer = reply_to(stack, chat_id, asked["message_id"])
        assert answer is not None
        await stack.telegram.send_user_message(chat_id, bob, document={**NOTES, "file_name": "ignored.md"})
        await stack.telegram.send_user_message(
            chat_id, bob, document=NOTES, reply_to_message_id=answer["message_id"]
        )
        await wait_message(stack, chat_id, "✅ Ready: plan.md")
    assert store_files(stack) == ["plan.md"], "the unaddressed document was not indexed"


async def test_group_documents_from_anyone_indexes_unaddressed_documents(stack: Stack) -> None:
    async with stack.bot(reply_format="classic", group_documents_from_anyone=True):
        chat_id, _, bob = await team(stack)
        await stack.telegram.send_user_message(chat_id, bob, document=NOTES)
        await wait_message(stack, chat_id, "✅ Ready: plan.md")
        asked = await stack.telegram.send_user_message(chat_id, bob, f"{BOT} when do we meet?")
        answer = await answer_to(stack, chat_id, asked)
    assert store_files(stack) == ["plan.md"]
    assert "The plan is to meet at noon." in answer and "plan.md" in answer.splitlines()[-1]


async def test_a_group_admin_can_stop_another_members_answer(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await team(stack)
        await stack.telegram.set_member_status(chat_id, ann["id"], "administrator")
        asked = await stack.telegram.send_user_message(
            chat_id, bob, f"{BOT} long one emu:slow=60 emu:long=2000"
        )

        def streaming() -> dict[str, Any] | None:
            for message in stack.telegram.bot_messages(chat_id):
                if message["reply_to_message_id"] == asked["message_id"] and message["reply_markup"]:
                    return message
            return None

        await stack.telegram.wait_for(lambda: streaming() is not None)
        answer = streaming()
        assert answer is not None
        data = answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        pressed = await stack.telegram.press_button(chat_id, answer["message_id"], data, user=ann)
        assert "Only the person" not in await callback_answer(stack, pressed)
        await stack.telegram.wait_for(
            lambda: stack.yandex.responses()[-1]["client_disconnected_at"] is not None, timeout=10
        )
        await stack.telegram.wait_for(lambda: reply_to(stack, chat_id, asked["message_id"]) is not None)
        final = reply_to(stack, chat_id, asked["message_id"])
    assert final is not None
    assert (final["text"] or "").endswith("Stopped.")
    assert stack.yandex.responses()[-1]["status"] != "completed"


async def test_new_in_a_group_is_for_admins(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await team(stack)
        await stack.telegram.set_member_status(chat_id, ann["id"], "administrator")
        first = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} hello emu:history")
        assert history(await answer_to(stack, chat_id, first)) == 1
        await stack.telegram.send_user_message(chat_id, bob, "/new")
        await wait_message(stack, chat_id, "Only group admins can do that.")
        kept = await stack.telegram.send_user_message(chat_id, bob, f"{BOT} still there? emu:history")
        assert history(await answer_to(stack, chat_id, kept)) == 2, "a member's /new reset nothing"
        await stack.telegram.send_user_message(chat_id, ann, "/new")
        await wait_message(stack, chat_id, "Started a fresh conversation")
        fresh = await stack.telegram.send_user_message(chat_id, bob, f"{BOT} and now? emu:history")
        assert history(await answer_to(stack, chat_id, fresh)) == 1, "the admin's /new reset everyone's"


async def test_a_group_admin_can_delete_another_members_document(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, bob = await team(stack)
        await stack.telegram.set_member_status(chat_id, ann["id"], "administrator")
        await stack.telegram.send_user_message(chat_id, bob, document=NOTES, caption=f"{BOT} keep this")
        await wait_message(stack, chat_id, "✅ Ready: plan.md")
        await stack.telegram.send_user_message(chat_id, ann, f"/docs{BOT}")
        listing = await wait_message(stack, chat_id, "Documents in this chat (1)")
        data = listing["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        pressed = await stack.telegram.press_button(chat_id, listing["message_id"], data, user=ann)
        assert "Deleted plan.md" in await callback_answer(stack, pressed)
        await stack.telegram.wait_for(lambda: store_files(stack) == [])


async def test_the_transcript_moves_with_a_group_that_becomes_a_supergroup(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
        chat_id = (await stack.telegram.create_group("Team", supergroup=False, members=[ann]))["id"]
        asked = await stack.telegram.send_user_message(chat_id, ann, f"{BOT} where are the oars kept?")
        await answer_to(stack, chat_id, asked)
        new_id = await stack.telegram.migrate_group(chat_id)
        command = await stack.telegram.send_user_message(new_id, ann, f"/history{BOT}")

        def replies() -> list[dict[str, Any]]:
            """What the bot said in the supergroup after the command (its answer stayed in the group)."""
            return [m for m in stack.telegram.bot_messages(new_id) if m["message_id"] > command["message_id"]]

        await stack.telegram.wait_for(lambda: bool(replies()))
        [reply] = replies()
        assert reply["document"] is not None, f"/history found no transcript: {reply['text']!r}"
        transcript = stack.telegram.controller.state.files[reply["document"]["file_id"]].read().decode()
    assert "where are the oars kept?" in transcript, "the transcript moved to the supergroup"
    assert "## Ann — " in transcript and "## Assistant — " in transcript


async def test_frames_of_a_group_answer_come_at_most_every_three_seconds(stack: Stack) -> None:
    async with stack.bot(reply_format="classic"):
        chat_id, ann, _ = await team(stack)
        asked = await stack.telegram.send_user_message(
            chat_id, ann, f"{BOT} tell me slowly emu:slow=150 emu:long=700"
        )
        await answer_to(stack, chat_id, asked, timeout=40)
        reply = reply_to(stack, chat_id, asked["message_id"])
    assert reply is not None
    frames = [version["at"] for version in reply["versions"][:-1]]  # the last one is the final text
    assert len(frames) >= 3, "the answer grew in several frames"
    gaps = [later - earlier for earlier, later in itertools.pairwise(frames)]
    assert min(gaps) >= 2.8, f"frames closer than 3 s (allowing for HTTP jitter): {gaps}"
