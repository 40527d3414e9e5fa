"""Per-chat settings: the use case with a hand-written store, the answer use case's model switch, web
source links, model names, and the operator's settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from bot.core.answering import AnswerQuestion, AnswerSettings, RetryPolicy, Rollover
from bot.core.authors import with_author_note
from bot.core.chat_settings import (
    MAX_INSTRUCTIONS_CHARS,
    Change,
    ChatChoices,
    ChatSettingsService,
    Choice,
    ModelOption,
    ReplyFormat,
    SettingsPolicy,
    WebSearchPolicy,
)
from bot.core.context import ContextPolicy, ContextRollover
from bot.core.models import AnswerProfile, CompletedAnswer, ConversationKey, Question, Turn
from bot.core.ports import ConversationState
from bot.settings import SettingsError, load_settings
from bot.telegram.formatting import classic_chunks, web_links, with_sources
from bot.telegram.settings_panel import FormatAction, ModelAction, WebSearchAction, model_token, parse_action
from bot.yandex.models import model_display_name
from tests.support.environment import clear_settings_environment
from tests.unit.fakes import InMemoryConversationStore, RecordingView, ScriptedModel, ScriptedStream

PRO = ModelOption("yandexgpt/latest", "YandexGPT Pro 5")
LITE = ModelOption("yandexgpt-lite/latest", "YandexGPT Lite 5")
TOPIC = ConversationKey(chat_id=-100, thread_id=7)


@dataclass
class InMemoryChatSettingsStore:
    choices: dict[ConversationKey, ChatChoices] = field(default_factory=dict)
    writes: list[tuple[ConversationKey, Choice, str | bool | None]] = field(default_factory=list)

    async def load(self, scope: ConversationKey) -> ChatChoices:
        return self.choices.get(scope, ChatChoices())

    async def choose(self, scope: ConversationKey, choice: Choice, value: str | bool | None) -> None:
        self.writes.append((scope, choice, value))
        current = self.choices.get(scope, ChatChoices())
        if choice is Choice.MODEL:
            assert not isinstance(value, bool)
            current = replace(current, model=value)
        elif choice is Choice.REPLY_FORMAT:
            current = replace(current, reply_format=ReplyFormat(str(value)) if value is not None else None)
        elif choice is Choice.WEB_SEARCH:
            current = replace(current, web_search=bool(value) if value is not None else None)
        else:
            assert not isinstance(value, bool)
            current = replace(current, instructions=value)
        self.choices[scope] = current


def policy(web_search: WebSearchPolicy = WebSearchPolicy.ALLOWED) -> SettingsPolicy:
    return SettingsPolicy(
        models=(PRO, LITE),
        default_model=PRO.model,
        default_format=ReplyFormat.CLASSIC,
        web_search=web_search,
        instructions="the operator's instructions",
    )


def service(
    web_search: WebSearchPolicy = WebSearchPolicy.ALLOWED,
) -> tuple[ChatSettingsService, InMemoryChatSettingsStore]:
    store = InMemoryChatSettingsStore()
    return ChatSettingsService(store, policy(web_search)), store


async def test_a_chat_without_choices_follows_the_operator() -> None:
    settings, _ = service(WebSearchPolicy.ON)
    current = await settings.current(TOPIC)
    assert current.model == PRO
    assert current.reply_format is ReplyFormat.CLASSIC
    assert current.web_search and current.web_search_offered
    assert (current.instructions, current.own_instructions) == ("the operator's instructions", False)
    assert current.profile == AnswerProfile(
        PRO.model, with_author_note("the operator's instructions"), web_search=True
    ), "the note on how group authors are marked always goes with the instructions"


async def test_choices_belong_to_the_topic_not_to_a_member() -> None:
    settings, store = service()
    member_key = replace(TOPIC, user_id=42)
    assert await settings.choose_model(member_key, LITE.model) is Change.CHANGED
    assert store.writes == [(TOPIC, Choice.MODEL, LITE.model)]
    assert (await settings.current(replace(TOPIC, user_id=43))).model == LITE
    assert (await settings.current(ConversationKey(chat_id=-100, thread_id=8))).model == PRO


async def test_changes_are_validated() -> None:
    settings, store = service()
    assert await settings.choose_model(TOPIC, "gpt-5") is Change.UNKNOWN_MODEL
    assert await settings.choose_model(TOPIC, PRO.model) is Change.UNCHANGED
    assert await settings.choose_format(TOPIC, ReplyFormat.CLASSIC) is Change.UNCHANGED
    assert await settings.choose_format(TOPIC, ReplyFormat.RICH) is Change.CHANGED
    assert await settings.choose_web_search(TOPIC, False) is Change.UNCHANGED
    assert await settings.choose_web_search(TOPIC, True) is Change.CHANGED
    assert await settings.set_instructions(TOPIC, "   ") is Change.EMPTY
    assert await settings.set_instructions(TOPIC, "x" * (MAX_INSTRUCTIONS_CHARS + 1)) is Change.TOO_LONG
    assert await settings.set_instructions(TOPIC, " x" * (MAX_INSTRUCTIONS_CHARS // 2)) is Change.CHANGED
    assert await settings.reset_instructions(TOPIC) is Change.CHANGED
    assert await settings.reset_instructions(TOPIC) is Change.UNCHANGED
    assert [write[1] for write in store.writes] == [
        Choice.REPLY_FORMAT,
        Choice.WEB_SEARCH,
        Choice.INSTRUCTIONS,
        Choice.INSTRUCTIONS,
    ]
    assert store.writes[-1][2] is None, "reset forgets the chat's instructions"


async def test_web_search_turned_off_by_the_operator_cannot_be_chosen_and_is_off() -> None:
    settings, store = service(WebSearchPolicy.OFF)
    store.choices[TOPIC] = ChatChoices(web_search=True)  # chosen while the operator allowed it
    assert await settings.choose_web_search(TOPIC, True) is Change.WEB_SEARCH_DISABLED
    current = await settings.current(TOPIC)
    assert not current.web_search and not current.web_search_offered


async def test_a_withdrawn_model_falls_back_to_the_default() -> None:
    settings, store = service()
    store.choices[TOPIC] = ChatChoices(model="aliceai-llm")
    assert (await settings.current(TOPIC)).model == PRO


def test_models_are_found_by_id_or_human_name() -> None:
    settings, _ = service()
    assert settings.find_model("yandexgpt-lite/latest") == LITE
    assert settings.find_model("  yandexgpt   lite 5 ") == LITE
    assert settings.find_model("gpt-5") is None


def test_the_default_model_must_be_allowed() -> None:
    with pytest.raises(ValueError, match="default model"):
        replace(policy(), default_model="aliceai-llm")


# -- the answer use case ------------------------------------------------------------------------


def completed(handle: str) -> ScriptedStream:
    return ScriptedStream(["ok"], CompletedAnswer(text="ok", context_handle=handle))


async def test_a_changed_model_rolls_the_conversation_over_into_a_chain_of_that_model() -> None:
    key = ConversationKey(chat_id=1)
    store = InMemoryConversationStore()
    store.turns[key] = [
        Turn("user", "oldest question", at=1.0),
        Turn("assistant", "oldest answer", at=2.0),
        Turn("user", "earlier question", at=3.0),
        Turn("assistant", "earlier answer", at=4.0),
    ]
    store.states[key] = ConversationState(context_handle="resp-1", model=PRO.model)
    model = ScriptedModel(
        [completed("resp-2"), completed("resp-3")],
        completions=[CompletedAnswer(text="they talked about the oldest things", context_handle=None)],
    )
    rollover = ContextRollover(model, store, ContextPolicy(recent_turns=2), "i")
    settings = AnswerSettings(instructions="i", model=PRO.model, retry=RetryPolicy())
    use_case = AnswerQuestion(model, store, settings, rollover=rollover)
    lite = AnswerProfile(model=LITE.model, instructions="be brief", web_search=True)

    report = await use_case.execute(Question(key, "next"), RecordingView(), asyncio.Event(), profile=lite)
    await use_case.execute(Question(key, "and on"), RecordingView(), asyncio.Event(), profile=lite)

    assert report.rollovers == (Rollover.MODEL_CHANGED,)
    (summary_request,) = model.completion_requests
    assert summary_request.model == LITE.model, "the newly chosen model writes the summary"
    first, second = model.requests
    assert (first.model, first.context_handle, first.instructions, first.web_search) == (
        LITE.model,
        None,
        "be brief",
        True,
    )
    assert first.summary is not None and "they talked about the oldest things" in first.summary
    assert [turn.text for turn in first.replay] == ["earlier question", "earlier answer"]
    assert (store.states[key].context_handle, store.states[key].model) == ("resp-3", LITE.model)
    assert (second.context_handle, second.replay) == ("resp-2", ()), "the new chain goes on"


async def test_a_chain_that_does_not_record_its_model_was_made_with_the_default() -> None:
    key = ConversationKey(chat_id=1)
    store = InMemoryConversationStore()
    store.states[key] = ConversationState(context_handle="resp-1")  # written before per-chat models
    model = ScriptedModel([completed("resp-2")])
    use_case = AnswerQuestion(model, store, AnswerSettings(instructions="i", model=PRO.model))
    await use_case.execute(Question(key, "q"), RecordingView(), asyncio.Event())
    assert model.requests[0].context_handle == "resp-1"
    assert model.requests[0].model == PRO.model


# -- presentation -------------------------------------------------------------------------------


def test_web_links_are_http_one_per_domain_at_most_five_and_safe_in_markdown() -> None:
    addresses = [
        "https://www.rbc.ru/news/1",
        "www.rbc.ru",  # Yandex's documented example: a bare host
        "ria.ru",
        "javascript:alert(1)",
        "ftp://files.example.org/x",
        "https://example.org/a(b)",
        "https://one.example.com",
        "https://two.example.com",
        "https://three.example.com",
    ]
    assert web_links(addresses) == [
        ("rbc.ru", "https://www.rbc.ru/news/1"),
        ("ria.ru", "https://ria.ru"),
        ("example.org", "https://example.org/a%28b%29"),
        ("one.example.com", "https://one.example.com"),
        ("two.example.com", "https://two.example.com"),
    ]


def test_sources_footer_lists_documents_then_web_links_as_entities() -> None:
    markdown = with_sources("The answer.", ["ferry_notes.md"], "Sources", ["https://habr.ru/post/1"])
    (chunk,) = classic_chunks(markdown)
    assert chunk.text == "The answer.\n\n📎 Sources: ferry_notes.md, habr.ru"
    (link,) = [e for e in chunk.entities if e.type == "text_link"]
    units = chunk.text.encode("utf-16-le")  # entity offsets count UTF-16 units (📎 is two)
    assert units[2 * link.offset : 2 * (link.offset + link.length)].decode("utf-16-le") == "habr.ru"
    assert link.url == "https://habr.ru/post/1"


def test_models_have_their_documented_names() -> None:
    assert model_display_name("yandexgpt/latest") == "YandexGPT Pro 5"
    assert model_display_name("yandexgpt/rc") == "YandexGPT Pro 5.1"
    assert model_display_name("gpt://b1gfolder/yandexgpt-lite") == "YandexGPT Lite 5"
    assert model_display_name("aliceai-llm") == "Alice AI LLM"
    assert model_display_name("qwen3-235b-a22b-fp8/latest") == "Qwen3 235B"
    assert model_display_name("yandexgpt-lite/latest@tuned1") == "YandexGPT Lite 5 (tuned1)"
    assert model_display_name("yandexgpt/deprecated") == "YandexGPT Pro (deprecated)"
    assert model_display_name("my-model/latest") == "my-model/latest"


# -- the operator's settings ----------------------------------------------------------------------

VALID = {"bot_token": "1:x", "yc_folder_id": "f", "yc_api_key": "k", "_env_file": None}


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


def test_operator_settings_for_chats() -> None:
    settings = load_settings(
        **VALID,
        yc_models=" yandexgpt/latest, yandexgpt-lite/latest ,yandexgpt/latest",
        web_search="allowed",
        web_search_domains="Habr.ru, news.example.com",
        web_search_region="213",
    )
    assert settings.allowed_models == ("yandexgpt/latest", "yandexgpt-lite/latest")
    assert settings.web_search_domains == ("habr.ru", "news.example.com")
    assert settings.web_search_region == "213"
    defaults = load_settings(**VALID)
    assert defaults.allowed_models == ("yandexgpt/latest",)
    assert (defaults.web_search, defaults.reply_format) == ("off", "classic")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"yc_models": "yandexgpt-lite/latest"}, "YC_MODEL must be one of YC_MODELS"),
        ({"yc_models": "yandexgpt/latest,yandex gpt"}, "YC_MODELS"),
        (
            {"yc_models": "yandexgpt/latest,gpt://b1gother/yandexgpt-lite"},
            "YC_MODELS names folder 'b1gother'",
        ),
        ({"web_search": "sometimes"}, "WEB_SEARCH"),
        ({"web_search_domains": "a.ru,b.ru,c.ru,d.ru,e.ru,f.ru"}, "WEB_SEARCH_DOMAINS"),
        ({"web_search_domains": "https://habr.ru/"}, "WEB_SEARCH_DOMAINS"),
        ({"web_search_region": "Moscow"}, "WEB_SEARCH_REGION"),
    ],
)
def test_bad_operator_settings_are_named(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(**VALID, **overrides)


def test_settings_buttons_fit_telegrams_64_bytes_and_read_back() -> None:
    long_model = "gpt://b1gverylongfolderidentifier/yandexgpt-lite/latest@my-fine-tuned-suffix"
    operator = replace(policy(), models=(PRO, ModelOption(long_model, "Tuned")))
    token = model_token(long_model)
    assert token.startswith("#") and len(f"st:m:{token}".encode()) <= 64
    assert parse_action(f"st:m:{token}", operator) == ModelAction(operator.models[1])
    assert parse_action(f"st:m:{PRO.model}", operator) == ModelAction(PRO)
    assert parse_action("st:m:gpt-5", operator) == ModelAction(None), "a model this bot does not offer"
    assert parse_action("st:f:rich", operator) == FormatAction(ReplyFormat.RICH)
    assert parse_action("st:w:off", operator) == WebSearchAction(enabled=False)
    assert parse_action("st:f:html", operator) is None
    assert parse_action("st:x", operator) is None
