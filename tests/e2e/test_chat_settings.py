"""Per-chat settings end to end: /settings buttons and commands, the model switch starting a new chain,
rich or classic replies, web search with linked sources, the chat's instructions, who may change what.

The real bot polls the Telegram fake, the real openai client talks to the Yandex emulator (which here
serves two models, each naming itself in its answers), settings live in the real Redis."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.core.authors import with_author_note
from bot.errors import StartupError
from tests.e2e.harness import Stack, final_texts

BOT = "@test_assistant_bot"
STALE = "This button no longer works here. Send the command again."  # forged or stale presses
PRO = "yandexgpt/latest"
LITE = "yandexgpt-lite/latest"
MODELS = f"{PRO},{LITE}"
NOTES = b"# Ferry notes\n\nThe ferry to Kestrel Island leaves at nine.\n"


def serve_two_models(stack: Stack) -> None:
    stack.yandex.config.models = (PRO, LITE)


def uri(stack: Stack, model: str) -> str:
    return f"gpt://{stack.folder_id}/{model}"


def responses(stack: Stack) -> list[dict[str, Any]]:
    return stack.yandex.responses(limit=200)


def finished(stack: Stack, count: int) -> bool:
    done = [r for r in responses(stack) if r["status"] in ("completed", "failed", "cancelled")]
    return len(done) >= count


async def private_chat(stack: Stack, name: str = "Alice") -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user(name, language_code="en")
    chat = await stack.telegram.create_private_chat(user)
    return user, chat["id"]


async def ask(
    stack: Stack, chat_id: int, user: dict[str, Any], question: str, **where: Any
) -> dict[str, Any]:
    """Ask; once the model's response is finished, the bot's new message that holds its answer whole."""
    asked = len(responses(stack))
    before = {m["message_id"] for m in stack.telegram.bot_messages(chat_id)}
    await stack.telegram.send_user_message(chat_id, user, question, **where)
    await stack.telegram.wait_for(functools.partial(finished, stack, asked + 1), timeout=20)
    opening = responses(stack)[asked]["output_text"][:40]  # quotes the question: unique per question

    def answer() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in stack.telegram.bot_messages(chat_id)
                if m["message_id"] not in before
                and not m["reply_markup"]  # groups: the Stop button goes with the final edit
                and opening in (m["rich_markdown"] or m["text"] or "")
            ),
            None,
        )

    await stack.telegram.wait_for(lambda: answer() is not None, timeout=20)
    found = answer()
    assert found is not None
    return found


async def command(
    stack: Stack, chat_id: int, user: dict[str, Any], text: str, expect: str, **where: Any
) -> dict[str, Any]:
    """Send a command; the bot's reply containing `expect`."""
    await stack.telegram.send_user_message(chat_id, user, text, **where)

    def reply() -> dict[str, Any] | None:
        return next(
            (m for m in reversed(stack.telegram.bot_messages(chat_id)) if expect in (m["text"] or "")), None
        )

    await stack.telegram.wait_for(lambda: reply() is not None)
    found = reply()
    assert found is not None
    return found


async def open_settings(stack: Stack, chat_id: int, user: dict[str, Any], **where: Any) -> dict[str, Any]:
    before = {m["message_id"] for m in stack.telegram.bot_messages(chat_id)}
    await stack.telegram.send_user_message(chat_id, user, "/settings", **where)

    def panel() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in stack.telegram.bot_messages(chat_id)
                if m["message_id"] not in before and (m["text"] or "").startswith("⚙️")
            ),
            None,
        )

    await stack.telegram.wait_for(lambda: panel() is not None)
    found = panel()
    assert found is not None
    return found


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """callback_data → button text."""
    rows = (message["reply_markup"] or {}).get("inline_keyboard", [])
    return {button["callback_data"]: button["text"] for row in rows for button in row}


def message_by_id(stack: Stack, chat_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in stack.telegram.bot_messages(chat_id) if m["message_id"] == message_id)


async def press(
    stack: Stack,
    chat_id: int,
    panel: dict[str, Any],
    data: str,
    user: dict[str, Any],
    *,
    forged: bool = False,
) -> str:
    """Press a settings button; the text of the callback's answer."""
    if forged:  # data no button of the message carries, as a modified client can send
        query_id = await stack.telegram.forge_callback(chat_id, panel["message_id"], data, user=user)
    else:
        query_id = await stack.telegram.press_button(chat_id, panel["message_id"], data, user=user)

    def answer() -> dict[str, Any] | None:
        record = next(a for a in stack.telegram.callback_answers() if a["callback_query_id"] == query_id)
        given: dict[str, Any] | None = record["answer"]
        return given

    await stack.telegram.wait_for(lambda: answer() is not None)
    return str((answer() or {}).get("text") or "")


def text_links(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(link text, url) of each text_link entity of a classic message (offsets in UTF-16 units)."""
    text = message["text"] or ""
    units = text.encode("utf-16-le")
    return [
        (units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le"), e["url"])
        for e in message["entities"]
        if e["type"] == "text_link"
    ]


async def test_a_model_chosen_by_button_gets_a_new_chain_with_the_recent_turns_and_survives_a_restart(
    stack: Stack,
) -> None:
    serve_two_models(stack)
    async with stack.bot(yc_models=MODELS):
        user, chat_id = await private_chat(stack)
        first = await ask(stack, chat_id, user, "remember the word heron emu:history")
        assert "Model: yandexgpt/latest." in (first["text"] or "")
        panel = await open_settings(stack, chat_id, user)
        choices = buttons(panel)
        assert choices[f"st:m:{PRO}"] == "✅ YandexGPT Pro 5"
        assert choices[f"st:m:{LITE}"] == "YandexGPT Lite 5", "human names, the current one marked"
        assert await press(stack, chat_id, panel, f"st:m:{LITE}", user) == (
            "Model: YandexGPT Lite 5. A new conversation chain starts with the next message; "
            "the recent messages carry over."
        )
        await stack.telegram.wait_for(
            lambda: (
                buttons(message_by_id(stack, chat_id, panel["message_id"])).get(f"st:m:{LITE}")
                == "✅ YandexGPT Lite 5"
            )
        )
        updated = message_by_id(stack, chat_id, panel["message_id"])
        assert (
            "Model: YandexGPT Lite 5" in updated["text"]
            and "A new conversation chain starts" in updated["text"]
        )

        second = await ask(stack, chat_id, user, "what was the word? emu:history")
        third = await ask(stack, chat_id, user, "and again? emu:history")
    records = responses(stack)
    assert records[0]["model"] == uri(stack, PRO)
    assert records[1]["model"] == uri(stack, LITE), "the next question uses the chosen model's URI"
    assert records[1]["previous_response_id"] is None, "…in a new chain"
    assert "history=2" in (second["text"] or ""), "…that carries the earlier turns over"
    assert "Model: yandexgpt-lite/latest." in (second["text"] or "")
    assert records[2]["previous_response_id"] == records[1]["id"], "the new chain goes on"
    assert "history=3" in (third["text"] or "")

    async with stack.bot(yc_models=MODELS):
        await ask(stack, chat_id, user, "after a restart emu:history")
    after = responses(stack)[-1]
    assert after["model"] == uri(stack, LITE), "the choice survives a restart"
    assert after["previous_response_id"] == records[2]["id"]
    assert stack.telegram.violations() == []


async def test_model_command_names_models_and_refuses_unknown_ones(stack: Stack) -> None:
    serve_two_models(stack)
    async with stack.bot(yc_models=MODELS):
        user, chat_id = await private_chat(stack)
        listing = await command(stack, chat_id, user, "/model", "Available:")
        assert "YandexGPT Pro 5 (yandexgpt/latest)" in listing["text"]
        assert "YandexGPT Lite 5 (yandexgpt-lite/latest)" in listing["text"]
        await command(stack, chat_id, user, "/model gpt-5", "There is no model “gpt-5” here.")
        await command(stack, chat_id, user, "/model yandexgpt lite 5", "Model: YandexGPT Lite 5. A new")
        await ask(stack, chat_id, user, "which model?")
    assert responses(stack)[-1]["model"] == uri(stack, LITE)


async def test_reply_format_rich_by_button_and_classic_for_new_chats(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        classic = await ask(stack, chat_id, user, "a classic answer")
        assert classic["rich_markdown"] is None and classic["text"], "classic is the default"
        panel = await open_settings(stack, chat_id, user)
        assert "Reply format: classic" in panel["text"]
        assert buttons(panel)["st:f:classic"].startswith("✅")
        assert "rich messages" in await press(stack, chat_id, panel, "st:f:rich", user)
        rich = await ask(stack, chat_id, user, "a rich answer")
        assert rich["rich_markdown"] == responses(stack)[-1]["output_text"], "now a rich message"

        other, other_chat = await private_chat(stack, "Bob")
        fresh = await ask(stack, other_chat, other, "a new chat")
        assert fresh["rich_markdown"] is None and fresh["text"], "a new chat gets classic"
        await command(stack, other_chat, other, "/format", "Reply format: classic.")
        await command(stack, other_chat, other, "/format html", "Write /format classic or /format rich.")
    async with stack.bot():
        after_restart = await ask(stack, chat_id, user, "still rich?")
    assert after_restart["rich_markdown"] == responses(stack)[-1]["output_text"], "still a rich message"


async def test_web_search_carries_the_tool_and_links_its_sources_after_the_documents(stack: Stack) -> None:
    async with stack.bot(
        web_search="allowed", web_search_domains="news.example.com", web_search_region="213"
    ):
        user, chat_id = await private_chat(stack)
        await ask(stack, chat_id, user, "before web search")
        assert responses(stack)[-1]["tools"] == [], "allowed is off until the chat turns it on"
        panel = await open_settings(stack, chat_id, user)
        assert "Web search: off" in panel["text"]
        assert "Web search is on" in await press(stack, chat_id, panel, "st:w:on", user)
        answer = await ask(stack, chat_id, user, "what is new today?")
        record = responses(stack)[-1]
        assert record["tools"] == [
            {
                "type": "web_search",
                "filters": {"allowed_domains": ["news.example.com"]},
                "user_location": {"region": "213"},
            }
        ]
        url = record["citations"][0]["url"]
        assert url.startswith("https://news.example.com/")
        assert text_links(answer) == [("news.example.com", url)], "the source as a link named by its domain"
        assert "](" not in answer["text"], "classic messages carry links as entities, never as Markdown"

        await stack.telegram.send_user_message(
            chat_id, user, document={"file_name": "ferry.md", "mime_type": "text/markdown", "content": NOTES}
        )
        await stack.telegram.wait_for(
            lambda: any("✅ Ready: ferry.md" in t for t in final_texts(stack.telegram, chat_id))
        )
        both = await ask(stack, chat_id, user, "When does the ferry to Kestrel Island leave?")
        record = responses(stack)[-1]
        assert [tool["type"] for tool in record["tools"]] == ["file_search", "web_search"]
        footer = both["text"].rsplit("\n", 1)[-1]
        assert footer.index("ferry.md") < footer.index("news.example.com"), "web sources after documents"

        await command(stack, chat_id, user, "/websearch off", "Web search is off.")
        await ask(stack, chat_id, user, "and without the web?")
    assert [tool["type"] for tool in responses(stack)[-1]["tools"]] == ["file_search"]


async def test_at_most_five_web_sources_are_listed(stack: Stack) -> None:
    async with stack.bot(web_search="on"):
        user, chat_id = await private_chat(stack)
        answer = await ask(stack, chat_id, user, "many sources emu:web=7")
    cited = [c["url"] for c in responses(stack)[-1]["citations"]]
    assert len(cited) == 7
    assert [url for _, url in text_links(answer)] == cited[:5], "WEB_SEARCH=on: on by default, 5 at most"


async def test_web_search_disabled_by_the_operator_has_no_button_and_refuses_a_forged_callback(
    stack: Stack,
) -> None:
    async with stack.bot(web_search="off"):
        user, chat_id = await private_chat(stack)
        panel = await open_settings(stack, chat_id, user)
        assert not any(data.startswith("st:w:") for data in buttons(panel)), "no web search button"
        assert "Web search" not in panel["text"]
        assert await press(stack, chat_id, panel, "st:w:on", user, forged=True) == STALE
        await command(stack, chat_id, user, "/websearch on", "Web search is turned off by the operator")
        await ask(stack, chat_id, user, "is the web searched?")
    assert responses(stack)[-1]["tools"] == []
    assert message_by_id(stack, chat_id, panel["message_id"])["versions"][-1]["text"] == panel["text"]


async def test_a_panel_older_than_the_operators_change_cannot_bring_back_what_was_withdrawn(
    stack: Stack,
) -> None:
    serve_two_models(stack)
    async with stack.bot(yc_models=MODELS, web_search="allowed"):
        user, chat_id = await private_chat(stack)
        panel = await open_settings(stack, chat_id, user)
    # The operator narrows the choice: the old panel still shows the withdrawn buttons.
    async with stack.bot(web_search="off"):
        refusal = await press(stack, chat_id, panel, f"st:m:{LITE}", user)
        assert refusal == "That model is not available here. Available: YandexGPT Pro 5."
        assert await press(stack, chat_id, panel, "st:w:on", user) == (
            "Web search is turned off by the operator of this bot."
        )
        await ask(stack, chat_id, user, "which model, which tools?")
    assert (responses(stack)[-1]["model"], responses(stack)[-1]["tools"]) == (uri(stack, PRO), [])


async def test_forged_and_foreign_callbacks_are_refused(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        panel = await open_settings(stack, chat_id, user)
        assert await press(stack, chat_id, panel, "st:m:gpt-5/latest", user, forged=True) == STALE
        answer = await ask(stack, chat_id, user, "hello")
        # A settings action forged onto a message that is not a settings message.
        assert await press(stack, chat_id, answer, "st:f:rich", user, forged=True) == STALE
        await ask(stack, chat_id, user, "still classic?")
    assert stack.telegram.bot_messages(chat_id)[-1]["rich_markdown"] is None
    assert responses(stack)[-1]["model"] == uri(stack, PRO)


async def test_in_groups_only_admins_change_settings_and_the_prompt_reaches_the_model(stack: Stack) -> None:
    async with stack.bot():
        ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
        bob = await stack.telegram.create_user("Bob", username="bob", language_code="en")
        chat = await stack.telegram.create_group("Team", supergroup=True, members=[ann, bob])
        chat_id = chat["id"]  # Ann created it: an admin; Bob is a member

        await command(stack, chat_id, bob, "/prompt Answer like a pirate.", "Only group admins can change")
        panel = await open_settings(stack, chat_id, bob)  # everyone may look
        assert "In groups only admins can change settings." in panel["text"]
        assert (
            await press(stack, chat_id, panel, "st:f:rich", bob)
            == "Only group admins can change the settings."
        )
        default = await command(stack, chat_id, bob, "/prompt", "The bot's default instructions")
        assert "helpful assistant" in default["text"]

        await command(
            stack, chat_id, ann, "/prompt " + "x" * 4001, "too long (4001 characters, at most 4000)"
        )
        await command(
            stack, chat_id, ann, "/prompt Answer like a pirate.", "The instructions of this chat are changed"
        )
        await ask(stack, chat_id, bob, f"{BOT} where is the treasure?")
        assert responses(stack)[-1]["instructions"] == with_author_note("Answer like a pirate.")
        shown = await command(stack, chat_id, bob, "/prompt", "Instructions of this chat")
        assert shown["text"].endswith("Answer like a pirate.")

        await command(stack, chat_id, ann, "/prompt reset", "back to the bot's default")
        await ask(stack, chat_id, bob, f"{BOT} and now?")
    assert "helpful assistant" in (responses(stack)[-1]["instructions"] or "")


async def test_settings_are_per_topic_in_forums_and_move_with_a_migrated_group(
    stack: Stack, redis_client: aioredis.Redis
) -> None:
    async with stack.bot():
        ann = await stack.telegram.create_user("Ann", username="ann", language_code="en")
        forum = await stack.telegram.create_group("Forum", supergroup=True, forum=True, members=[ann])
        ideas = await stack.telegram.create_topic(forum["id"], "Ideas", by=ann)
        plans = await stack.telegram.create_topic(forum["id"], "Plans", by=ann)
        await command(stack, forum["id"], ann, "/format rich", "rich messages", message_thread_id=ideas)
        rich = await ask(stack, forum["id"], ann, f"{BOT} in ideas", message_thread_id=ideas)
        classic = await ask(stack, forum["id"], ann, f"{BOT} in plans", message_thread_id=plans)
        assert rich["rich_markdown"] is not None and rich["message_thread_id"] == ideas
        assert classic["rich_markdown"] is None and classic["message_thread_id"] == plans

        basic = await stack.telegram.create_group("Basic", supergroup=False, members=[ann])
        await command(stack, basic["id"], ann, "/format rich", "rich messages")
        new_id = await stack.telegram.migrate_group(basic["id"])
        moved = await ask(stack, new_id, ann, f"{BOT} after the move")
    assert moved["rich_markdown"] == responses(stack)[-1]["output_text"], (
        "the settings moved to the supergroup"
    )
    assert await redis_client.keys(f"*:settings:{basic['id']}:t*") == []


async def test_every_model_a_chat_may_choose_must_be_offered_at_start(stack: Stack) -> None:
    with pytest.raises(StartupError) as refused:
        async with stack.bot(yc_models=f"{PRO},yandexgpt-ultra/latest"):
            pass
    assert str(refused.value).startswith(
        f"YC_MODELS gpt://{stack.folder_id}/yandexgpt-ultra/latest is not offered by Yandex AI Studio"
    )


@pytest.mark.slow
async def test_the_doctor_checks_every_allowed_model(stack: Stack) -> None:
    doctor = await stack.run_cli("bot.doctor", stack.env(yc_models=f"{PRO},yandexgpt-ultra/latest"))
    assert doctor.code == 1
    rows = [line for line in doctor.stdout.splitlines() if "  FAIL  " in line]
    assert len(rows) == 1 and rows[0].startswith("model ") and "YC_MODELS" in rows[0], doctor.output
    fine = await stack.run_cli("bot.doctor", stack.env(yc_models=f"{PRO},{LITE}"))
    model_row = next(line for line in fine.stdout.splitlines() if line.startswith("model "))
    assert "YandexGPT Pro 5" in model_row and "YandexGPT Lite 5" in model_row, fine.output
