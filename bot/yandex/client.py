"""Builds the OpenAI-compatible client for Yandex AI Studio. Called only from bot.wiring."""

from __future__ import annotations

from openai import AsyncOpenAI


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
    """Do now what the client otherwise does lazily on the first answer: import and build its
    resources (done mid-answer, that blocks the event loop — every chat stalls, and lane heartbeats
    come late). Answer streams are read without the client's event models, so none are built."""
    resources = (
        client.responses.with_streaming_response,
        client.conversations,
        client.files,
        client.vector_stores,
        client.models,
    )
    assert all(resource is not None for resource in resources)
