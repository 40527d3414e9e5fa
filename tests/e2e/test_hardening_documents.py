"""What an adversarial pass broke in documents and display (issue 11), end to end: provider errors
while indexing, index reclaiming after a group is gone, long and tricky file names, albums over the
limit, anonymous group admins, links and mentions the model repeats."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import redis.asyncio as aioredis

from tests.e2e.harness import Stack
from tests.e2e.settling import until_idle
from tests.e2e.test_hardening import (
    BOT,
    answered,
    buttons,
    docs_listing,
    make_group,
    message_by_id,
    texts_of,
    wait_message,
)

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def markdown_doc(name: str, text: str = "The ferry leaves at noon.") -> dict[str, Any]:
    return {"file_name": name, "mime_type": "text/markdown", "content": text.encode()}


async def private_chat(stack: Stack, name: str = "Alice") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user(name)
    return user, (await stack.telegram.create_private_chat(user))["id"]


# -- 3. provider errors while indexing ------------------------------------------------------------


async def test_a_transient_upload_error_is_retried(stack: Stack) -> None:
    user, chat_id = await private_chat(stack)
    async with stack.bot():
        stack.yandex.inject_faults(1, 503, ["/v1/files"])
        await stack.telegram.send_user_message(chat_id, user, document=markdown_doc("notes.md"))
        await wait_message(stack, chat_id, "✅ Ready: notes.md")
        stack.yandex.inject_faults(1, 502, ["/v1/vector_stores"])
        await stack.telegram.send_user_message(chat_id, user, document=markdown_doc("more.md"))
        await wait_message(stack, chat_id, "✅ Ready: more.md")
    assert sorted(f["filename"] for f in stack.yandex.vector_stores()[0]["files"]) == ["more.md", "notes.md"]


async def test_a_document_that_finally_fails_says_why_and_leaves_no_file_behind(stack: Stack) -> None:
    user, chat_id = await private_chat(stack)
    async with stack.bot():
        stack.yandex.inject_faults(50, 500, ["/v1/vector_stores"])
        await stack.telegram.send_user_message(chat_id, user, document=markdown_doc("notes.md"))
        failed = await wait_message(stack, chat_id, "❌ Could not index notes.md", timeout=30)
        stack.yandex.state.faults.clear()
        assert failed["versions"][0]["text"].startswith("📥 Received"), "the status message is edited"
        listing = await docs_listing(stack, chat_id, user)
    assert "failed" in listing["text"] and "indexing" not in listing["text"]
    assert stack.yandex.state.files == {}, "the uploaded file of the failed document was deleted"


async def test_nothing_stays_indexing_past_the_index_timeout(stack: Stack) -> None:
    user, chat_id = await private_chat(stack)
    async with stack.bot(index_timeout_seconds=2):
        stack.yandex.inject_delays(1, 30, ["/v1/files"])  # the upload hangs
        await stack.telegram.send_user_message(chat_id, user, document=markdown_doc("notes.md"))
        await wait_message(stack, chat_id, "❌ Could not index notes.md", timeout=8)
        listing = await docs_listing(stack, chat_id, user)
    assert "failed" in listing["text"] and "indexing" not in listing["text"]


# -- 4. index reclaiming after a group's state expired ---------------------------------------------


async def test_reclaiming_skips_chats_whose_state_expired_and_their_entries_leave(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    activity = f"yab:{stack.telegram.config.bot_id}:kb-activity"
    group_id, (ann,) = await make_group(stack, "Ann")
    bob, bob_chat = await private_chat(stack, "Bob")
    carol, carol_chat = await private_chat(stack, "Carol")
    stack.yandex.config.vector_store_quota = 2
    async with stack.bot(reclaim_idle_indexes=True, group_state_retention_days=1):
        await stack.telegram.send_user_message(
            group_id, ann, document=markdown_doc("group.md"), caption=f"{BOT} keep"
        )
        await wait_message(stack, group_id, "✅ Ready")
        await stack.telegram.send_user_message(bob_chat, bob, document=markdown_doc("bob.md"))
        await wait_message(stack, bob_chat, "✅ Ready")
        await stack.telegram.remove_bot(group_id, by=ann)
        group_keys = [k.decode() for k in await redis_client.keys(f"*:{group_id}:t*")]

        async def expiring() -> bool:
            ttls = [await redis_client.ttl(k) for k in group_keys]
            return bool(ttls) and all(0 < t <= 86400 for t in ttls)

        for _ in range(100):
            if await expiring():
                break
            await asyncio.sleep(0.05)
        assert await expiring()
        # A day passes: Redis drops the group's state, as its TTLs say.
        await redis_client.delete(*group_keys)

        await stack.telegram.send_user_message(carol_chat, carol, document=markdown_doc("carol.md"))
        await wait_message(stack, carol_chat, "✅ Ready: carol.md")
        members = [m.decode() for m in await redis_client.zrange(activity, 0, -1)]
    assert not any(m.startswith(f"{group_id}:") for m in members), members
    assert members == [f"{carol_chat}:t0"], "Bob's index was reclaimed for Carol; the group's entry left"


# -- 5. long file names ------------------------------------------------------------------------------


def long_name(number: int, length: int) -> str:
    stem = f"{number:02d}-" + "quarterly-financial-report-of-the-northern-division-" * 20
    return stem[: length - 3] + ".md"


async def test_long_file_names_in_docs_and_albums(stack: Stack) -> None:
    user, chat_id = await private_chat(stack)
    other, other_chat = await private_chat(stack, "Bob")

    def ready_messages(chat: int) -> int:
        return sum("✅ Ready" in t for t in texts_of(stack, chat))

    def ready_count_is(chat: int, count: int) -> bool:
        return ready_messages(chat) == count

    def listing_text(message_id: int) -> str:
        return str(message_by_id(stack, chat_id, message_id)["text"])

    async with stack.bot():
        for first in (0, 10):
            album = [markdown_doc(long_name(n, 170), f"Fact number {n}.") for n in range(first, first + 10)]
            await stack.telegram.send_media_group(chat_id, user, album)
            await stack.telegram.wait_for(
                functools.partial(ready_count_is, chat_id, first // 10 + 1), timeout=20
            )
        listing = await docs_listing(stack, chat_id, user)
        pages = [listing["text"]]
        while next_page := [data for data in buttons(message_by_id(stack, chat_id, listing["message_id"]))
                            if data.startswith("docs:page:") and int(data.rsplit(":", 1)[1]) == len(pages)]:  # fmt: skip
            pressed = await stack.telegram.press_button(
                chat_id, listing["message_id"], next_page[0], user=user
            )
            await answered(stack, pressed)
            await stack.telegram.wait_for(lambda: listing_text(listing["message_id"]) not in pages)
            pages.append(listing_text(listing["message_id"]))

        # An album whose names alone would exceed a message, and one whose status message fails.
        huge = [markdown_doc(long_name(n, 450)) for n in range(10)]
        await stack.telegram.send_media_group(other_chat, other, huge)
        await stack.telegram.wait_for(lambda: ready_messages(other_chat) == 1, timeout=20)
        stack.telegram.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
        await stack.telegram.send_media_group(other_chat, other, [markdown_doc("a.md"), markdown_doc("b.md")])
        await stack.telegram.wait_for(
            lambda: any("a.md" in t and "Ready" in t for t in texts_of(stack, other_chat)), timeout=20
        )
    listed = "\n".join(pages)
    assert len(pages) >= 2, "the listing is paginated"
    for number in range(20):
        assert f"\n{number + 1}. {number:02d}-quarterly" in listed, f"document {number + 1} is listed"
    assert all(len(line) <= 160 for page in pages for line in page.splitlines()), "names are shortened"


async def test_an_album_over_the_limit_says_how_many_were_not_added_and_names_lose_bidi_controls(
    stack: Stack,
) -> None:
    user, chat_id = await private_chat(stack)
    async with stack.bot(max_documents_per_chat=2):
        album = [markdown_doc(name) for name in ("one.md", "two.md", "three.md", "four.md")]
        await stack.telegram.send_media_group(chat_id, user, album)
        refusal = await wait_message(stack, chat_id, "three.md")
        await wait_message(stack, chat_id, "✅ Ready")
        await stack.telegram.send_user_message(
            chat_id, user, document=markdown_doc("report\u202edm.exe\u202c.md")
        )
        over = await wait_message(stack, chat_id, "report")
    text = refusal["text"]
    assert "already has 2" not in text, text
    assert "2 of the 4" in text and "four.md" in text and "at most 2" in text, text
    assert not any(char in over["text"] for char in BIDI), over["text"]
    assert not any(char in t for t in texts_of(stack, chat_id) for char in BIDI)


# -- anonymous group admins ---------------------------------------------------------------------------


async def test_anonymous_admins_are_admins(stack: Stack) -> None:
    group_id, (ann, bob) = await make_group(stack, "Ann", "Bob")
    async with stack.bot(reply_format="classic"):
        await stack.telegram.send_user_message(group_id, ann, "/new", anonymous=True)
        await wait_message(stack, group_id, "Started a fresh conversation")
        await stack.telegram.send_user_message(group_id, bob, "/new")
        await wait_message(stack, group_id, "Only group admins")
        await stack.telegram.send_user_message(group_id, ann, f"{BOT} who am I? emu:echo", anonymous=True)
        await wait_message(stack, group_id, "who am I?")
    assert not any("went wrong" in t for t in texts_of(stack, group_id))
    assert [
        c for c in stack.telegram.calls("getChatMember") if c["params"].get("user_id") == 1087968824
    ] == []


# -- links and mentions in the model's output -----------------------------------------------------------


async def test_tg_links_and_mentions_from_the_model_are_plain_text(stack: Stack) -> None:
    question = "see [Ann](tg://user?id=700000001) and @ann_admin and [chat](tg://resolve?domain=x) emu:echo"
    for reply_format in ("classic", "rich"):
        user, chat_id = await private_chat(stack, f"User {reply_format}")
        async with stack.bot(reply_format=reply_format, private_streaming="edit") as app:
            await stack.telegram.send_user_message(chat_id, user, question)
            await stack.telegram.wait_for(
                lambda: [r["status"] for r in stack.yandex.responses()[-1:]] == ["completed"]
            )
            answer = await wait_message(stack, chat_id, "see")
            await until_idle(stack, app)  # the answer's job ends once its final text replaced the last frame
        answer = message_by_id(stack, chat_id, answer["message_id"])
        assert len(answer["versions"]) >= 2 or reply_format == "rich"
        assert "Ann" in (answer["text"] or answer["rich_markdown"]), "the link text stays"
        for version in answer["versions"]:
            shown = version["text"] or version["rich_markdown"] or ""
            assert "tg://" not in shown, shown
            assert "@ann_admin" not in shown, "a mention the model repeats is never live"
            assert not [e for e in version["entities"] if str(e.get("url", "")).startswith("tg:")]
            assert not [e for e in version["entities"] if e["type"] in ("mention", "text_mention")]
