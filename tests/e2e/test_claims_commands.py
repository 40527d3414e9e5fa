"""README "Commands" and "Settings per chat": /docs ten documents a page with ◀ ▶ and a delete button
each, and an anonymous group admin (posting as the group) changing the chat's settings while a member
cannot. End to end: the real bot against the Telegram fake and the Yandex emulator."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.harness import Stack


def markdown_doc(name: str) -> dict[str, Any]:
    return {"file_name": name, "mime_type": "text/markdown", "content": f"Notes of {name}.".encode()}


def keyboard(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message["reply_markup"] or {}).get("inline_keyboard", [])
    return [
        (button["text"], button["callback_data"])
        for row in rows
        for button in row
        if "callback_data" in button
    ]


def texts_of(stack: Stack, chat_id: int) -> list[str]:
    return [m["text"] or "" for m in stack.telegram.bot_messages(chat_id)]


def numbered(text: str) -> list[int]:
    return [int(number) for number in re.findall(r"^(\d+)\. ", text, re.MULTILINE)]


async def test_docs_lists_ten_documents_a_page_with_arrows_and_a_delete_button_each(stack: Stack) -> None:
    user = await stack.telegram.create_user("Alice", language_code="en")
    chat_id = int((await stack.telegram.create_private_chat(user))["id"])
    async with stack.bot():
        await stack.telegram.send_media_group(
            chat_id, user, [markdown_doc(f"note{n:02d}.md") for n in range(10)]
        )
        await stack.telegram.wait_for(
            lambda: sum("✅" in t for t in texts_of(stack, chat_id)) == 1, timeout=30
        )
        await stack.telegram.send_user_message(chat_id, user, document=markdown_doc("note10.md"))
        await stack.telegram.wait_for(
            lambda: sum("✅" in t for t in texts_of(stack, chat_id)) == 2, timeout=30
        )
        await stack.telegram.send_user_message(chat_id, user, "/docs")
        await stack.telegram.wait_for(
            lambda: any("Documents in this chat" in t for t in texts_of(stack, chat_id))
        )
        listing = next(
            m for m in stack.telegram.bot_messages(chat_id) if "Documents in this chat" in (m["text"] or "")
        )
        first_page, first_buttons = listing["text"], keyboard(listing)
        [(forward, page_data)] = [
            (text, data) for text, data in first_buttons if data.startswith("docs:page:")
        ]
        await stack.telegram.press_button(chat_id, listing["message_id"], page_data, user=user)

        def current() -> dict[str, Any]:
            return next(
                m for m in stack.telegram.bot_messages(chat_id) if m["message_id"] == listing["message_id"]
            )

        await stack.telegram.wait_for(lambda: current()["text"] != first_page)
        second_page, second_buttons = current()["text"], keyboard(current())
    assert numbered(first_page) == list(range(1, 11))
    assert sum(data.startswith("doc:del:") for _, data in first_buttons) == 10
    assert "▶" in forward
    assert numbered(second_page) == [11] and "note" in second_page
    assert sum(data.startswith("doc:del:") for _, data in second_buttons) == 1
    assert [text for text, data in second_buttons if data.startswith("docs:page:")] == ["◀"]


async def test_an_anonymous_admin_changes_the_groups_settings_and_a_member_cannot(stack: Stack) -> None:
    ann = await stack.telegram.create_user("Ann", language_code="en")
    bob = await stack.telegram.create_user("Bob", language_code="en")
    group = (await stack.telegram.create_group("Team", supergroup=True, members=[ann, bob]))["id"]
    await stack.telegram.set_member_status(group, ann["id"], "administrator")
    async with stack.bot():
        await stack.telegram.wait_for(lambda: any(t.startswith("Hi!") for t in texts_of(stack, group)))
        before = len(texts_of(stack, group))  # the greeting on being added
        await stack.telegram.send_user_message(group, bob, "/format rich")
        await stack.telegram.wait_for(lambda: len(texts_of(stack, group)) == before + 1)
        await stack.telegram.send_user_message(group, ann, "/format rich", anonymous=True)
        await stack.telegram.wait_for(lambda: len(texts_of(stack, group)) == before + 2)
        await stack.telegram.send_user_message(group, bob, "/format")
        await stack.telegram.wait_for(lambda: len(texts_of(stack, group)) == before + 3)
    refused, changed, shown = texts_of(stack, group)[before:]
    assert refused.startswith("Only group admins can change"), refused
    assert "rich messages" in changed, changed
    assert shown.startswith("Reply format: rich"), shown
