"""A chat's knowledge base: validate, ingest, list, delete and forget documents; find the index to search.

Rules:
- Validate first (type by extension and MIME type, size, per-chat count); nothing is uploaded for a
  refused file, and each refusal names its reason and limit.
- The chat's index (a provider vector store) is created lazily with the first document and
  expires when idle; later documents join it in one batch per album.
- A chat only ever searches its own index. When the provider has expired the index or its files,
  they are rebuilt from the Telegram file ids we recorded, the next time they are needed.
- When the provider refuses a new index for quota reasons, the user is told clearly and, if the
  operator allows it, the index of the chat idle longest is reclaimed to make room.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import PurePosixPath
from typing import BinaryIO, Protocol

from bot.core.answering import RetryPolicy
from bot.core.errors import ProviderError
from bot.core.models import ConversationKey
from bot.core.retry import Backoff, retrying

log = logging.getLogger(__name__)

# A document still "indexing" this long after its ingestion's deadline lost its ingestion for good.
ABANDONED_GRACE_S = 120.0
# Removing a failed document's file is best effort, and must never hold up the status message long.
CLEANUP_TIMEOUT_S = 30.0
DEFAULT_RETRY = RetryPolicy()  # as answers: 3 attempts, jittered exponential backoff

# Types Yandex AI Studio indexes, by extension: the MIME type a file is uploaded with, always one of
# Yandex's list (`_includes/ai-studio/searchindex-filetypes.md`; PPTX is not on it).
UPLOAD_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "rtf": "application/rtf",
    "csv": "text/csv",
    "html": "text/html",
    "htm": "text/html",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "txt": "text/plain",
    "xml": "text/xml",
    "json": "application/json",
    "tex": "application/x-latex",
}
# What a Telegram client may declare for each extension besides Yandex's type: these are accepted
# (and uploaded as the extension's Yandex type), anything else specific is refused.
DECLARED_ALIASES: dict[str, frozenset[str]] = {
    "rtf": frozenset({"text/rtf"}),
    "html": frozenset({"application/xhtml+xml"}),
    "htm": frozenset({"application/xhtml+xml"}),
    "md": frozenset({"text/x-markdown"}),
    "markdown": frozenset({"text/x-markdown"}),
    "xml": frozenset({"application/xml"}),
    "tex": frozenset({"application/x-tex", "text/x-tex"}),
}
SUPPORTED_TYPES: dict[str, frozenset[str]] = {
    ext: frozenset({upload, *DECLARED_ALIASES.get(ext, ())}) for ext, upload in UPLOAD_TYPES.items()
}
# Telegram clients often send a generic or platform-specific MIME type; the extension decides then.
GENERIC_MIME_TYPES = frozenset({"", "application/octet-stream", "text/plain", "binary/octet-stream"})


class DocumentStatus(StrEnum):
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


class Refusal(StrEnum):
    UNSUPPORTED_TYPE = "unsupported_type"
    TOO_BIG = "too_big"
    TOO_MANY = "too_many"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    """A document as Telegram announced it, before anything is downloaded."""

    file_ref: str  # Telegram file_id: lets us download it again to rebuild an expired index
    file_name: str
    mime_type: str | None
    size: int | None
    uploaded_by: int | None = None


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    doc_id: str
    file_ref: str
    file_name: str
    mime_type: str
    size: int
    status: DocumentStatus
    added_at: float
    uploaded_by: int | None = None
    provider_file_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    index_id: str | None = None
    documents: tuple[DocumentRecord, ...] = ()

    @property
    def ready(self) -> tuple[DocumentRecord, ...]:
        return tuple(d for d in self.documents if d.status is DocumentStatus.READY)

    @property
    def fingerprint(self) -> str:
        """Names exactly which documents the base holds, shortly: a confirmation shown to the user
        carries it, so that confirming deletes what was listed and nothing added since."""
        listed = ",".join(sorted(d.doc_id for d in self.documents))
        return hashlib.sha256(listed.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_documents: int = 20
    index_ttl_days: int = 7
    chunk_size_tokens: int = 800
    chunk_overlap_tokens: int = 400
    reclaim_idle_indexes: bool = False
    indexing_deadline: float = 600.0  # seconds from the start of an ingestion to its last document's verdict


@dataclass(frozen=True, slots=True)
class Rejected:
    document: IncomingDocument
    reason: Refusal


@dataclass(frozen=True, slots=True)
class SearchTarget:
    """The chat's index for answering. `has_documents` without an `index_id`: the index was
    reclaimed and must be rebuilt before it can be searched."""

    index_id: str | None
    has_documents: bool


@dataclass(frozen=True, slots=True)
class IndexedFile:
    provider_file_id: str
    ok: bool
    error: str | None = None


class IndexQuotaError(Exception):
    """The provider refuses to create one more index (quota of indexes per cloud)."""


class IndexGoneError(Exception):
    """The provider no longer has the index (expired or deleted)."""


class DocumentFetchError(Exception):
    """The document could not be downloaded from the messenger."""


class DocumentSource(Protocol):
    async def fetch(self, file_ref: str) -> BinaryIO:
        """Download a document into a file object (on disk when large)."""
        ...


class DocumentIndex(Protocol):
    async def upload(self, file_name: str, content: BinaryIO, mime_type: str) -> str: ...

    async def create_index(self, name: str, file_ids: Sequence[str], limits: DocumentLimits) -> str: ...

    async def add_files(self, index_id: str, file_ids: Sequence[str], limits: DocumentLimits) -> None:
        """Add files to an existing index, each with the chat's chunking (`limits`)."""
        ...

    async def wait_indexed(self, index_id: str, file_ids: Sequence[str]) -> list[IndexedFile]: ...

    async def remove_file(self, index_id: str, file_id: str) -> None: ...

    async def delete_index(self, index_id: str) -> None: ...

    async def delete_file(self, file_id: str) -> None: ...


class KnowledgeBaseStore(Protocol):
    async def load(self, key: ConversationKey) -> KnowledgeBase: ...

    async def save(self, key: ConversationKey, base: KnowledgeBase) -> None: ...

    async def delete(self, key: ConversationKey) -> None: ...

    async def touch(self, key: ConversationKey) -> None:
        """Record that the chat used its index now (for reclaiming the idle ones)."""

    async def idlest_with_index(self, exclude: ConversationKey) -> ConversationKey | None:
        """The chat idle longest (other than `exclude`) whose record still names an index."""
        ...


def validate(
    documents: Sequence[IncomingDocument], existing: int, limits: DocumentLimits
) -> tuple[list[IncomingDocument], list[Rejected]]:
    accepted: list[IncomingDocument] = []
    rejected: list[Rejected] = []
    for document in documents:
        reason = _refusal(document, limits)
        if reason is None and existing + len(accepted) >= limits.max_documents:
            reason = Refusal.TOO_MANY
        if reason is None:
            accepted.append(document)
        else:
            rejected.append(Rejected(document, reason))
    return accepted, rejected


def _refusal(document: IncomingDocument, limits: DocumentLimits) -> Refusal | None:
    if mime_type_for(document) is None:
        return Refusal.UNSUPPORTED_TYPE
    if document.size is not None and document.size > limits.max_bytes:
        return Refusal.TOO_BIG
    if document.size == 0:
        return Refusal.EMPTY
    return None


def mime_type_for(document: IncomingDocument) -> str | None:
    """The MIME type to upload with (from Yandex's list, by extension), or None when the type is not
    supported: an unknown extension, or a declared type that contradicts it."""
    extension = PurePosixPath(document.file_name.lower()).suffix.lstrip(".")
    accepted = SUPPORTED_TYPES.get(extension)
    if accepted is None:
        return None
    declared = (document.mime_type or "").lower()
    if declared in accepted or declared in GENERIC_MIME_TYPES or declared.startswith("text/"):
        return UPLOAD_TYPES[extension]
    return None


@dataclass
class IngestReport:
    ready: list[DocumentRecord] = field(default_factory=list)
    failed: list[DocumentRecord] = field(default_factory=list)
    quota_exceeded: bool = False


class KnowledgeBaseService:
    def __init__(
        self,
        source: DocumentSource,
        index: DocumentIndex,
        store: KnowledgeBaseStore,
        limits: DocumentLimits,
        retry: Backoff = DEFAULT_RETRY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`retry`: how transient provider failures (uploads, index calls) are retried."""
        self._source = source
        self._index = index
        self._store = store
        self.limits = limits
        self._retry = retry
        self._clock = clock

    async def load(self, key: ConversationKey) -> KnowledgeBase:
        """The chat's documents. One still "indexing" past the deadline lost its ingestion (a replica
        died, its job expired): it is failed now, so nothing shows "indexing" forever."""
        base = await self._store.load(key)
        abandoned_before = self._clock() - self.limits.indexing_deadline - ABANDONED_GRACE_S
        stale = [
            d for d in base.documents if d.status is DocumentStatus.INDEXING and d.added_at < abandoned_before
        ]
        if not stale:
            return base
        log.warning("%d documents were left indexing past the deadline; marking them failed", len(stale))
        for record in stale:
            base = _with_record(base, replace(record, status=DocumentStatus.FAILED, error="timeout"))
        await self._store.save(key, base)
        return base

    async def ingest(self, key: ConversationKey, documents: Sequence[IncomingDocument]) -> IngestReport:
        """Upload already validated documents and wait until they are searchable — or failed, with
        the reason: transient provider failures are retried, the whole ingestion is bounded by the
        indexing deadline, and a failed document leaves no file behind at the provider."""
        base = await self._store.load(key)
        # Safe to run again for the same documents (a replica died mid-ingest): their unfinished
        # records are replaced, ready ones are kept as they are.
        ready = {d.file_ref for d in base.documents if d.status is DocumentStatus.READY}
        documents = [d for d in documents if d.file_ref not in ready]
        refs = {d.file_ref for d in documents}
        base = replace(base, documents=tuple(d for d in base.documents if d.file_ref not in refs))
        run = _Ingestion(records=[_new_record(d) for d in documents])
        base = replace(base, documents=(*base.documents, *run.records))
        await self._store.save(key, base)
        run.base = base
        try:
            async with asyncio.timeout(self.limits.indexing_deadline):
                await self._index_all(key, run)
        except TimeoutError:
            log.warning("indexing did not finish within %.0fs", self.limits.indexing_deadline)
            run.fail_unfinished("timeout")
        except asyncio.CancelledError:
            # Shutdown (or the lane going to another replica): what is unfinished is left as it
            # is, for the run that resumes it; the deadline on read catches an abandoned one.
            raise
        run.fail_unfinished("interrupted")
        await self._discard_failed(run)
        for record in run.records:
            run.base = _with_record(run.base, record)
        await self._store.save(key, run.base)
        if run.base.index_id is not None:
            await self._store.touch(key)
        return run.report()

    async def _index_all(self, key: ConversationKey, run: _Ingestion) -> None:
        for record in run.records:
            try:
                file_id = await self._upload_retrying(record)
            except DocumentFetchError as error:
                run.finish(record, DocumentStatus.FAILED, str(error) or "download")
            except ProviderError as error:
                log.warning("upload failed: %s", error)
                run.finish(record, DocumentStatus.FAILED, _reason(error))
            else:
                run.update(replace(record, provider_file_id=file_id))
        uploaded = run.uploaded()
        if not uploaded:
            return
        file_ids = [r.provider_file_id for r in uploaded if r.provider_file_id]
        try:
            run.base = await self._attach(key, run.base, file_ids)
        except IndexQuotaError:
            run.quota_exceeded = True
            for record in uploaded:
                run.finish(record, DocumentStatus.FAILED, "quota")
            return
        except ProviderError as error:
            log.warning("adding documents to the index failed: %s", error)
            for record in uploaded:
                run.finish(record, DocumentStatus.FAILED, _reason(error))
            return
        run.attached = True
        index_id = run.base.index_id
        assert index_id is not None
        try:
            indexed = await retrying(
                lambda: self._index.wait_indexed(index_id, file_ids), self._retry, "indexing status"
            )
        except ProviderError as error:
            log.warning("reading the indexing status failed: %s", error)
            for record in uploaded:
                run.finish(record, DocumentStatus.FAILED, _reason(error))
            return
        results = {r.provider_file_id: r for r in indexed}
        for record in uploaded:
            result = results.get(record.provider_file_id or "")
            if result is not None and result.ok:
                run.finish(record, DocumentStatus.READY)
            else:
                run.finish(record, DocumentStatus.FAILED, result.error if result else "timeout")

    async def _discard_failed(self, run: _Ingestion) -> None:
        """Failed documents keep no file at the provider: out of the index, then deleted."""
        index_id = run.base.index_id if run.attached else None
        for record in run.records:
            if record.status is not DocumentStatus.FAILED or record.provider_file_id is None:
                continue
            try:
                async with asyncio.timeout(CLEANUP_TIMEOUT_S):
                    await self._discard_file(index_id, record.provider_file_id)
            except (ProviderError, TimeoutError) as error:
                log.warning("could not delete the file of a failed document: %s", type(error).__name__)
                continue
            run.update(replace(record, provider_file_id=None))

    async def _discard_file(self, index_id: str | None, file_id: str) -> None:
        if index_id is not None:
            await retrying(lambda: self._index.remove_file(index_id, file_id), self._retry, "removing a file")
        await retrying(lambda: self._index.delete_file(file_id), self._retry, "deleting a file")

    async def search_target(self, key: ConversationKey) -> SearchTarget:
        """Which index the chat's next answer should search (see SearchTarget)."""
        base = await self._store.load(key)
        if not base.ready:
            return SearchTarget(index_id=None, has_documents=False)
        if base.index_id is not None:
            await self._store.touch(key)
        return SearchTarget(index_id=base.index_id, has_documents=True)

    async def rebuild(self, key: ConversationKey) -> IngestReport:
        """Re-upload the chat's ready documents from their Telegram file ids into a new index."""
        base = await self._store.load(key)
        documents = [
            IncomingDocument(d.file_ref, d.file_name, d.mime_type, d.size, d.uploaded_by) for d in base.ready
        ]
        for record in base.documents:
            if record.provider_file_id:
                await self._discard_quietly(None, record.provider_file_id)
        await self._store.save(key, KnowledgeBase())
        log.info("rebuilding an expired index from %d documents", len(documents))
        return await self.ingest(key, documents)

    async def delete(self, key: ConversationKey, doc_id: str) -> DocumentRecord | None:
        base = await self._store.load(key)
        record = next((d for d in base.documents if d.doc_id == doc_id), None)
        if record is None:
            return None
        remaining = tuple(d for d in base.documents if d.doc_id != doc_id)
        if record.provider_file_id:
            await self._discard_quietly(base.index_id, record.provider_file_id)
        if not remaining and base.index_id is not None:
            await self._delete_index_quietly(base.index_id)
            await self._store.delete(key)
        else:
            await self._store.save(key, replace(base, documents=remaining))
        return record

    async def forget(self, key: ConversationKey, *, listed: str | None = None) -> int | None:
        """Delete every document and the index; the number deleted. With `listed` (a fingerprint the
        user confirmed), nothing happens and None is returned when the documents changed since."""
        base = await self._store.load(key)
        if listed is not None and listed != base.fingerprint:
            return None
        for record in base.documents:
            if record.provider_file_id:
                await self._discard_quietly(None, record.provider_file_id)
        if base.index_id is not None:
            await self._delete_index_quietly(base.index_id)
        await self._store.delete(key)
        return len(base.documents)

    async def _discard_quietly(self, index_id: str | None, file_id: str) -> None:
        """Deleting at the provider is best effort once the user asked: the records go regardless
        (the index expires by itself; a file left behind is logged)."""
        try:
            await self._discard_file(index_id, file_id)
        except ProviderError as error:
            log.warning("could not delete a document's file at the provider: %s", error)

    async def _delete_index_quietly(self, index_id: str) -> None:
        try:
            await retrying(lambda: self._index.delete_index(index_id), self._retry, "deleting an index")
        except ProviderError as error:
            log.warning("could not delete an index at the provider: %s", error)

    async def _upload_retrying(self, record: DocumentRecord) -> str:
        return await retrying(lambda: self._upload(record), self._retry, "upload")

    async def _upload(self, record: DocumentRecord) -> str:
        content = await self._source.fetch(record.file_ref)
        try:
            return await self._index.upload(record.file_name, content, record.mime_type)
        finally:
            content.close()

    async def _attach(self, key: ConversationKey, base: KnowledgeBase, file_ids: list[str]) -> KnowledgeBase:
        if base.index_id is not None:
            index_id = base.index_id
            try:
                await retrying(
                    lambda: self._index.add_files(index_id, file_ids, self.limits),
                    self._retry,
                    "adding files",
                )
                return base
            except IndexGoneError:
                log.info("the chat's index expired; creating a new one")
        name = f"telegram-{key.as_path()}"

        async def create() -> str:
            return await retrying(
                lambda: self._index.create_index(name, file_ids, self.limits),
                self._retry,
                "creating an index",
            )

        try:
            index_id = await create()
        except IndexQuotaError:
            log.error("index quota exhausted: the provider refused a new search index")
            if not self.limits.reclaim_idle_indexes or not await self._reclaim_one(key):
                raise
            index_id = await create()
        base = replace(base, index_id=index_id)
        await self._store.save(key, base)
        return base

    async def _reclaim_one(self, requester: ConversationKey) -> bool:
        victim = await self._store.idlest_with_index(exclude=requester)
        if victim is None:
            return False
        base = await self._store.load(victim)
        if base.index_id is None:
            return False  # gone meanwhile: nothing was freed, so nothing is retried
        log.warning("reclaiming the index of the chat idle longest to make room")
        await self._delete_index_quietly(base.index_id)
        # The documents stay recorded: the index is rebuilt from their file ids when needed.
        await self._store.save(victim, replace(base, index_id=None))
        return True


def _new_record(document: IncomingDocument) -> DocumentRecord:
    return DocumentRecord(
        doc_id=uuid.uuid4().hex[:12],
        file_ref=document.file_ref,
        file_name=document.file_name,
        mime_type=mime_type_for(document) or "application/octet-stream",
        size=document.size or 0,
        status=DocumentStatus.INDEXING,
        added_at=time.time(),
        uploaded_by=document.uploaded_by,
    )


def _with_record(base: KnowledgeBase, record: DocumentRecord) -> KnowledgeBase:
    return replace(base, documents=tuple(record if d.doc_id == record.doc_id else d for d in base.documents))


@dataclass
class _Ingestion:
    """One ingestion's records as they progress (in order), and what it learnt on the way."""

    records: list[DocumentRecord]
    base: KnowledgeBase = field(default_factory=KnowledgeBase)
    attached: bool = False  # the uploaded files were added to the index
    quota_exceeded: bool = False

    def update(self, record: DocumentRecord) -> None:
        self.records = [record if r.doc_id == record.doc_id else r for r in self.records]

    def finish(self, record: DocumentRecord, status: DocumentStatus, error: str | None = None) -> None:
        current = next(r for r in self.records if r.doc_id == record.doc_id)
        self.update(replace(current, status=status, error=error))

    def uploaded(self) -> list[DocumentRecord]:
        return [r for r in self.records if r.status is DocumentStatus.INDEXING and r.provider_file_id]

    def fail_unfinished(self, reason: str) -> None:
        for record in self.records:
            if record.status is DocumentStatus.INDEXING:
                self.finish(record, DocumentStatus.FAILED, reason)

    def report(self) -> IngestReport:
        return IngestReport(
            ready=[r for r in self.records if r.status is DocumentStatus.READY],
            failed=[r for r in self.records if r.status is DocumentStatus.FAILED],
            quota_exceeded=self.quota_exceeded,
        )


def _reason(error: ProviderError) -> str:
    """What a provider failure means for the user: try later, or the file was refused."""
    return "unavailable" if error.retryable else "rejected"
