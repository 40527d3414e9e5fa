"""DocumentIndex over Yandex AI Studio Files + Vector Stores (OpenAI-compatible, `openai` client).

Indexing is asynchronous on the provider side: we poll the store's files until each is
`completed` or `failed`, within a deadline. Failures reach core as `ProviderError` (retryable for
429, 5xx, timeouts and lost connections), which core.documents retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import BinaryIO

import openai
from openai import AsyncOpenAI
from openai.types.static_file_chunking_strategy_object_param import StaticFileChunkingStrategyObjectParam

from bot.core.documents import DocumentLimits, IndexedFile, IndexGoneError, IndexQuotaError
from bot.core.errors import ProviderError

log = logging.getLogger(__name__)


class VectorStoreIndex:
    def __init__(self, client: AsyncOpenAI, *, poll_interval: float = 1.0, deadline: float = 600.0) -> None:
        self._client = client
        self._poll_interval = poll_interval
        self._deadline = deadline

    async def upload(self, file_name: str, content: BinaryIO, mime_type: str) -> str:
        async with _translated("upload"):
            uploaded = await self._client.files.create(
                file=(file_name, content, mime_type), purpose="assistants"
            )
        return uploaded.id

    async def create_index(self, name: str, file_ids: Sequence[str], limits: DocumentLimits) -> str:
        try:
            async with _translated("create index"):
                store = await self._client.vector_stores.create(
                    name=name,
                    file_ids=list(file_ids),
                    expires_after={"anchor": "last_active_at", "days": limits.index_ttl_days},
                    chunking_strategy=_chunking(limits),
                )
        except ProviderError as error:
            if isinstance(error.__cause__, openai.APIStatusError) and _is_quota_error(error.__cause__):
                raise IndexQuotaError(str(error.status)) from error.__cause__
            raise
        return store.id

    async def add_files(self, index_id: str, file_ids: Sequence[str], limits: DocumentLimits) -> None:
        # The documented form: `files[]` is required, and each file names its chunking — a file
        # without one gets the default strategy, not the index's (createVectorStoreFileBatch.md).
        chunking = _chunking(limits)
        try:
            async with _translated("add files"):
                await self._client.vector_stores.file_batches.create(
                    index_id,
                    files=[{"file_id": file_id, "chunking_strategy": chunking} for file_id in file_ids],
                )
        except ProviderError as error:
            if error.status == 404:
                raise IndexGoneError(index_id) from error.__cause__
            raise

    async def wait_indexed(self, index_id: str, file_ids: Sequence[str]) -> list[IndexedFile]:
        pending = set(file_ids)
        results: dict[str, IndexedFile] = {}
        started = time.monotonic()
        while pending and time.monotonic() - started < self._deadline:
            for file_id in list(pending):
                try:
                    async with _translated("indexing status"):
                        item = await self._client.vector_stores.files.retrieve(
                            file_id, vector_store_id=index_id
                        )
                except ProviderError as error:
                    if error.status != 404:
                        raise
                    results[file_id] = IndexedFile(file_id, ok=False, error="the file disappeared")
                    pending.discard(file_id)
                    continue
                if item.status == "completed":
                    results[file_id] = IndexedFile(file_id, ok=True)
                    pending.discard(file_id)
                elif item.status in ("failed", "cancelled"):
                    code = item.last_error.code if item.last_error else item.status
                    results[file_id] = IndexedFile(file_id, ok=False, error=code)
                    pending.discard(file_id)
            if pending:
                await asyncio.sleep(self._poll_interval)
        for file_id in pending:
            results[file_id] = IndexedFile(file_id, ok=False, error="timeout")
        return [results[f] for f in file_ids]

    async def remove_file(self, index_id: str, file_id: str) -> None:
        try:
            async with _translated("remove file"):
                await self._client.vector_stores.files.delete(file_id, vector_store_id=index_id)
        except ProviderError as error:
            if error.status != 404:
                raise
            log.info("file already gone from the index")

    async def delete_index(self, index_id: str) -> None:
        try:
            async with _translated("delete index"):
                await self._client.vector_stores.delete(index_id)
        except ProviderError as error:
            if error.status != 404:
                raise
            log.info("index already gone")

    async def delete_file(self, file_id: str) -> None:
        try:
            async with _translated("delete file"):
                await self._client.files.delete(file_id)
        except ProviderError as error:
            if error.status != 404:
                raise
            log.info("file already gone")


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    """The `openai` client's failures as core's ProviderError (the original kept as its cause)."""
    try:
        yield
    except openai.APIStatusError as error:
        status = error.status_code
        retryable = status in (408, 409, 429) or status >= 500
        raise ProviderError(
            f"{what}: provider answered {status}", retryable=retryable, status=status
        ) from error
    except (openai.APIConnectionError, openai.APITimeoutError) as error:
        raise ProviderError(
            f"{what}: provider unreachable ({type(error).__name__})", retryable=True
        ) from error


def _chunking(limits: DocumentLimits) -> StaticFileChunkingStrategyObjectParam:
    return {
        "type": "static",
        "static": {
            "max_chunk_size_tokens": limits.chunk_size_tokens,
            "chunk_overlap_tokens": limits.chunk_overlap_tokens,
        },
    }


def _is_quota_error(error: openai.APIStatusError) -> bool:
    code = str(getattr(error, "code", "") or "").lower()
    return (
        "quota" in code
        or "resource_exhausted" in code
        or (error.status_code == 429 and "quota" in str(error.message).lower())
    )
