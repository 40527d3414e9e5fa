"""Builds the OpenAI-compatible client for Yandex AI Studio. Called only from bot.wiring."""

from __future__ import annotations

from openai import AsyncOpenAI
from openai._models import construct_type  # the client's own event parser, warmed up below
from openai.types.responses import ResponseStreamEvent


def model_uri(folder_id: str, model: str) -> str:
    """Yandex wants the model as a full URI with the folder: gpt://<folder>/<model>."""
    if model.startswith("gpt://"):
        return model
    return f"gpt://{folder_id}/{model}"


def build_openai_client(*, api_key: str, folder_id: str, base_url: str, timeout: float) -> AsyncOpenAI:
    # Retries are ours (core.answering): the client must not retry behind our back, or a stream
    # could be restarted after the user already saw text.
    return AsyncOpenAI(api_key=api_key, project=folder_id, base_url=base_url, max_retries=0, timeout=timeout)


def warm_up(client: AsyncOpenAI) -> None:
    """Do now what the client otherwise does lazily on the first answer: import its resources and
    build the pydantic schemas of every stream event type. Done mid-answer, that blocks the event
    loop for a second or two — every chat stalls, and lane heartbeats come late."""
    resources = (client.responses, client.conversations, client.files, client.vector_stores, client.models)
    assert all(resource is not None for resource in resources)
    delta = {"type": "response.output_text.delta", "delta": "", "item_id": "", "output_index": 0}
    construct_type(type_=ResponseStreamEvent, value={**delta, "content_index": 0, "sequence_number": 0})
