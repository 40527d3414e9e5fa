"""The emulator's in-memory objects and their lifecycles: files, vector stores, conversations, responses.

Everything time-dependent is evaluated lazily against the wall clock: a vector-store file is
``in_progress`` until ``ready_at``; a response older than ``config.response_ttl`` is gone; a store whose
``expires_after`` window has passed is ``expired``. No background task is needed for any of it.
``POST /__emu/expire`` (``EmulatorState.expire``) makes an object vanish at once, as if its TTL had passed.

Lookups that fail raise ``ApiError`` (404) so route handlers stay short.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import DAY_SECONDS, EmulatorConfig
from .documents import SEARCH_INDEX_MIME_TYPES, UnreadableFileError, extract_text
from .errors import ApiError, not_found
from .iam import IamService
from .items import item_text, new_id
from .search import AttributeValue, Bm25Index, ChunkingStrategy, Document, matches_filter
from .speech import SpeechState

"""How many responses ``/__emu/responses`` remembers (also those not stored or already deleted)."""
REQUEST_LOG_SIZE = 5000
"""How many ``/v1`` requests ``/__emu/requests`` remembers."""

request_headers: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("request_headers")
"""The non-secret headers of the ``/v1`` request being handled (set at the app's boundary), so that a
response record can carry them without every handler passing them along."""


def recordable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A request's headers as introspection shows them: lower-case names, ``authorization`` left out."""
    return {name.lower(): value for name, value in headers.items() if name.lower() != "authorization"}


def now() -> float:
    return time.time()


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: float
    expires_at: float | None
    content_type: str = "application/octet-stream"
    """The MIME type of the multipart upload (search indexes take only Yandex's listed types)."""

    def is_expired(self) -> bool:
        return self.expires_at is not None and now() >= self.expires_at

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "valid": True,
        }


@dataclass
class VectorStoreFile:
    """A file attached to a store. Its fate (document or error) is decided at attach time and revealed
    when ``ready_at`` passes."""

    file_id: str
    filename: str
    vector_store_id: str
    created_at: float
    ready_at: float
    attributes: dict[str, AttributeValue]
    strategy: ChunkingStrategy
    usage_bytes: int
    document: Document | None
    error: UnreadableFileError | None
    content_type: str = "application/octet-stream"

    @property
    def status(self) -> str:
        if now() < self.ready_at:
            return "in_progress"
        return "failed" if self.error else "completed"

    def to_api(self) -> dict[str, Any]:
        status = self.status
        last_error = None
        if status == "failed" and self.error:
            last_error = {"code": self.error.code, "message": self.error.message}
        return {
            "id": self.file_id,
            "object": "vector_store.file",
            "created_at": self.created_at,
            "vector_store_id": self.vector_store_id,
            "status": status,
            "last_error": last_error,
            "usage_bytes": self.usage_bytes if status == "completed" else 0,
            "attributes": self.attributes,
            "chunking_strategy": self.strategy.to_api(),
            "valid": True,
        }


def file_counts(files: Iterable[VectorStoreFile]) -> dict[str, int]:
    counts = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}
    for attached in files:
        counts[attached.status] += 1
        counts["total"] += 1
    return counts


@dataclass
class FileBatch:
    id: str
    vector_store_id: str
    created_at: float
    file_ids: list[str]


@dataclass
class VectorStore:
    id: str
    name: str
    created_at: float
    metadata: dict[str, Any]
    strategy: ChunkingStrategy
    expires_after: dict[str, Any] | None
    last_active_at: float
    files: dict[str, VectorStoreFile] = field(default_factory=dict)
    batches: dict[str, FileBatch] = field(default_factory=dict)
    expired_manually: bool = False

    @property
    def expires_at(self) -> float | None:
        if not self.expires_after:
            return None
        return self.last_active_at + float(self.expires_after.get("days", 0)) * DAY_SECONDS

    def is_expired(self) -> bool:
        expires_at = self.expires_at
        return self.expired_manually or (expires_at is not None and now() >= expires_at)

    @property
    def status(self) -> str:
        if self.is_expired():
            return "expired"
        if any(attached.status == "in_progress" for attached in self.files.values()):
            return "in_progress"
        return "completed"

    def touch(self) -> None:
        self.last_active_at = now()

    def detach(self, file_id: str) -> None:
        """Remove a file from the store (the uploaded file itself stays)."""
        del self.files[file_id]
        self.touch()

    def batch_files(self, batch: FileBatch) -> list[VectorStoreFile]:
        return [self.files[file_id] for file_id in batch.file_ids if file_id in self.files]

    def index(
        self, attribute_filter: Mapping[str, Any] | None = None
    ) -> tuple[Bm25Index, dict[str, Document]]:
        """A BM25 index over the chunks of the completed files whose attributes pass the filter, and
        those files' documents."""
        documents = {
            file_id: attached.document
            for file_id, attached in self.files.items()
            if attached.status == "completed"
            and attached.document is not None
            and matches_filter(attached.attributes, attribute_filter)
        }
        return Bm25Index([chunk for document in documents.values() for chunk in document.chunks]), documents

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "vector_store",
            "name": self.name,
            "created_at": self.created_at,
            "last_active_at": self.last_active_at,
            "status": self.status,
            "file_counts": file_counts(self.files.values()),
            "usage_bytes": sum(
                attached.usage_bytes for attached in self.files.values() if attached.status == "completed"
            ),
            "expires_after": self.expires_after,
            "expires_at": self.expires_at,
            "metadata": self.metadata,
            "valid": True,
        }

    def batch_to_api(self, batch: FileBatch) -> dict[str, Any]:
        counts = file_counts(self.batch_files(batch))
        return {
            "id": batch.id,
            "object": "vector_store.files_batch",
            "created_at": batch.created_at,
            "vector_store_id": self.id,
            "status": "in_progress" if counts["in_progress"] else "completed",
            "file_counts": counts,
            "valid": True,
        }


@dataclass
class Conversation:
    id: str
    created_at: float
    metadata: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "conversation",
            "created_at": self.created_at,
            "metadata": self.metadata,
            "valid": True,
        }


@dataclass
class StoredResponse:
    """One response: the request that made it, its progress, and (once done) its output."""

    id: str
    created_at: float
    model: str
    instructions: str | None
    input_items: list[dict[str, Any]]
    input_text: str
    tools: list[dict[str, Any]]
    previous_response_id: str | None
    conversation_id: str | None
    store: bool
    echoed_params: dict[str, Any]
    status: str = "in_progress"
    output_text: str = ""
    message_id: str = field(default_factory=new_id)
    search_call: dict[str, Any] | None = None
    web_call: dict[str, Any] | None = None
    """The ``web_search_call`` item, when the request had the ``web_search`` tool (after ``search_call``)."""
    annotations: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    first_delta_at: float | None = None
    completed_at: float | None = None
    deltas: list[tuple[float, int]] = field(default_factory=list)
    """``(unix time, characters of output so far)`` after each text delta, for display-lag benchmarks."""
    api: str = "responses"
    """Which endpoint made it: ``responses`` or ``chat.completions`` (the latter is never stored)."""
    background: bool = False
    """Created with ``background: true``: the only kind Yandex lets a client cancel."""
    refusal: bool = False
    """The message is a refusal (``emu:refusal``): its one content part is ``refusal``."""
    incomplete_reason: str | None = None
    """``incomplete_details.reason`` once the response ended ``incomplete`` on purpose."""
    client_disconnected_at: float | None = None
    """When the client closed the stream before it ended (unix seconds)."""
    hidden: bool = False
    """Deleted through the API or expired through ``/__emu/expire``: still in the log, not retrievable."""
    headers: dict[str, str] = field(default_factory=lambda: dict(request_headers.get({})))
    """The request's non-secret headers (see ``recordable_headers``)."""
    images: list[dict[str, Any]] = field(default_factory=list)
    """Images of a Chat Completions request: ``{mime_type, bytes, fingerprint}`` each, in order."""
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)

    def is_retrievable(self, ttl: float) -> bool:
        return self.store and not self.hidden and now() < self.created_at + ttl

    def append_delta(self, delta: str) -> None:
        at = now()
        if self.first_delta_at is None:
            self.first_delta_at = at
        self.output_text += delta
        self.deltas.append((at, len(self.output_text)))

    def finish(self, status: str, *, error: dict[str, Any] | None = None) -> None:
        self.status = status
        self.error = error
        self.completed_at = now()

    def output_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if self.search_call is not None:
            items.append(self.search_call)
        if self.web_call is not None:
            items.append(self.web_call)
        if self.status == "completed" or self.output_text:
            items.append(self.message_item())
        return items

    def message_item(self) -> dict[str, Any]:
        done = self.status == "completed"
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "status": "completed"
            if done
            else ("in_progress" if self.status == "in_progress" else "incomplete"),
            "content": [self.content_part(done=done)],
        }

    def content_part(self, *, done: bool) -> dict[str, Any]:
        if self.refusal:
            return {"type": "refusal", "refusal": self.output_text}
        return {
            "type": "output_text",
            "text": self.output_text,
            "annotations": self.annotations if done else [],
            "logprobs": [],
        }

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "status": self.status,
            "error": self.error,
            "incomplete_details": {"reason": self.incomplete_reason} if self.incomplete_reason else None,
            "model": self.model,
            "instructions": self.instructions,
            "output": self.output_items(),
            "tools": self.tools,
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "previous_response_id": self.previous_response_id,
            "conversation": {"id": self.conversation_id} if self.conversation_id else None,
            "background": self.background,
            "store": self.store,
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": self.usage,
            "metadata": {},
            "user": None,
            **self.echoed_params,
            "valid": True,
        }

    def to_record(self) -> dict[str, Any]:
        """The introspection record (``GET /__emu/responses``)."""
        return {
            "id": self.id,
            "model": self.model,
            "instructions": self.instructions,
            "conversation_id": self.conversation_id,
            "previous_response_id": self.previous_response_id,
            "input_text": self.input_text,
            "output_text": self.output_text,
            "status": self.status,
            "tools": self.tools,
            "citations": self.annotations if self.status == "completed" else [],
            "started_at": self.created_at,
            "first_delta_at": self.first_delta_at,
            "completed_at": self.completed_at,
            "deltas": [[at, chars] for at, chars in self.deltas],
            "api": self.api,
            "client_disconnected_at": self.client_disconnected_at,
            "headers": self.headers,
            "error": self.error,
            "input": [
                {"role": item.get("role"), "text": item_text(item)}
                for item in self.input_items
                if item.get("type", "message") == "message"
            ],
            "images": self.images,
        }


@dataclass
class FaultRule:
    remaining: int
    status: int | None
    """Fail with this status; ``None``: only hold the request, then handle it normally."""
    paths: tuple[str, ...] | None
    delay: float = 0.0
    """Seconds the request is held before it fails (or is handled)."""


@dataclass(frozen=True)
class Fault:
    status: int | None
    delay: float


class FaultQueue:
    """Failures a test asked for: the next K matching ``/v1`` requests fail with a given status, or
    are held for a while first (a slow or hanging provider)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def add(
        self, count: int, status: int | None, paths: Iterable[str] | None = None, *, delay: float = 0.0
    ) -> None:
        self._rules.append(FaultRule(count, status, tuple(paths) if paths is not None else None, delay))

    def take(self, path: str) -> Fault | None:
        """The fault to apply to this request (consuming one), or ``None``."""
        for rule in self._rules:
            if rule.remaining > 0 and (rule.paths is None or path.startswith(rule.paths)):
                rule.remaining -= 1
                return Fault(rule.status, rule.delay)
        return None

    def clear(self) -> None:
        self._rules.clear()


class EmulatorState:
    """All objects of one emulator, keyed by id."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.files: dict[str, StoredFile] = {}
        self.vector_stores: dict[str, VectorStore] = {}
        self.conversations: dict[str, Conversation] = {}
        self.responses: dict[str, StoredResponse] = {}
        self.response_log: deque[StoredResponse] = deque(maxlen=config.response_log_size)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.faults = FaultQueue()
        self._background: set[asyncio.Task[None]] = set()
        self.iam = IamService()
        self.speech = SpeechState()

    def run_in_background(self, generation: Coroutine[Any, Any, None], response_id: str) -> None:
        """Own the generation of a ``background: true`` response: kept until done, stopped with
        every other response on reset or shutdown (``stop_all_responses``), awaited by ``drain``."""
        task = asyncio.create_task(generation, name=f"background-response:{response_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background generations (call after ``stop_all_responses``)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def reset(self) -> None:
        self.stop_all_responses()
        self.speech.reset()
        self.files.clear()
        self.vector_stores.clear()
        self.conversations.clear()
        self.responses.clear()
        self.response_log.clear()
        self.request_log.clear()
        self.faults.clear()

    # Files

    def add_file(
        self,
        filename: str,
        purpose: str,
        data: bytes,
        expires_after_seconds: float | None,
        content_type: str = "application/octet-stream",
    ) -> StoredFile:
        created_at = now()
        expires_at = created_at + expires_after_seconds if expires_after_seconds is not None else None
        stored = StoredFile(new_id(), filename, purpose, data, created_at, expires_at, content_type)
        self.files[stored.id] = stored
        return stored

    def get_file(self, file_id: str, *, param: str | None = None) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is not None and stored.is_expired():
            del self.files[file_id]
            stored = None
        if stored is None:
            raise not_found("File", file_id, param=param)
        return stored

    def delete_file(self, file_id: str) -> None:
        """Remove an uploaded file. Stores it was attached to keep their copy of its chunks."""
        del self.files[self.get_file(file_id).id]

    def live_files(self) -> list[StoredFile]:
        return [stored for stored in self.files.values() if not stored.is_expired()]

    # Vector stores

    def create_vector_store(
        self,
        *,
        name: str,
        metadata: dict[str, Any],
        strategy: ChunkingStrategy,
        expires_after: dict[str, Any] | None,
    ) -> VectorStore:
        live = sum(1 for store in self.vector_stores.values() if not store.is_expired())
        quota = self.config.vector_store_quota
        if live >= quota:
            raise ApiError(
                429,
                f"Quota exceeded: the folder may hold at most {quota} search indexes",
                error_type="quota_exceeded",
                code="quota_exceeded",
                headers={"x-should-retry": "false"},
            )
        created_at = now()
        store = VectorStore(new_id(), name, created_at, metadata, strategy, expires_after, created_at)
        self.vector_stores[store.id] = store
        return store

    def get_vector_store(self, store_id: str, *, param: str | None = None) -> VectorStore:
        """A live store; unknown, deleted and expired stores are 404."""
        store = self.vector_stores.get(store_id)
        if store is None or store.is_expired():
            raise not_found("Vector store", store_id, param=param)
        return store

    def delete_vector_store(self, store_id: str) -> None:
        del self.vector_stores[self.get_vector_store(store_id).id]

    def attach_file(
        self,
        store: VectorStore,
        stored: StoredFile,
        *,
        attributes: Mapping[str, AttributeValue] | None = None,
        strategy: ChunkingStrategy | None = None,
    ) -> VectorStoreFile:
        """Start indexing a file into a store; the outcome shows after ``config.indexing_delay``.
        Without a chunking strategy of its own the file gets the default one (800/400), not the
        store's: Yandex documents that default per request and no inheritance."""
        effective = strategy or ChunkingStrategy()
        attrs = dict(attributes or {})
        document: Document | None = None
        error: UnreadableFileError | None = None
        try:
            if stored.content_type.lower() not in SEARCH_INDEX_MIME_TYPES:
                raise UnreadableFileError(
                    "unsupported_file",
                    f"Files of type {stored.content_type!r} cannot be added to a search index.",
                )
            text = extract_text(stored.filename, stored.data)
            document = Document.build(
                file_id=stored.id, filename=stored.filename, text=text, attributes=attrs, strategy=effective
            )
        except UnreadableFileError as exc:
            error = exc
        created_at = now()
        attached = VectorStoreFile(
            file_id=stored.id,
            filename=stored.filename,
            vector_store_id=store.id,
            created_at=created_at,
            ready_at=created_at + self.config.indexing_delay,
            attributes=attrs,
            strategy=effective,
            usage_bytes=len(document.text.encode()) if document else 0,
            document=document,
            error=error,
            content_type=stored.content_type,
        )
        store.files[stored.id] = attached
        store.touch()
        return attached

    # Conversations

    def create_conversation(self, metadata: dict[str, Any], items: list[dict[str, Any]]) -> Conversation:
        conversation = Conversation(new_id(), now(), metadata, list(items))
        self.conversations[conversation.id] = conversation
        return conversation

    def get_conversation(self, conversation_id: str, *, param: str | None = None) -> Conversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise not_found("Conversation", conversation_id, param=param)
        return conversation

    def delete_conversation(self, conversation_id: str) -> None:
        del self.conversations[self.get_conversation(conversation_id).id]

    # Responses

    def get_response(
        self, response_id: str, *, param: str | None = None, code: str = "not_found"
    ) -> StoredResponse:
        response = self.responses.get(response_id)
        if response is None or not response.is_retrievable(self.config.response_ttl):
            kind = "Previous response" if param == "previous_response_id" else "Response"
            raise not_found(kind, response_id, param=param, code=code)
        return response

    def delete_response(self, response_id: str) -> None:
        self.responses.pop(self.get_response(response_id).id).hidden = True

    def chain_items(self, response_id: str) -> list[dict[str, Any]]:
        """Input and output items of a ``previous_response_id`` chain, oldest first; the walk stops at
        the first response that is no longer retrievable."""
        chain: list[StoredResponse] = []
        current: str | None = response_id
        while current is not None:
            response = self.responses.get(current)
            if response is None or not response.is_retrievable(self.config.response_ttl):
                break
            chain.append(response)
            current = response.previous_response_id
        items: list[dict[str, Any]] = []
        for response in reversed(chain):
            items.extend(response.input_items)
            items.extend(response.output_items())
        return items

    def register_response(self, response: StoredResponse) -> None:
        self.response_log.append(response)
        if response.store:
            self.responses[response.id] = response

    def log_rejected_response(self, response: StoredResponse) -> None:
        """A request that failed before generating: visible to introspection only."""
        self.response_log.append(response)

    def log_refused_request(self, api: str, error: ApiError) -> None:
        """A ``/v1/responses`` or ``/v1/chat/completions`` request refused before its body was read
        (authentication, folder, validation): logged with its headers and error, nothing else."""
        refused = StoredResponse(
            id=new_id(),
            created_at=now(),
            model="",
            instructions=None,
            input_items=[],
            input_text="",
            tools=[],
            previous_response_id=None,
            conversation_id=None,
            store=False,
            echoed_params={},
            api=api,
        )
        refused.finish(
            "failed", error={"code": error.code, "message": error.message, "http_status": error.status}
        )
        self.response_log.append(refused)

    def log_request(self, method: str, path: str, status: int, headers: dict[str, str]) -> None:
        self.request_log.append(
            {"method": method, "path": path, "status": status, "headers": headers, "at": now()}
        )

    def complete_response(self, response: StoredResponse) -> None:
        """Mark a response completed; a conversation it belongs to gains its input and output items."""
        response.finish("completed")
        if response.conversation_id and response.conversation_id in self.conversations:
            conversation = self.conversations[response.conversation_id]
            conversation.items.extend(response.input_items)
            conversation.items.extend(response.output_items())

    def stop_all_responses(self) -> None:
        for response in self.response_log:
            if response.status == "in_progress":
                response.stop_requested.set()

    # Introspection and expiry

    def request_records(self, limit: int) -> list[dict[str, Any]]:
        records = list(self.request_log)
        return records[-limit:] if limit > 0 else []

    def response_records(self, limit: int) -> list[dict[str, Any]]:
        records = [response.to_record() for response in self.response_log]
        return records[-limit:] if limit > 0 else []

    def vector_store_records(self) -> list[dict[str, Any]]:
        return [
            {
                "id": store.id,
                "status": store.status,
                "file_counts": file_counts(store.files.values()),
                "files": [
                    {
                        "id": attached.file_id,
                        "filename": attached.filename,
                        "status": attached.status,
                        "mime_type": attached.content_type,
                        "chunking_strategy": attached.strategy.to_api(),
                    }
                    for attached in store.files.values()
                ],
            }
            for store in self.vector_stores.values()
        ]

    def expire(self, object_id: str) -> str:
        """Make an object vanish as if its TTL had passed; returns its kind. ``KeyError`` if unknown."""
        if object_id in self.conversations:
            del self.conversations[object_id]
            return "conversation"
        if object_id in self.responses:
            self.responses.pop(object_id).hidden = True
            return "response"
        if object_id in self.vector_stores:
            self.vector_stores[object_id].expired_manually = True
            return "vector_store"
        if object_id in self.files:
            del self.files[object_id]
            return "file"
        raise KeyError(object_id)
