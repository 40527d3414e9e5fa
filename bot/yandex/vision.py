"""Questions about images: an AnswerModel over Chat Completions with an image-capable model.

Yandex documents images for its multimodal model (Gemma 3 27B, `gpt://<folder>/gemma-3-27b-it/latest`)
through the OpenAI-compatible Chat Completions API, each image a base64 `image_url` data URL in the user
message (ai-studio/operations/generation/multimodels-request.md). Chat Completions keep no state: the
request carries the instructions, the turns the use case hands over (carried-over turns, group
context) and the question with its images; the answer has no context handle, so the use case carries
the exchange into the main conversation's chain with the next question. The stream is read from
`chat.completion.chunk` deltas; usage comes with the last chunk (`stream_options.include_usage`).
Chat Completions have no cancel endpoint: Stop closes the stream, which ends the generation.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
)

from bot.core.authors import labelled
from bot.core.errors import ProviderError, StreamBrokenError
from bot.core.models import CompletedAnswer, Ending, Usage
from bot.core.ports import AnswerModel, AnswerRequest, AnswerStream, CompletionRequest

log = logging.getLogger(__name__)

# Chat Completions' finish reasons (OpenAI's; Yandex documents none of its own for this API).
_ENDINGS = {"stop": Ending.COMPLETED, "length": Ending.CUT_BY_LENGTH, "content_filter": Ending.DECLINED}


class VisionAnswerModel:
    def __init__(
        self, client: AsyncOpenAI, model_uri: str, *, count_error: Callable[[str], None] | None = None
    ) -> None:
        self._client = client
        self._model_uri = model_uri
        self._count_error = count_error or (lambda _kind: None)

    async def start(self, request: AnswerRequest) -> VisionAnswerStream:
        try:
            stream: AsyncStream[ChatCompletionChunk] = await self._client.chat.completions.create(
                model=self._model_uri,
                messages=_messages(request),
                stream=True,
                stream_options={"include_usage": True},
            )
        except openai.APIStatusError as error:
            self._count_error(f"http_{error.status_code}")
            status = error.status_code
            retryable = status in (408, 429) or status >= 500
            raise ProviderError(f"provider answered {status}", retryable=retryable, status=status) from error
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            self._count_error("timeout" if isinstance(error, openai.APITimeoutError) else "connection")
            raise ProviderError(f"provider unreachable: {type(error).__name__}", retryable=True) from error
        return VisionAnswerStream(stream, self._count_error)


class VisionAnswerStream:
    def __init__(self, stream: AsyncStream[ChatCompletionChunk], count_error: Callable[[str], None]) -> None:
        self._stream = stream
        self._count_error = count_error
        self._result: CompletedAnswer | None = None
        self._cancelled = False

    @property
    def result(self) -> CompletedAnswer | None:
        return self._result

    async def deltas(self) -> AsyncIterator[str]:
        text = ""
        finish_reason: str | None = None
        usage: Usage | None = None
        try:
            async for chunk in self._stream:
                if chunk.usage is not None and (chunk.usage.prompt_tokens or chunk.usage.completion_tokens):
                    usage = Usage(
                        input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens
                    )
                for choice in chunk.choices:
                    if choice.delta.content:
                        text += choice.delta.content
                        yield choice.delta.content
                    if choice.finish_reason is not None:
                        finish_reason = choice.finish_reason
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if self._cancelled:
                return
            self._count_error("stream")
            raise StreamBrokenError(f"answer stream broke: {type(error).__name__}") from error
        if finish_reason is not None and not self._cancelled:
            ending = _ENDINGS.get(finish_reason, Ending.COMPLETED)
            self._result = CompletedAnswer(text=text, context_handle=None, usage=usage, ending=ending)

    async def cancel(self) -> None:
        self._cancelled = True
        await self._stream.close()

    async def close(self) -> None:
        await self._stream.close()


class StreamingModel(Protocol):
    async def start(self, request: AnswerRequest) -> AnswerStream: ...


class ImageAwareModel:
    """Sends questions about images to the image-capable model and everything else (summaries too)
    to the main one."""

    def __init__(self, text: AnswerModel, vision: StreamingModel | None) -> None:
        self._text = text
        self._vision = vision

    async def start(self, request: AnswerRequest) -> AnswerStream:
        if not request.images:
            return await self._text.start(request)
        if self._vision is None:
            raise ProviderError("no image-capable model is configured", retryable=False, status=400)
        return await self._vision.start(request)

    async def complete(self, request: CompletionRequest) -> CompletedAnswer:
        return await self._text.complete(request)


def _messages(request: AnswerRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": request.instructions}]
    if request.summary:
        messages.append({"role": "system", "content": request.summary})
    for turn in request.replay:
        if turn.role == "user":
            messages.append({"role": "user", "content": labelled(turn.text, turn.author)})
        else:
            messages.append({"role": "assistant", "content": turn.text})
    parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": request.text}]
    for image in request.images:
        encoded = base64.b64encode(image.data).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": f"data:{image.mime_type};base64,{encoded}"}})
    messages.append({"role": "user", "content": parts})
    return messages
