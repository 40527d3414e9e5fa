"""Contract tests of the emulator serving several models (``--models a,b,c``): ``GET /v1/models`` lists
them, a request may name only them (any other is a 400, as Yandex answers an incorrect model URI), and
each answer names the model that wrote it; ``/__emu/responses`` records ``model`` and ``instructions``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from tests.fakes.yandex import EmulatorConfig, running_yandex_emulator
from tests.fakes.yandex.server import YandexEmulator
from tests.support.net import free_port

FOLDER = "b1gfolder"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def two_models() -> AsyncIterator[tuple[YandexEmulator, openai.AsyncOpenAI]]:
    config = EmulatorConfig(
        first_delta_delay=0.0, chars_per_second=100_000, models=("alpha/latest", "beta/rc")
    )
    async with running_yandex_emulator(config) as emulator:
        client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="key", project=FOLDER, max_retries=0)
        try:
            yield emulator, client
        finally:
            await client.close()


async def test_served_models_are_listed_and_each_answer_names_its_model(
    two_models: tuple[YandexEmulator, openai.AsyncOpenAI],
) -> None:
    emulator, client = two_models
    assert [model.id async for model in client.models.list()] == [
        f"gpt://{FOLDER}/alpha/latest",
        f"gpt://{FOLDER}/beta/rc",
    ]
    alpha = await client.responses.create(
        model=f"gpt://{FOLDER}/alpha/latest", input="hello", instructions="be brief"
    )
    beta = await client.responses.create(model=f"gpt://{FOLDER}/beta/rc", input="hello")
    assert "Model: alpha/latest." in alpha.output_text
    assert "Model: beta/rc." in beta.output_text
    records = emulator.responses()
    assert [(r["model"], r["instructions"]) for r in records] == [
        (f"gpt://{FOLDER}/alpha/latest", "be brief"),
        (f"gpt://{FOLDER}/beta/rc", None),
    ]
    chat = await client.chat.completions.create(
        model=f"gpt://{FOLDER}/beta/rc", messages=[{"role": "user", "content": "hello"}]
    )
    assert "Model: beta/rc." in (chat.choices[0].message.content or "")


async def test_a_model_not_served_is_refused(two_models: tuple[YandexEmulator, openai.AsyncOpenAI]) -> None:
    _, client = two_models
    with pytest.raises(openai.BadRequestError) as error:
        await client.responses.create(model=f"gpt://{FOLDER}/yandexgpt/latest", input="hello")
    assert isinstance(error.value.body, dict) and error.value.body.get("param") == "model"
    assert "not available" in str(error.value.message)
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model=f"gpt://{FOLDER}/gamma/latest", messages=[{"role": "user", "content": "hello"}]
        )


async def test_without_a_model_list_any_model_answers_without_naming_itself(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator
) -> None:
    listed = [model.id async for model in openai_client.models.list()]
    assert "gpt://b1gtestfolder/yandexgpt/latest" in listed
    answer = await openai_client.responses.create(
        model="gpt://b1gtestfolder/any-model/latest", input="emu:echo hi"
    )
    assert answer.output_text == "hi"
    assert yandex_emulator.responses()[-1]["model"] == "gpt://b1gtestfolder/any-model/latest"


async def test_standalone_models_flag() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.yandex",
        "--port",
        str(port),
        "--first-delta-delay",
        "0",
        "--models",
        "alpha/latest, beta/rc",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), timeout=10)
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="k", project=FOLDER, max_retries=0
        )
        assert [model.id async for model in client.models.list()] == [
            f"gpt://{FOLDER}/alpha/latest",
            f"gpt://{FOLDER}/beta/rc",
        ]
        await client.close()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
