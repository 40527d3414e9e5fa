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

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import PurePosixPath
from typing import BinaryIO, Protocol

from bot.core.models import ConversationKey

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_documents: int = 20
    index_ttl_days: int = 7
    chunk_size_tokens: int = 800
    chunk_overlap_tokens: int = 400
    reclaim_idle_indexes: bool = False


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
        """Download a document into a file object (spooled to disk when large)."""
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

    async def idlest_with_index(self, exclude: ConversationKey) -> ConversationKey | None: ...


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
    ) -> None:
        self._source = source
        self._index = index
        self._store = store
        self.limits = limits

    async def load(self, key: ConversationKey) -> KnowledgeBase:
        return await self._store.load(key)

    async def ingest(self, key: ConversationKey, documents: Sequence[IncomingDocument]) -> IngestReport:
        """Upload already validated documents and wait until they are searchable (or failed)."""
        report = IngestReport()
        base = await self._store.load(key)
        # Safe to run again for the same documents (a replica died mid-ingest): their unfinished
        # records are replaced, ready ones are kept as they are.
        ready = {d.file_ref for d in base.documents if d.status is DocumentStatus.READY}
        documents = [d for d in documents if d.file_ref not in ready]
        refs = {d.file_ref for d in documents}
        base = replace(base, documents=tuple(d for d in base.documents if d.file_ref not in refs))
        records = [_new_record(d) for d in documents]
        base = replace(base, documents=(*base.documents, *records))
        await self._store.save(key, base)

        uploaded: list[DocumentRecord] = []
        for record in records:
            try:
                file_id = await self._upload(record)
            except DocumentFetchError as error:
                failed = replace(record, status=DocumentStatus.FAILED, error=str(error) or "download failed")
                base = _with_record(base, failed)
                report.failed.append(failed)
                continue
            uploaded.append(replace(record, provider_file_id=file_id))
        if not uploaded:
            await self._store.save(key, base)
            return report
        for record in uploaded:
            base = _with_record(base, record)

        file_ids = [r.provider_file_id for r in uploaded if r.provider_file_id]
        try:
            base = await self._attach(key, base, file_ids)
        except IndexQuotaError:
            report.quota_exceeded = True
            failed_records = [replace(r, status=DocumentStatus.FAILED, error="quota") for r in uploaded]
            for record in failed_records:
                base = _with_record(base, record)
                if record.provider_file_id:
                    await self._index.delete_file(record.provider_file_id)
            report.failed.extend(failed_records)
            await self._store.save(key, base)
            return report
        assert base.index_id is not None
        results = {r.provider_file_id: r for r in await self._index.wait_indexed(base.index_id, file_ids)}
        for record in uploaded:
            result = results.get(record.provider_file_id or "")
            if result is not None and result.ok:
                done = replace(record, status=DocumentStatus.READY)
                report.ready.append(done)
            else:
                reason = result.error if result is not None else "indexing did not finish"
                done = replace(record, status=DocumentStatus.FAILED, error=reason)
                report.failed.append(done)
            base = _with_record(base, done)
        await self._store.save(key, base)
        await self._store.touch(key)
        return report

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
                await self._index.delete_file(record.provider_file_id)
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
            if base.index_id is not None:
                await self._index.remove_file(base.index_id, record.provider_file_id)
            await self._index.delete_file(record.provider_file_id)
        if not remaining and base.index_id is not None:
            await self._index.delete_index(base.index_id)
            await self._store.delete(key)
        else:
            await self._store.save(key, replace(base, documents=remaining))
        return record

    async def forget(self, key: ConversationKey) -> int:
        base = await self._store.load(key)
        for record in base.documents:
            if record.provider_file_id:
                await self._index.delete_file(record.provider_file_id)
        if base.index_id is not None:
            await self._index.delete_index(base.index_id)
        await self._store.delete(key)
        return len(base.documents)

    async def _upload(self, record: DocumentRecord) -> str:
        content = await self._source.fetch(record.file_ref)
        try:
            return await self._index.upload(record.file_name, content, record.mime_type)
        finally:
            content.close()

    async def _attach(self, key: ConversationKey, base: KnowledgeBase, file_ids: list[str]) -> KnowledgeBase:
        if base.index_id is not None:
            try:
                await self._index.add_files(base.index_id, file_ids, self.limits)
                return base
            except IndexGoneError:
                log.info("the chat's index expired; creating a new one")
        name = f"telegram-{key.as_path()}"
        try:
            index_id = await self._index.create_index(name, file_ids, self.limits)
        except IndexQuotaError:
            log.error("index quota exhausted: the provider refused a new search index")
            if not self.limits.reclaim_idle_indexes or not await self._reclaim_one(key):
                raise
            index_id = await self._index.create_index(name, file_ids, self.limits)
        base = replace(base, index_id=index_id)
        await self._store.save(key, base)
        return base

    async def _reclaim_one(self, requester: ConversationKey) -> bool:
        victim = await self._store.idlest_with_index(exclude=requester)
        if victim is None:
            return False
        base = await self._store.load(victim)
        if base.index_id is not None:
            log.warning("reclaiming the index of the chat idle longest to make room")
            await self._index.delete_index(base.index_id)
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
