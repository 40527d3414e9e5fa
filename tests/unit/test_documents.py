"""The knowledge-base use cases against hand-written fakes of their ports."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import pytest

from bot.core.documents import (
    DocumentFetchError,
    DocumentLimits,
    DocumentStatus,
    IncomingDocument,
    IndexedFile,
    IndexGoneError,
    IndexQuotaError,
    KnowledgeBase,
    KnowledgeBaseService,
    Refusal,
    mime_type_for,
    validate,
)
from bot.core.models import ConversationKey

CHAT = ConversationKey(chat_id=1)
OTHER = ConversationKey(chat_id=2)


def doc(
    name: str, mime: str | None = "text/plain", size: int | None = 100, ref: str | None = None
) -> IncomingDocument:
    return IncomingDocument(
        file_ref=ref or f"tg-{name}", file_name=name, mime_type=mime, size=size, uploaded_by=7
    )


@dataclass
class FakeSource:
    contents: dict[str, bytes] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    async def fetch(self, file_ref: str) -> BinaryIO:
        if file_ref in self.broken:
            raise DocumentFetchError("download")
        return io.BytesIO(self.contents.get(file_ref, b"some text"))


@dataclass
class FakeIndex:
    """Enough of a vector-store service to watch what the use case does with it."""

    quota: int = 10
    unreadable: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)  # file id -> name
    indexes: dict[str, set[str]] = field(default_factory=dict)
    deleted_files: list[str] = field(default_factory=list)
    batch_limits: list[DocumentLimits] = field(default_factory=list)
    counter: int = 0

    def _new(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    async def upload(self, file_name: str, content: BinaryIO, mime_type: str) -> str:
        file_id = self._new("file")
        self.files[file_id] = file_name
        return file_id

    async def create_index(self, name: str, file_ids: Sequence[str], limits: DocumentLimits) -> str:
        if len(self.indexes) >= self.quota:
            raise IndexQuotaError("quota")
        index_id = self._new("vs")
        self.indexes[index_id] = set(file_ids)
        return index_id

    async def add_files(self, index_id: str, file_ids: Sequence[str], limits: DocumentLimits) -> None:
        self.batch_limits.append(limits)
        if index_id not in self.indexes:
            raise IndexGoneError(index_id)
        self.indexes[index_id].update(file_ids)

    async def wait_indexed(self, index_id: str, file_ids: Sequence[str]) -> list[IndexedFile]:
        return [
            IndexedFile(
                f,
                ok=self.files[f] not in self.unreadable,
                error=None if self.files[f] not in self.unreadable else "invalid_file",
            )
            for f in file_ids
        ]

    async def remove_file(self, index_id: str, file_id: str) -> None:
        self.indexes[index_id].discard(file_id)

    async def delete_index(self, index_id: str) -> None:
        self.indexes.pop(index_id, None)

    async def delete_file(self, file_id: str) -> None:
        self.deleted_files.append(file_id)


@dataclass
class InMemoryKnowledgeStore:
    bases: dict[ConversationKey, KnowledgeBase] = field(default_factory=dict)
    activity: dict[ConversationKey, float] = field(default_factory=dict)
    clock: float = 0.0

    async def load(self, key: ConversationKey) -> KnowledgeBase:
        return self.bases.get(key, KnowledgeBase())

    async def save(self, key: ConversationKey, base: KnowledgeBase) -> None:
        self.bases[key] = base
        if base.index_id is None:
            self.activity.pop(key, None)

    async def delete(self, key: ConversationKey) -> None:
        self.bases.pop(key, None)
        self.activity.pop(key, None)

    async def touch(self, key: ConversationKey) -> None:
        self.clock += 1
        self.activity[key] = self.clock

    async def idlest_with_index(self, exclude: ConversationKey) -> ConversationKey | None:
        candidates = sorted((t, k.chat_id, k) for k, t in self.activity.items() if k != exclude)
        return candidates[0][2] if candidates else None


def service(
    limits: DocumentLimits | None = None, **index_args: object
) -> tuple[KnowledgeBaseService, FakeIndex, InMemoryKnowledgeStore, FakeSource]:
    index = FakeIndex(**index_args)  # type: ignore[arg-type]
    store = InMemoryKnowledgeStore()
    source = FakeSource()
    return KnowledgeBaseService(source, index, store, limits or DocumentLimits()), index, store, source


@pytest.mark.parametrize(
    ("name", "mime", "expected"),
    [
        ("notes.md", "text/markdown", "text/markdown"),
        ("notes.md", "application/octet-stream", "text/markdown"),
        ("notes.md", None, "text/markdown"),
        ("report.PDF", "application/pdf", "application/pdf"),
        (
            "table.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        # Declared types outside Yandex's list are uploaded as the extension's listed type.
        ("data.xml", "application/xml", "text/xml"),
        ("data.xml", None, "text/xml"),
        ("notes.md", "text/x-markdown", "text/markdown"),
        ("letter.rtf", "text/rtf", "application/rtf"),
        ("paper.tex", "application/x-tex", "application/x-latex"),
        ("paper.tex", "text/x-tex", "application/x-latex"),
        ("page.html", "application/xhtml+xml", "text/html"),
        ("slides.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", None),
        ("photo.jpg", "image/jpeg", None),
        ("virus.exe", "application/octet-stream", None),
        ("report.pdf", "image/png", None),  # extension and type disagree
    ],
)
def test_supported_types_follow_extension_and_mime_type(
    name: str, mime: str | None, expected: str | None
) -> None:
    assert mime_type_for(doc(name, mime)) == expected


def test_validation_names_the_reason_for_each_refusal() -> None:
    limits = DocumentLimits(max_bytes=1000, max_documents=3)
    documents = [
        doc("a.txt"),
        doc("b.jpg", "image/jpeg"),
        doc("c.txt", size=5000),
        doc("d.txt", size=0),
        doc("e.txt"),
        doc("f.txt"),
    ]
    accepted, rejected = validate(documents, existing=1, limits=limits)
    assert [d.file_name for d in accepted] == ["a.txt", "e.txt"]
    assert [(r.document.file_name, r.reason) for r in rejected] == [
        ("b.jpg", Refusal.UNSUPPORTED_TYPE),
        ("c.txt", Refusal.TOO_BIG),
        ("d.txt", Refusal.EMPTY),
        ("f.txt", Refusal.TOO_MANY),
    ]


async def test_first_document_creates_the_index_later_ones_join_it() -> None:
    limits = DocumentLimits(chunk_size_tokens=300, chunk_overlap_tokens=100)
    kb, index, store, _ = service(limits)
    report = await kb.ingest(CHAT, [doc("a.md", "text/markdown")])
    assert [d.file_name for d in report.ready] == ["a.md"]
    index_id = store.bases[CHAT].index_id
    assert index_id is not None and len(index.indexes) == 1
    await kb.ingest(CHAT, [doc("b.txt"), doc("c.txt")])
    assert len(index.indexes) == 1
    assert len(index.indexes[index_id]) == 3
    assert index.batch_limits == [limits], "later documents get the chat's chunking"
    target = await kb.search_target(CHAT)
    assert target.index_id == index_id and target.has_documents
    assert all(d.status is DocumentStatus.READY for d in store.bases[CHAT].documents)


async def test_unreadable_and_undownloadable_files_are_reported_as_failed() -> None:
    kb, _index, _store, source = service(unreadable={"bad.txt"})
    source.broken.add("tg-lost.txt")
    report = await kb.ingest(CHAT, [doc("good.txt"), doc("bad.txt"), doc("lost.txt")])
    assert [d.file_name for d in report.ready] == ["good.txt"]
    assert {(d.file_name, d.error) for d in report.failed} == {
        ("bad.txt", "invalid_file"),
        ("lost.txt", "download"),
    }
    assert (await kb.search_target(CHAT)).has_documents


async def test_chats_have_separate_indexes() -> None:
    kb, index, _, _ = service()
    await kb.ingest(CHAT, [doc("a.txt")])
    await kb.ingest(OTHER, [doc("b.txt")])
    first, second = (await kb.search_target(CHAT)).index_id, (await kb.search_target(OTHER)).index_id
    assert first != second
    assert first is not None and second is not None
    assert {index.files[f] for f in index.indexes[first]} == {"a.txt"}
    assert {index.files[f] for f in index.indexes[second]} == {"b.txt"}


async def test_an_expired_index_is_rebuilt_from_the_recorded_telegram_files() -> None:
    kb, index, store, _ = service()
    await kb.ingest(CHAT, [doc("a.txt", ref="tg-file-a"), doc("b.txt", ref="tg-file-b")])
    old = store.bases[CHAT].index_id
    assert old is not None
    del index.indexes[old]  # the provider expired it
    report = await kb.rebuild(CHAT)
    new = store.bases[CHAT].index_id
    assert new is not None and new != old
    assert sorted(d.file_name for d in report.ready) == ["a.txt", "b.txt"]
    assert sorted(d.file_ref for d in store.bases[CHAT].documents) == ["tg-file-a", "tg-file-b"]


async def test_adding_to_an_expired_index_creates_a_new_one() -> None:
    kb, index, store, _ = service()
    await kb.ingest(CHAT, [doc("a.txt")])
    index.indexes.clear()
    report = await kb.ingest(CHAT, [doc("b.txt")])
    assert [d.file_name for d in report.ready] == ["b.txt"]
    assert store.bases[CHAT].index_id in index.indexes


async def test_quota_refusal_is_reported_and_nothing_is_left_behind() -> None:
    kb, index, _store, _ = service(quota=1)
    await kb.ingest(OTHER, [doc("x.txt")])
    report = await kb.ingest(CHAT, [doc("a.txt")])
    assert report.quota_exceeded
    assert [d.file_name for d in report.failed] == ["a.txt"]
    assert len(index.deleted_files) == 1  # the uploaded file is not left dangling
    assert not (await kb.search_target(CHAT)).has_documents


async def test_quota_can_reclaim_the_index_idle_longest() -> None:
    kb, _index, _store, _ = service(DocumentLimits(reclaim_idle_indexes=True), quota=1)
    await kb.ingest(OTHER, [doc("x.txt")])
    report = await kb.ingest(CHAT, [doc("a.txt")])
    assert not report.quota_exceeded
    assert [d.file_name for d in report.ready] == ["a.txt"]
    reclaimed = await kb.search_target(OTHER)
    assert reclaimed.has_documents and reclaimed.index_id is None  # rebuilt when next needed


async def test_delete_one_then_forget_all() -> None:
    kb, index, store, _ = service()
    await kb.ingest(CHAT, [doc("a.txt"), doc("b.txt")])
    base = store.bases[CHAT]
    removed = await kb.delete(CHAT, base.documents[0].doc_id)
    assert removed is not None and removed.file_name == "a.txt"
    assert [d.file_name for d in store.bases[CHAT].documents] == ["b.txt"]
    assert await kb.delete(CHAT, "no-such-id") is None
    assert await kb.delete(OTHER, base.documents[1].doc_id) is None  # another chat cannot reach it
    assert await kb.forget(CHAT) == 1
    assert index.indexes == {}
    assert not (await kb.search_target(CHAT)).has_documents
