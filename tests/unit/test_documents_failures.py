"""The knowledge base when the provider fails: retries, a verdict for every document within the
deadline, no file left behind, nothing "indexing" forever (hand-written fakes of the ports)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from bot.core.answering import RetryPolicy
from bot.core.documents import (
    DocumentLimits,
    DocumentStatus,
    IndexedFile,
    KnowledgeBase,
    KnowledgeBaseService,
)
from bot.core.errors import ProviderError
from tests.unit.test_documents import CHAT, FakeIndex, FakeSource, InMemoryKnowledgeStore, doc

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


@dataclass
class FlakyIndex(FakeIndex):
    """Fails the next calls of the named operations with the given errors, then behaves."""

    failures: dict[str, list[ProviderError]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    hang_indexing: bool = False

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        pending = self.failures.get(operation)
        if pending:
            raise pending.pop(0)

    async def upload(self, file_name: str, content: BinaryIO, mime_type: str) -> str:
        self._maybe_fail("upload")
        return await super().upload(file_name, content, mime_type)

    async def create_index(self, name: str, file_ids: Sequence[str], limits: DocumentLimits) -> str:
        self._maybe_fail("create_index")
        return await super().create_index(name, file_ids, limits)

    async def wait_indexed(self, index_id: str, file_ids: Sequence[str]) -> list[IndexedFile]:
        self._maybe_fail("wait_indexed")
        if self.hang_indexing:
            await asyncio.sleep(60)
        return await super().wait_indexed(index_id, file_ids)


def transient(status: int = 503) -> ProviderError:
    return ProviderError(f"provider answered {status}", retryable=True, status=status)


def kb(
    index: FlakyIndex, limits: DocumentLimits | None = None
) -> tuple[KnowledgeBaseService, InMemoryKnowledgeStore]:
    store = InMemoryKnowledgeStore()
    return KnowledgeBaseService(FakeSource(), index, store, limits or DocumentLimits(), retry=FAST), store


async def test_transient_upload_and_index_failures_are_retried() -> None:
    index = FlakyIndex(failures={"upload": [transient()], "create_index": [transient(429), transient(502)]})
    service, store = kb(index)
    report = await service.ingest(CHAT, [doc("a.txt")])
    assert [d.file_name for d in report.ready] == ["a.txt"] and not report.failed
    assert index.calls.count("upload") == 2 and index.calls.count("create_index") == 3
    assert store.bases[CHAT].documents[0].status is DocumentStatus.READY


async def test_a_document_that_finally_fails_has_a_reason_and_no_file_left() -> None:
    index = FlakyIndex(failures={"create_index": [transient(), transient(), transient()]})
    service, store = kb(index)
    report = await service.ingest(CHAT, [doc("a.txt"), doc("b.txt")])
    assert [(d.file_name, d.error) for d in report.failed] == [
        ("a.txt", "unavailable"),
        ("b.txt", "unavailable"),
    ]
    assert sorted(index.deleted_files) == sorted(index.files)
    assert all(d.provider_file_id is None for d in store.bases[CHAT].documents)


async def test_a_refused_upload_is_not_retried() -> None:
    index = FlakyIndex(
        failures={"upload": [ProviderError("provider answered 400", retryable=False, status=400)]}
    )
    service, _ = kb(index)
    report = await service.ingest(CHAT, [doc("a.txt")])
    assert [(d.file_name, d.error) for d in report.failed] == [("a.txt", "rejected")]
    assert index.calls.count("upload") == 1


async def test_files_that_fail_indexing_are_removed_from_the_index_and_deleted() -> None:
    index = FlakyIndex(unreadable={"bad.txt"})
    service, store = kb(index)
    report = await service.ingest(CHAT, [doc("good.txt"), doc("bad.txt")])
    assert [d.file_name for d in report.failed] == ["bad.txt"]
    [bad_id] = [f for f, name in index.files.items() if name == "bad.txt"]
    assert index.deleted_files == [bad_id]
    index_id = store.bases[CHAT].index_id
    assert index_id is not None and bad_id not in index.indexes[index_id]


async def test_every_document_gets_a_verdict_within_the_deadline() -> None:
    index = FlakyIndex(hang_indexing=True)
    service, store = kb(index, DocumentLimits(indexing_deadline=0.2))
    report = await asyncio.wait_for(service.ingest(CHAT, [doc("a.txt")]), timeout=5)
    assert [(d.file_name, d.error) for d in report.failed] == [("a.txt", "timeout")]
    assert index.deleted_files, "the uploaded file of the timed-out document was deleted"
    assert store.bases[CHAT].documents[0].status is DocumentStatus.FAILED


async def test_a_document_left_indexing_by_a_lost_ingestion_is_failed_when_read() -> None:
    clock = [1000.0]
    store = InMemoryKnowledgeStore()
    service = KnowledgeBaseService(
        FakeSource(), FlakyIndex(), store, DocumentLimits(indexing_deadline=60), clock=lambda: clock[0]
    )
    await service.ingest(CHAT, [doc("a.txt")])
    [record] = store.bases[CHAT].documents
    store.bases[CHAT] = KnowledgeBase(documents=(replace(record, status=DocumentStatus.INDEXING),))
    assert (await service.load(CHAT)).documents[0].status is DocumentStatus.INDEXING, (
        "still within the deadline"
    )
    clock[0] = record.added_at + 60 + 121
    [stale] = (await service.load(CHAT)).documents
    assert (stale.status, stale.error) == (DocumentStatus.FAILED, "timeout")
    assert store.bases[CHAT].documents[0].status is DocumentStatus.FAILED, "and it is recorded so"
