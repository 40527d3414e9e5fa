"""The Telegram side of the knowledge base: downloading, album grouping, status messages, listings.

- TelegramDocumentSource downloads a file by its Telegram file id into memory when Telegram reports
  it small, into a temporary file on disk otherwise, so a large document is never held in memory.
- AlbumCollector turns the separate messages of an album (same media_group_id) into one batch.
- DocumentFlow validates, shows the status message at once, and queues the ingestion durably in the
  conversation's lane, so a question sent right after the document is answered with it. An ingestion
  interrupted by a dying replica is run again elsewhere (ingesting is safe to repeat).
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar, cast

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError, TelegramServerError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.display import short_file_name
from bot.core.documents import (
    SUPPORTED_TYPES,
    DocumentFetchError,
    DocumentRecord,
    IncomingDocument,
    IngestReport,
    KnowledgeBaseService,
    Refusal,
    Rejected,
    validate,
)
from bot.core.lanes import LaneJob, LaneRunner, NewJob, Submitted, cancelled_for_lock_loss
from bot.core.models import ConversationKey, Language
from bot.metrics import Metrics
from bot.storage.outage import is_storage_outage
from bot.telegram import texts
from bot.telegram.delivery import Destination, TelegramSender
from bot.telegram.formatting import Chunk
from bot.telegram.jobs import (
    destination_from_json,
    destination_to_json,
    job_identity,
    key_from_json,
    key_to_json,
    lane_name,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

IN_MEMORY_DOWNLOAD_BYTES = 1024 * 1024
DOCUMENTS_JOB = "documents"
ALBUM_QUIET_PERIOD_S = 0.8
FAILURE_NOTICE_TIMEOUT_S = 5.0


def _download_buffer(size: int | None) -> BinaryIO:
    """Memory for a file Telegram reports small, a temporary file on disk for any other; closed by the
    caller after the upload. Not a SpooledTemporaryFile: the upload asks its file object for a
    `fileno()` to learn its length, which moves a spool to disk whatever its size."""
    if size is not None and size <= IN_MEMORY_DOWNLOAD_BYTES:
        return io.BytesIO()
    return cast(BinaryIO, tempfile.TemporaryFile())


class TelegramDocumentSource:
    def __init__(self, bot: Bot, *, timeout: float = 120.0) -> None:
        self._bot = bot
        self._timeout = timeout

    async def fetch(self, file_ref: str) -> BinaryIO:
        try:
            file = await self._bot.get_file(file_ref)
            if file.file_path is None:
                raise DocumentFetchError("download")
            spool = _download_buffer(file.file_size)
            await self._bot.download_file(file.file_path, destination=spool, timeout=int(self._timeout))
        except (TelegramBadRequest, TelegramNetworkError, TelegramServerError) as error:
            log.warning("document download failed: %s", type(error).__name__)
            raise DocumentFetchError("download") from error
        spool.seek(0)
        return spool


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@dataclass
class _Album:
    documents: list[Any] = field(default_factory=list)
    addressed: bool = False
    waiter: asyncio.Task[None] | None = None


AlbumHandler = Callable[[list[T], bool], Awaitable[None]]
"""Receives an album's parts (documents, or photos) and whether any part of it addressed the bot (the
caption usually sits on the first part only)."""


class AlbumCollector:
    """Collects the parts of one album, then hands them over once no new part arrived for a moment."""

    def __init__(self, quiet_period: float = ALBUM_QUIET_PERIOD_S) -> None:
        self._quiet = quiet_period
        self._albums: dict[tuple[int, str], _Album] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, chat_id: int, group_id: str, part: T, addressed: bool, handler: AlbumHandler[T]) -> None:
        album = self._albums.setdefault((chat_id, group_id), _Album())
        album.documents.append(part)
        album.addressed = album.addressed or addressed
        if album.waiter is not None:
            album.waiter.cancel()
        album.waiter = asyncio.create_task(self._flush_later((chat_id, group_id), album, handler))
        self._tasks.add(album.waiter)
        album.waiter.add_done_callback(self._tasks.discard)

    async def _flush_later(self, key: tuple[int, str], album: _Album, handler: AlbumHandler[Any]) -> None:
        await asyncio.sleep(self._quiet)
        if self._albums.get(key) is album:
            del self._albums[key]
        try:
            await handler(album.documents, album.addressed)
        except Exception:
            log.exception("album handling failed")

    async def close(self) -> None:
        """Flush nothing more; wait briefly for albums being handed over."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._quiet * 2)
        for task in self._tasks:
            task.cancel()


class DocumentFlow:
    def __init__(
        self,
        knowledge: KnowledgeBaseService,
        lanes: LaneRunner,
        sender: TelegramSender,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._knowledge = knowledge
        self._lanes = lanes
        self._sender = sender
        lanes.register(DOCUMENTS_JOB, self._run_job)

    async def receive(
        self,
        key: ConversationKey,
        dest: Destination,
        documents: Sequence[IncomingDocument],
        language: Language,
    ) -> None:
        """Refusals, the status message and the queued ingestion. Whatever fails, the user hears of it."""
        try:
            await self._receive(key, dest, documents, language)
        except Exception as error:
            log.exception("receiving documents failed")
            notice = "storage_unavailable" if is_storage_outage(error) else "doc_error"
            try:
                await self._say(dest, texts.text(language, notice))
            except Exception as notice_error:
                log.warning("could not tell the user about it: %s", type(notice_error).__name__)

    async def _receive(
        self,
        key: ConversationKey,
        dest: Destination,
        documents: Sequence[IncomingDocument],
        language: Language,
    ) -> None:
        base = await self._knowledge.load(key)
        accepted, rejected = validate(documents, len(base.documents), self._knowledge.limits)
        too_many = [r for r in rejected if r.reason is Refusal.TOO_MANY]
        for refusal in rejected:
            if refusal.reason is not Refusal.TOO_MANY or len(documents) == 1:
                await self._say(dest, self._refusal_text(refusal, language))
        if too_many and len(documents) > 1:
            await self._say(
                dest, self._album_over_limit(too_many, len(documents), len(base.documents), language)
            )
        if not accepted:
            return
        names = ", ".join(shown_name(d.file_name) for d in accepted)
        try:
            status = await self._sender.send_chunk(
                dest, Chunk(texts.text(language, "doc_received", names=names)), reply=True
            )
        except TelegramAPIError as error:
            # The documents are fine: index them, and report in a new message when done.
            log.warning("could not send a documents status message: %s", type(error).__name__)
            status = None
        status_id = status.message_id if status else None
        job_id, order = job_identity(DOCUMENTS_JOB)
        payload = {
            "key": key_to_json(key),
            "dest": destination_to_json(dest),
            "language": language,
            "status_id": status_id,
            "documents": [[d.file_ref, d.file_name, d.mime_type, d.size, d.uploaded_by] for d in accepted],
        }
        uploader = accepted[0].uploaded_by
        member = str(uploader) if dest.is_group and uploader is not None else None
        submitted = await self._lanes.submit(
            lane_name(key), NewJob(job_id, DOCUMENTS_JOB, payload, order, member)
        )
        if submitted not in (Submitted.ACCEPTED, Submitted.DUPLICATE):
            await self._edit_or_say(dest, status_id, texts.text(language, "doc_busy"))

    def _album_over_limit(
        self, refused: Sequence[Rejected], total: int, existing: int, language: Language
    ) -> str:
        return texts.text(
            language,
            "doc_refused_album_count",
            refused=len(refused),
            total=total,
            limit=self._knowledge.limits.max_documents,
            existing=existing,
            names=", ".join(shown_name(r.document.file_name) for r in refused),
        )

    async def _run_job(self, job: LaneJob) -> None:
        data = job.payload
        key = key_from_json(data["key"])
        documents = [
            IncomingDocument(file_ref=ref, file_name=name, mime_type=mime, size=size, uploaded_by=by)
            for ref, name, mime, size, by in data["documents"]
        ]
        language: Language = "ru" if data["language"] == "ru" else "en"
        dest = destination_from_json(data["dest"])
        if job.attempt > 1:
            log.warning("resuming a document ingestion interrupted by a restart")
        try:
            report = await self._knowledge.ingest(key, documents)
        except asyncio.CancelledError as error:
            if not cancelled_for_lock_loss(error):  # shutdown: the job is not run again, say so
                await self._tell_failure(dest, data["status_id"], language, "doc_interrupted")
            raise
        except Exception:
            log.exception("document ingestion failed")
            await self._tell_failure(dest, data["status_id"], language, "doc_error")
            return
        await self._report(dest, data["status_id"], report, language)

    async def _tell_failure(
        self, dest: Destination, status_id: int | None, language: Language, key: str
    ) -> None:
        """Whatever broke, the status message does not stay "indexing…"."""
        try:
            async with asyncio.timeout(FAILURE_NOTICE_TIMEOUT_S):
                await self._edit_or_say(dest, status_id, texts.text(language, key))
        except Exception as error:
            log.warning("could not tell the user about a failed ingestion: %s", type(error).__name__)

    async def rebuild(self, key: ConversationKey, dest: Destination, language: Language) -> None:
        """Re-index a chat's documents whose provider index expired, telling the user."""
        status = await self._sender.send_chunk(
            dest, Chunk(texts.text(language, "doc_reindexing")), reply=False
        )
        report = await self._knowledge.rebuild(key)
        await self._report(dest, status.message_id if status else None, report, language)

    async def _report(
        self, dest: Destination, status_id: int | None, report: IngestReport, language: Language
    ) -> None:
        if self._metrics is not None:
            self._metrics.documents.labels(result="ready").inc(len(report.ready))
            self._metrics.documents.labels(result="failed").inc(len(report.failed))
        lines: list[str] = []
        if report.ready:
            lines.append(
                texts.text(
                    language, "doc_ready", names=", ".join(shown_name(d.file_name) for d in report.ready)
                )
            )
        if report.quota_exceeded:
            lines.append(texts.text(language, "doc_quota"))
        else:
            for record in report.failed:
                reason = texts.text(language, _failure_reason(record))
                lines.append(
                    texts.text(language, "doc_failed", name=shown_name(record.file_name), reason=reason)
                )
        await self._edit_or_say(dest, status_id, "\n".join(lines))

    async def _edit_or_say(self, dest: Destination, message_id: int | None, text: str) -> None:
        if not text:
            return
        if message_id is not None:
            await self._sender.edit_chunk(dest, message_id, Chunk(text))
        else:
            await self._say(dest, text)

    async def _say(self, dest: Destination, text: str) -> None:
        await self._sender.send_chunk(dest, Chunk(text), reply=True)

    def _refusal_text(self, rejected: Rejected, language: Language) -> str:
        limits = self._knowledge.limits
        name = shown_name(rejected.document.file_name)
        if rejected.reason is Refusal.UNSUPPORTED_TYPE:
            types = ", ".join(
                sorted({ext.upper() for ext in SUPPORTED_TYPES if ext not in ("htm", "markdown")})
            )
            return texts.text(language, "doc_refused_type", name=name, types=types)
        if rejected.reason is Refusal.TOO_BIG:
            return texts.text(
                language,
                "doc_refused_size",
                name=name,
                size=human_size(rejected.document.size or 0),
                limit=human_size(limits.max_bytes),
            )
        if rejected.reason is Refusal.TOO_MANY:
            return texts.text(language, "doc_refused_count", name=name, limit=limits.max_documents)
        return texts.text(language, "doc_refused_empty", name=name)


def _failure_reason(record: DocumentRecord) -> str:
    error = record.error or ""
    if error == "download":
        return "doc_reason_download"
    if error in ("invalid_file", "unsupported_file"):
        return "doc_reason_unreadable"
    if error == "timeout":
        return "doc_reason_timeout"
    if error in ("unavailable", "interrupted"):
        return "doc_reason_unavailable"
    return "doc_reason_other"


DELETE_PREFIX = "doc:del:"
PAGE_PREFIX = "docs:page:"
DOCS_PAGE_SIZE = 10  # 10 lines of shortened names: a page stays far below Telegram's 4,096
FORGET_PREFIX = "kb:forget:"
FORGET_YES_PREFIX = "kb:forget:yes:"
FORGET_NO = "kb:forget:no"


def shown_name(file_name: str) -> str:
    """A file name as the bot shows it (see core.display)."""
    return short_file_name(file_name)


def documents_listing(
    records: Sequence[DocumentRecord], language: Language, page: int = 0
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the chat's documents (names shortened, so a page always fits a message), a delete
    button for each, and ◀ ▶ between pages."""
    if not records:
        return texts.text(language, "docs_empty"), None
    pages = (len(records) + DOCS_PAGE_SIZE - 1) // DOCS_PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    if pages == 1:
        lines = [texts.text(language, "docs_title", count=len(records))]
    else:
        lines = [texts.text(language, "docs_title_paged", count=len(records), page=page + 1, pages=pages)]
    buttons: list[list[InlineKeyboardButton]] = []
    first = page * DOCS_PAGE_SIZE
    for number, record in enumerate(records[first : first + DOCS_PAGE_SIZE], start=first + 1):
        status = texts.text(language, f"doc_status_{record.status.value}")
        added = datetime.fromtimestamp(record.added_at, tz=UTC).strftime("%Y-%m-%d")
        name = shown_name(record.file_name)
        lines.append(f"{number}. {name} — {status}, {added}, {human_size(record.size)}")
        label = f"🗑 {number}. {name}"
        buttons.append(
            [InlineKeyboardButton(text=label[:60], callback_data=f"{DELETE_PREFIX}{record.doc_id}")]
        )
    if pages > 1:
        turn = []
        if page > 0:
            turn.append(InlineKeyboardButton(text="◀", callback_data=f"{PAGE_PREFIX}{page - 1}"))
        if page < pages - 1:
            turn.append(InlineKeyboardButton(text="▶", callback_data=f"{PAGE_PREFIX}{page + 1}"))
        buttons.append(turn)
    lines.append("")
    lines.append(texts.text(language, "docs_forget_hint"))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


def page_of(records: Sequence[DocumentRecord], doc_id: str) -> int:
    """The listing page a document is (or was) on."""
    index = next((i for i, r in enumerate(records) if r.doc_id == doc_id), 0)
    return index // DOCS_PAGE_SIZE


def forget_keyboard(language: Language, listed: str) -> InlineKeyboardMarkup:
    """Yes carries the fingerprint of the documents the prompt counted (see KnowledgeBase.fingerprint)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts.text(language, "forget_yes"), callback_data=f"{FORGET_YES_PREFIX}{listed}"
                ),
                InlineKeyboardButton(text=texts.text(language, "forget_no"), callback_data=FORGET_NO),
            ]
        ]
    )
