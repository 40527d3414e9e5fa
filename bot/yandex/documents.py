"""DocumentIndex over Yandex AI Studio Files + Vector Stores (OpenAI-compatible, `openai` client).

Indexing is asynchronous on the provider side: we poll the store's files until each is
`completed` or `failed`, within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import BinaryIO

import openai
from openai import AsyncOpenAI
from openai.types.static_file_chunking_strategy_object_param import StaticFileChunkingStrategyObjectParam

from bot.core.documents import DocumentLimits, IndexedFile, IndexGoneError, IndexQuotaError

log = logging.getLogger(__name__)


class VectorStoreIndex:
    def __init__(self, client: AsyncOpenAI, *, poll_interval: float = 1.0, deadline: float = 600.0) -> None:
        self._client = client
        self._poll_interval = poll_interval
        self._deadline = deadline

    async def upload(self, file_name: str, content: BinaryIO, mime_type: str) -> str:
        uploaded = await self._client.files.create(file=(file_name, content, mime_type), purpose="assistants")
        return uploaded.id

    async def create_index(self, name: str, file_ids: Sequence[str], limits: DocumentLimits) -> str:
        try:
            store = await self._client.vector_stores.create(
                name=name,
                file_ids=list(file_ids),
                expires_after={"anchor": "last_active_at", "days": limits.index_ttl_days},
                chunking_strategy=_chunking(limits),
            )
        except openai.APIStatusError as error:
            if _is_quota_error(error):
                raise IndexQuotaError(str(error.status_code)) from error
            raise
        return store.id

    async def add_files(self, index_id: str, file_ids: Sequence[str], limits: DocumentLimits) -> None:
        # The documented form: `files[]` is required, and each file names its chunking — a file
        # without one gets the default strategy, not the index's (createVectorStoreFileBatch.md).
        chunking = _chunking(limits)
        try:
            await self._client.vector_stores.file_batches.create(
                index_id, files=[{"file_id": file_id, "chunking_strategy": chunking} for file_id in file_ids]
            )
        except openai.NotFoundError as error:
            raise IndexGoneError(index_id) from error

    async def wait_indexed(self, index_id: str, file_ids: Sequence[str]) -> list[IndexedFile]:
        pending = set(file_ids)
        results: dict[str, IndexedFile] = {}
        started = time.monotonic()
        while pending and time.monotonic() - started < self._deadline:
            for file_id in list(pending):
                try:
                    item = await self._client.vector_stores.files.retrieve(file_id, vector_store_id=index_id)
                except openai.NotFoundError:
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
            await self._client.vector_stores.files.delete(file_id, vector_store_id=index_id)
        except openai.NotFoundError:
            log.info("file already gone from the index")

    async def delete_index(self, index_id: str) -> None:
        try:
            await self._client.vector_stores.delete(index_id)
        except openai.NotFoundError:
            log.info("index already gone")

    async def delete_file(self, file_id: str) -> None:
        try:
            await self._client.files.delete(file_id)
        except openai.NotFoundError:
            log.info("file already gone")


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
