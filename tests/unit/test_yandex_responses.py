"""Reading Yandex's final response objects and errors (bot.yandex.answers), from payloads shaped like
the ones in Yandex's own documentation."""

from __future__ import annotations

import pytest

from bot.core.models import Ending, WebSource
from bot.yandex.answers import about_prompt_length, final_answer

# Trimmed from `operations/agents/create-filesearch-text-agent.md`: millisecond `created_at`,
# `valid` flags, `logprobs: null`, and usage all zeros.
FILE_SEARCH_RESPONSE = {
    "id": "b9516128-9eab-4bdc-902e-3228aaaaaaaa",
    "created_at": 1762862921074.0,
    "error": None,
    "incomplete_details": None,
    "object": "response",
    "output": [
        {
            "id": "b82092d2",
            "queries": ["vacation"],
            "status": "completed",
            "type": "file_search_call",
            "results": [
                {
                    "attributes": {},
                    "file_id": "fvt1",
                    "filename": "bali.txt",
                    "score": 0.5,
                    "text": "Bali " * 20,
                },
                {
                    "attributes": {},
                    "file_id": "fvt2",
                    "filename": "kz.txt",
                    "score": 0.49,
                    "text": "Steppe " * 10,
                },
            ],
            "valid": True,
        },
        {
            "id": "c21d9c45",
            "content": [
                {
                    "annotations": [
                        {
                            "file_id": "fvt1",
                            "filename": "bali.txt",
                            "index": 0,
                            "type": "file_citation",
                            "valid": True,
                        },
                        {
                            "file_id": "fvt2",
                            "filename": "kz.txt",
                            "index": 0,
                            "type": "file_citation",
                            "valid": True,
                        },
                        {
                            "file_id": "fvt1",
                            "filename": "bali.txt",
                            "index": 0,
                            "type": "file_citation",
                            "valid": True,
                        },
                    ],
                    "text": "You may consider two vacation options.",
                    "type": "output_text",
                    "logprobs": None,
                    "valid": True,
                }
            ],
            "role": "assistant",
            "status": "completed",
            "type": "message",
            "valid": True,
        },
    ],
    "status": "completed",
    "usage": {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0, "valid": True},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0, "valid": True},
        "total_tokens": 0,
        "valid": True,
    },
}


def test_a_documented_file_search_response_reads_with_sources_and_no_usage() -> None:
    answer = final_answer(FILE_SEARCH_RESPONSE, Ending.COMPLETED)
    assert answer.text == "You may consider two vacation options."
    assert answer.context_handle == "b9516128-9eab-4bdc-902e-3228aaaaaaaa"
    assert answer.sources == ("bali.txt", "kz.txt")
    assert answer.usage is None, "all zeros is no usage"
    assert answer.retrieved_chars == len("Bali " * 20) + len("Steppe " * 10)


def test_web_citations_and_refusals_and_null_usage() -> None:
    response = {
        "id": "r1",
        "usage": None,
        "output": [
            {"type": "web_search_call", "status": "completed"},
            {
                "type": "message",
                "content": [
                    {
                        "type": "output_text",
                        "text": "Weather is mild.",
                        "annotations": [
                            {
                                "type": "url_citation",
                                "url": "https://ya.ru/pogoda",
                                "title": "Погода",
                                "start_index": 0,
                            },
                            {"type": "url_citation", "url": "https://ya.ru/pogoda", "title": "Погода"},
                            {"type": "url_citation", "url": "https://example.com/x"},
                        ],
                    }
                ],
            },
        ],
    }
    answer = final_answer(response, Ending.COMPLETED)
    assert answer.web_sources == (
        WebSource("https://ya.ru/pogoda", "Погода"),
        WebSource("https://example.com/x"),
    )
    assert answer.usage is None and answer.sources == ()
    refused = final_answer(
        {
            "id": "r2",
            "output": [{"type": "message", "content": [{"type": "refusal", "refusal": "I can't."}]}],
        },
        Ending.COMPLETED,
    )
    assert refused.text == "I can't."


@pytest.mark.parametrize(
    "message",
    [
        "Request is invalid: exceeded prompt length",
        "exceeded prompt length (40000 tokens)",
        "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens.",
        "context_length_exceeded",
        "Input is too long for the model",
        "Number of input tokens exceeds the limit",
        "Превышена длина запроса",
        "Слишком длинный контекст",
    ],
)
def test_a_prompt_length_refusal_is_recognised_whatever_its_wording(message: str) -> None:
    assert about_prompt_length(message)


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ("Invalid model URI 'x': expected gpt://<folder_id>/<model_name>.", None, "model"),
        ("Specified folder ID does not match with service account", None, None),
        ("Previous response with id 'x' not found.", "previous_response_not_found", "previous_response_id"),
        ("'input' must be a string or a list of items.", None, "input"),
        ("max_output_tokens must be at least 16", None, "max_output_tokens"),
        ("Emulated failure with HTTP 400 (emu:fail).", None, None),
        ("You can connect only one search index to a model at a time", None, "tools"),
    ],
)
def test_other_bad_requests_are_not_taken_for_one(message: str, code: str | None, param: str | None) -> None:
    assert not about_prompt_length(message, code, param)
