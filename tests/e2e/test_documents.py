"""Documents end to end: a chat's own knowledge base, cited answers, management, expiry and quota."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Stack, final_texts

FACT = "The lighthouse keeper on Kestrel Island is named Oswin Varga."
NOTES = f"# Island notes\n\nThe island has three beaches.\n\n{FACT}\n\nFerries leave twice a day.\n".encode()
QUESTION = "Who is the lighthouse keeper on Kestrel Island?"


async def private_chat(stack: Stack, name: str = "Alice", language: str = "en") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user(name, language_code=language)
    chat = await stack.telegram.create_private_chat(user)
    return user, chat["id"]


def markdown_doc(name: str = "island-notes.md", content: bytes = NOTES) -> dict[str, Any]:
    return {"file_name": name, "mime_type": "text/markdown", "content": content}


async def wait_text(stack: Stack, chat_id: int, needle: str, timeout: float = 15.0) -> str:
    def found() -> bool:
        return any(needle in t for t in final_texts(stack.telegram, chat_id))

    await stack.telegram.wait_for(found, timeout=timeout)
    return next(t for t in reversed(final_texts(stack.telegram, chat_id)) if needle in t)


async def index_notes(
    stack: Stack, chat_id: int, user: dict[str, Any], name: str = "island-notes.md"
) -> None:
    await stack.telegram.send_user_message(chat_id, user, document=markdown_doc(name))
    await wait_text(stack, chat_id, f"✅ Ready: {name}")


async def ask(stack: Stack, chat_id: int, user: dict[str, Any], question: str) -> str:
    before = len(final_texts(stack.telegram, chat_id))
    await stack.telegram.send_user_message(chat_id, user, question)
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) > before)
    await stack.telegram.wait_for(
        lambda: any(r["status"] in ("completed", "failed") for r in stack.yandex.responses()[-1:])
    )
    await stack.telegram.wait_for(
        lambda: len(stack.telegram.drafts(chat_id)) == 0 or final_texts(stack.telegram, chat_id)[-1] != ""
    )
    return final_texts(stack.telegram, chat_id)[-1]


def yes_data(prompt: dict[str, Any]) -> str:
    """The /forget prompt's "yes" button (its data names the documents the prompt counted)."""
    return str(prompt["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


async def test_indexed_document_is_quoted_and_cited_and_other_chats_do_not_see_it(stack: Stack) -> None:
    async with stack.bot():
        alice, alice_chat = await private_chat(stack, "Alice")
        bob, bob_chat = await private_chat(stack, "Bob")
        await stack.telegram.send_user_message(alice_chat, alice, document=markdown_doc())
        await wait_text(stack, alice_chat, "✅ Ready: island-notes.md")
        assert stack.telegram.bot_messages(alice_chat)[0]["versions"][0]["text"].startswith(
            "📥 Received island-notes.md"
        )

        await stack.telegram.send_user_message(alice_chat, alice, QUESTION)
        answer = await wait_text(stack, alice_chat, "Oswin Varga")
        assert answer.rstrip().endswith("island-notes.md")
        assert "Sources" in answer.splitlines()[-1]

        await stack.telegram.send_user_message(bob_chat, bob, QUESTION)
        await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, bob_chat)) == 1, timeout=15)
        bob_answer = final_texts(stack.telegram, bob_chat)[0]
    assert "Oswin Varga" not in bob_answer
    assert "island-notes.md" not in bob_answer
    alice_store = stack.yandex.vector_stores()[0]["id"]
    # Alice asked first, then Bob: one request each (no retries were needed).
    alice_request, bob_request = [r for r in stack.yandex.responses() if QUESTION in r["input_text"]]
    alice_stores = [s for tool in alice_request["tools"] or [] for s in tool.get("vector_store_ids", [])]
    assert alice_stores == [alice_store], "Alice's question searches her index, and only hers"
    assert not bob_request["tools"], "a chat without documents never searches any index"


async def test_album_is_one_batch_with_one_status_message(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_media_group(
            chat_id,
            user,
            [
                markdown_doc("one.md", b"# One\n\nAlpha facts live here."),
                markdown_doc("two.md", b"# Two\n\nBeta facts live here."),
                {"file_name": "three.txt", "mime_type": "text/plain", "content": b"Gamma facts live here."},
            ],
        )
        ready = await wait_text(stack, chat_id, "✅ Ready")
    assert ready.startswith("✅ Ready: one.md, two.md, three.txt")
    statuses = [m for m in stack.telegram.bot_messages(chat_id) if "📥" in (m["versions"][0]["text"] or "")]
    assert len(statuses) == 1
    stores = stack.yandex.vector_stores()
    assert len(stores) == 1
    assert sorted(f["filename"] for f in stores[0]["files"]) == ["one.md", "three.txt", "two.md"]


async def test_unsupported_and_oversized_files_are_refused_with_reason_and_limit(stack: Stack) -> None:
    async with stack.bot(max_document_mb=1):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "photo.jpg", "mime_type": "image/jpeg", "content": b"\xff\xd8"},
        )
        refusal = await wait_text(stack, chat_id, "photo.jpg")
        assert "not supported" in refusal and "PDF" in refusal and "MD" in refusal
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "huge.pdf", "mime_type": "application/pdf", "size": 5 * 1024 * 1024},
        )
        too_big = await wait_text(stack, chat_id, "huge.pdf")
        assert "5.0 MB" in too_big and "1.0 MB" in too_big
    assert stack.yandex.vector_stores() == []
    assert not any(c["method"] == "getFile" for c in stack.telegram.calls())


async def test_a_file_over_telegrams_download_limit_is_refused_before_download(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack, language="ru")
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "big.pdf", "mime_type": "application/pdf", "size": 25 * 1024 * 1024},
        )
        refusal = await wait_text(stack, chat_id, "big.pdf")
    assert "25.0 MB" in refusal and "20.0 MB" in refusal
    assert refusal.startswith("Не могу проиндексировать")


async def test_indexing_failure_is_reported_to_the_user(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "broken.txt", "mime_type": "text/plain", "content": b"emu:unreadable"},
        )
        failure = await wait_text(stack, chat_id, "❌")
    assert failure == "❌ Could not index broken.txt: its content could not be read"


async def test_docs_lists_and_deletes_and_forget_removes_everything(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await index_notes(stack, chat_id, user, "a.md")
        await index_notes(stack, chat_id, user, "b.md")
        await stack.telegram.send_user_message(chat_id, user, "/docs")
        listing = await wait_text(stack, chat_id, "Documents in this chat (2)")
        assert "a.md — ready" in listing and "b.md — ready" in listing
        message = stack.telegram.bot_messages(chat_id)[-1]
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        delete_a = next(b for b in buttons if "a.md" in b["text"])
        await stack.telegram.press_button(
            chat_id, message["message_id"], delete_a["callback_data"], user=user
        )
        await wait_text(stack, chat_id, "Documents in this chat (1)")
        assert [f["filename"] for f in stack.yandex.vector_stores()[0]["files"]] == ["b.md"]

        await stack.telegram.send_user_message(chat_id, user, "/forget")
        await wait_text(stack, chat_id, "Delete all 1 documents")
        confirm = stack.telegram.bot_messages(chat_id)[-1]
        await stack.telegram.press_button(chat_id, confirm["message_id"], yes_data(confirm), user=user)
        await wait_text(stack, chat_id, "Deleted 1 documents and the search index")
        await stack.telegram.send_user_message(chat_id, user, "/docs")
        await wait_text(stack, chat_id, "No documents in this chat yet")
    assert stack.yandex.vector_stores() == []


async def test_delete_buttons_act_only_within_their_own_chat(stack: Stack) -> None:
    async with stack.bot():
        alice, alice_chat = await private_chat(stack, "Alice")
        mallory, mallory_chat = await private_chat(stack, "Mallory")
        await index_notes(stack, alice_chat, alice, "alice.md")
        await index_notes(stack, mallory_chat, mallory, "mallory.md")
        await stack.telegram.send_user_message(mallory_chat, mallory, "/docs")
        await wait_text(stack, mallory_chat, "Documents in this chat (1)")
        listing = stack.telegram.bot_messages(mallory_chat)[-1]
        data = listing["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await stack.telegram.press_button(mallory_chat, listing["message_id"], data, user=mallory)
        await wait_text(stack, mallory_chat, "No documents in this chat yet")
    stores = stack.yandex.vector_stores()
    assert [[f["filename"] for f in s["files"]] for s in stores] == [["alice.md"]]


async def test_an_expired_index_is_rebuilt_from_telegram_file_ids(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await index_notes(stack, chat_id, user)
        old_store = stack.yandex.vector_stores()[0]["id"]
        stack.yandex.expire(old_store)
        await stack.telegram.send_user_message(chat_id, user, QUESTION)
        await wait_text(stack, chat_id, "re-indexing")
        answer = await wait_text(stack, chat_id, "Oswin Varga", timeout=20)
    assert "island-notes.md" in answer
    live = [s for s in stack.yandex.vector_stores() if s["status"] != "expired"]
    assert len(live) == 1 and live[0]["id"] != old_store
    assert len([c for c in stack.telegram.calls("getFile")]) == 2, "downloaded again from Telegram"


async def test_quota_refusal_is_explained(stack: Stack) -> None:
    stack.yandex.config.vector_store_quota = 0
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(chat_id, user, document=markdown_doc())
        failure = await wait_text(stack, chat_id, "❌")
    assert "limit of indexes is reached" in failure


async def test_later_documents_join_through_the_documented_batch_form_with_yandex_types(stack: Stack) -> None:
    """Second and third documents go through `file_batches` with `files[]`, each with the chat's
    chunking; `.xml` and `.md` are uploaded with types from Yandex's list whatever Telegram declared."""
    async with stack.bot(chunk_size_tokens=300, chunk_overlap_tokens=100):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "notes.md", "mime_type": "text/x-markdown", "content": NOTES},
        )
        await wait_text(stack, chat_id, "✅ Ready: notes.md")
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={
                "file_name": "ferries.xml",
                "mime_type": "application/xml",
                "content": b"<ferries><rule>The last ferry leaves at nine in the evening.</rule></ferries>",
            },
        )
        await wait_text(stack, chat_id, "✅ Ready: ferries.xml")
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "tides.txt", "mime_type": "text/plain", "content": b"Tides peak at noon."},
        )
        await wait_text(stack, chat_id, "✅ Ready: tides.txt")
        answer = await ask(stack, chat_id, user, "When does the last ferry leave?")
    assert "nine in the evening" in answer and "ferries.xml" in answer
    [store] = stack.yandex.vector_stores()
    files = {entry["filename"]: entry for entry in store["files"]}
    assert {name: entry["status"] for name, entry in files.items()} == {
        "notes.md": "completed",
        "ferries.xml": "completed",
        "tides.txt": "completed",
    }
    assert {name: entry["mime_type"] for name, entry in files.items()} == {
        "notes.md": "text/markdown",
        "ferries.xml": "text/xml",
        "tides.txt": "text/plain",
    }
    chat_chunking = {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 100}
    assert all(entry["chunking_strategy"]["static"] == chat_chunking for entry in files.values())
