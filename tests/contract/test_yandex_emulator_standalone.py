"""The emulator's lifecycle: standalone (``python -m tests.fakes.yandex --host 127.0.0.1 --port N``) and
shutdown while streams are open."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import openai

from tests.fakes.yandex import EmulatorConfig, running_yandex_emulator
from tests.support.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def test_standalone_server_serves_until_terminated() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.yandex",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--first-delta-delay",
        "0",
        "--chars-per-second",
        "100000",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
        assert f"http://127.0.0.1:{port}/v1" in banner
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="key", project="b1gfolder", max_retries=0
        )
        models = [model.id async for model in client.models.list()]
        assert "gpt://b1gfolder/yandexgpt/latest" in models
        answer = await client.responses.create(
            model="gpt://b1gfolder/yandexgpt/latest", input="emu:echo ping"
        )
        assert answer.output_text == "ping"
        await client.close()
    finally:
        process.terminate()
        return_code = await asyncio.wait_for(process.wait(), timeout=10)
    assert return_code == 0


async def test_shutdown_ends_open_streams_promptly() -> None:
    config = EmulatorConfig(first_delta_delay=0.0)
    async with running_yandex_emulator(config) as emulator:
        client = openai.AsyncOpenAI(
            base_url=emulator.base_url, api_key="key", project="b1gfolder", max_retries=0
        )
        stream = await client.responses.create(
            model="gpt://b1gfolder/yandexgpt/latest", input="emu:long=5000 emu:slow=50", stream=True
        )
        async for event in stream:
            if event.type == "response.output_text.delta":
                break
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    assert emulator.responses()[-1]["status"] == "incomplete"
    await stream.close()
    await client.close()


async def test_standalone_server_takes_the_context_size_and_the_usage_mode() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.yandex",
        "--port",
        str(port),
        "--first-delta-delay",
        "0",
        "--context-tokens",
        "100",
        "--usage",
        "null",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), timeout=10)
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="key", project="b1gfolder", max_retries=0
        )
        answer = await client.responses.create(model="gpt://b1gfolder/yandexgpt/latest", input="short")
        assert answer.status == "completed" and answer.usage is None
        try:
            await client.responses.create(model="gpt://b1gfolder/yandexgpt/latest", input="word " * 100)
        except openai.BadRequestError as error:
            assert "exceeded prompt length" in error.message
        else:
            raise AssertionError("a 500-character prompt exceeds 100 tokens")
        await client.close()
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
