"""Contract tests of images in the emulator's Chat Completions, driven by the real openai client.

Yandex documents base64 ``image_url`` parts for its multimodal model (Gemma 3 27B); other models refuse
them. The answer describes each image deterministically, with ``bytes=N``.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tests.fakes.yandex.server import YandexEmulator
from tests.support.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg body " * 30
PNG = b"\x89PNG\r\n\x1a\n" + b"png body " * 10
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"webp" * 5


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_message(text: str, *urls: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {"role": "user", "content": parts}


def gemma(folder: str) -> str:
    return f"gpt://{folder}/gemma-3-27b-it/latest"


async def test_a_vision_model_describes_each_image_with_its_size(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_folder_id: str
) -> None:
    message = image_message("What is on these?", data_url("image/jpeg", JPEG), data_url("image/png", PNG))
    completion = await openai_client.chat.completions.create(
        model=gemma(yandex_folder_id),
        messages=[{"role": "system", "content": "Be brief."}, message],  # type: ignore[list-item]
    )
    text = completion.choices[0].message.content or ""
    assert text.startswith("I see 2 images:")
    assert f"JPEG picture, bytes={len(JPEG)}" in text and f"PNG picture, bytes={len(PNG)}" in text
    assert "What is on these?" in text
    again = await openai_client.chat.completions.create(
        model=gemma(yandex_folder_id),
        messages=[{"role": "system", "content": "Be brief."}, message],  # type: ignore[list-item]
    )
    assert again.choices[0].message.content == text  # deterministic
    assert completion.usage is not None and completion.usage.prompt_tokens >= 2 * 256
    record = yandex_emulator.responses()[-1]
    assert record["api"] == "chat.completions"
    assert [image["bytes"] for image in record["images"]] == [len(JPEG), len(PNG)]
    assert record["input"][-1] == {"role": "user", "text": "What is on these?"}


async def test_streaming_with_an_image(openai_client: openai.AsyncOpenAI, yandex_folder_id: str) -> None:
    stream = await openai_client.chat.completions.create(  # type: ignore[call-overload]
        model=gemma(yandex_folder_id),
        messages=[image_message("Describe", data_url("image/webp", WEBP))],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert f"WebP picture, bytes={len(WEBP)}" in text


async def test_other_models_refuse_images(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await openai_client.chat.completions.create(
            model=yandex_model,
            messages=[image_message("What is this?", data_url("image/jpeg", JPEG))],  # type: ignore[list-item]
        )
    assert "does not support image input" in str(refused.value)
    assert yandex_emulator.responses()[-1]["status"] == "failed"
    # Without images the same model answers as usual.
    plain = await openai_client.chat.completions.create(
        model=yandex_model, messages=[{"role": "user", "content": "What is this?"}]
    )
    assert plain.choices[0].message.content


async def test_vision_model_prefixes_are_configurable(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator, yandex_folder_id: str
) -> None:
    yandex_emulator.config.vision_models = ("qwen-vl",)
    message = image_message("What is this?", data_url("image/jpeg", JPEG))
    with pytest.raises(openai.BadRequestError):
        await openai_client.chat.completions.create(model=gemma(yandex_folder_id), messages=[message])  # type: ignore[list-item]
    completion = await openai_client.chat.completions.create(
        model=f"gpt://{yandex_folder_id}/qwen-vl-7b/latest",
        messages=[message],  # type: ignore[list-item]
    )
    assert "bytes=" in (completion.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/cat.jpg", "base64 data URL"),
        (data_url("image/gif", b"GIF89a...."), "Unsupported image type"),
        (data_url("image/png", JPEG), "not a valid PNG"),
        ("data:image/jpeg;base64,%%%", "base64 data is invalid"),
    ],
)
async def test_images_must_be_base64_jpeg_png_or_webp(
    openai_client: openai.AsyncOpenAI, yandex_folder_id: str, url: str, reason: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await openai_client.chat.completions.create(
            model=gemma(yandex_folder_id),
            messages=[image_message("What is this?", url)],  # type: ignore[list-item]
        )
    assert reason in str(refused.value)


async def test_images_only_in_user_messages(openai_client: openai.AsyncOpenAI, yandex_folder_id: str) -> None:
    assistant = {
        "role": "assistant",
        "content": [{"type": "image_url", "image_url": {"url": data_url("image/jpeg", JPEG)}}],
    }
    with pytest.raises(openai.BadRequestError):
        await openai_client.chat.completions.create(
            model=gemma(yandex_folder_id),
            messages=[assistant, {"role": "user", "content": "and?"}],  # type: ignore[list-item]
        )


async def test_standalone_flags_choose_vision_models_and_serve_speechkit() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.yandex",
        "--port",
        str(port),
        "--first-delta-delay",
        "0",
        "--vision-models",
        "qwen-vl, llava",
        "--stt-async-delay",
        "0",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="key", project="b1gfolder", max_retries=0
    )
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), timeout=10)
        message = image_message("What is this?", data_url("image/jpeg", JPEG))
        answer = await client.chat.completions.create(
            model="gpt://b1gfolder/llava-13b",
            messages=[message],  # type: ignore[list-item]
        )
        assert f"bytes={len(JPEG)}" in (answer.choices[0].message.content or "")
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model=gemma("b1gfolder"), messages=[message])  # type: ignore[list-item]
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/speech/v1/stt:recognize"
            async with http.post(
                url, data=b"hello there", headers={"Authorization": "Api-Key k"}
            ) as response:
                assert await response.json() == {"result": "hello there"}
    finally:
        await client.close()
        process.terminate()
        return_code = await asyncio.wait_for(process.wait(), timeout=10)
    assert return_code == 0
