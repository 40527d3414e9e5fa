"""``/v1/vector_stores``: stores, their files and file batches, and search.

Attaching a file starts indexing; the file (and the store) stays ``in_progress`` for
``config.indexing_delay`` seconds, then becomes ``completed`` or ``failed`` with ``last_error``.
Every read carries an ``openai-poll-after-ms`` hint so the openai ``*_and_poll`` helpers poll briskly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .errors import bad_request, not_found
from .items import new_id
from .search import AttributeValue, ChunkingStrategy
from .state import EmulatorState, FileBatch, VectorStore, VectorStoreFile, now
from .wire import json_response, list_page, read_json, state_of

routes = web.RouteTableDef()

MAX_SEARCH_RESULTS = 50
DEFAULT_SEARCH_RESULTS = 10


def _with_poll_hint(request: web.Request, response: web.Response) -> web.Response:
    response.headers["openai-poll-after-ms"] = str(state_of(request).config.poll_after_ms)
    return response


def parse_chunking_strategy(raw: Any) -> ChunkingStrategy | None:
    """``None`` when absent; ``auto`` means the default static 800/400 strategy."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in ("auto", "static"):
        raise bad_request(
            "chunking_strategy must be {'type': 'auto'} or {'type': 'static', ...}.",
            param="chunking_strategy",
        )
    if raw["type"] == "auto":
        return ChunkingStrategy()
    static = raw.get("static")
    if not isinstance(static, dict):
        raise bad_request("A static chunking_strategy needs a 'static' object.", param="chunking_strategy")
    try:
        strategy = ChunkingStrategy(int(static["max_chunk_size_tokens"]), int(static["chunk_overlap_tokens"]))
    except (KeyError, TypeError, ValueError):
        raise bad_request(
            "static needs integer max_chunk_size_tokens and chunk_overlap_tokens.", param="chunking_strategy"
        ) from None
    if problem := strategy.problem():
        raise bad_request(problem, param="chunking_strategy")
    return strategy


def _parse_expires_after(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("anchor") not in ("last_active_at", "created_at"):
        raise bad_request("expires_after.anchor must be 'last_active_at'.", param="expires_after")
    days = raw.get("days")
    if not isinstance(days, int) or not 1 <= days <= 365:
        raise bad_request("expires_after.days must be an integer between 1 and 365.", param="expires_after")
    return {"anchor": raw["anchor"], "days": days}


def _attributes(raw: Any) -> dict[str, AttributeValue] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
        isinstance(value, str | int | float | bool) for value in raw.values()
    ):
        raise bad_request("attributes must map strings to strings, numbers or booleans.", param="attributes")
    return dict(raw)


def _attach(
    state: EmulatorState,
    store: VectorStore,
    file_id: Any,
    *,
    attributes: Mapping[str, AttributeValue] | None,
    strategy: ChunkingStrategy | None,
) -> VectorStoreFile:
    if not isinstance(file_id, str):
        raise bad_request("file_id must be a string.", param="file_id")
    stored = state.get_file(file_id, param="file_id")
    return state.attach_file(store, stored, attributes=attributes, strategy=strategy)


@routes.post("/v1/vector_stores")
async def create_vector_store(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    file_ids = body.get("file_ids") or []
    strategy = parse_chunking_strategy(body.get("chunking_strategy"))
    expires_after = _parse_expires_after(body.get("expires_after"))
    for file_id in file_ids:
        state.get_file(str(file_id), param="file_ids")
    store = state.create_vector_store(
        name=str(body.get("name") or ""),
        metadata=dict(body.get("metadata") or {}),
        strategy=strategy or ChunkingStrategy(),
        expires_after=expires_after,
    )
    for file_id in file_ids:
        _attach(state, store, file_id, attributes=None, strategy=strategy)
    return _with_poll_hint(request, json_response(store.to_api()))


@routes.get("/v1/vector_stores")
async def list_vector_stores(request: web.Request) -> web.Response:
    stores = [store for store in state_of(request).vector_stores.values() if not store.is_expired()]
    return list_page(request, stores, object_id=lambda store: store.id, render=lambda store: store.to_api())


@routes.get("/v1/vector_stores/{store_id}")
async def retrieve_vector_store(request: web.Request) -> web.Response:
    store = state_of(request).get_vector_store(request.match_info["store_id"])
    return _with_poll_hint(request, json_response(store.to_api()))


@routes.post("/v1/vector_stores/{store_id}")
async def modify_vector_store(request: web.Request) -> web.Response:
    store = state_of(request).get_vector_store(request.match_info["store_id"])
    body = await read_json(request)
    if "name" in body:
        store.name = str(body["name"] or "")
    if "metadata" in body:
        store.metadata = dict(body["metadata"] or {})
    if "expires_after" in body:
        store.expires_after = _parse_expires_after(body["expires_after"])
    store.touch()
    return json_response(store.to_api())


@routes.delete("/v1/vector_stores/{store_id}")
async def delete_vector_store(request: web.Request) -> web.Response:
    store_id = request.match_info["store_id"]
    state_of(request).delete_vector_store(store_id)
    return json_response({"id": store_id, "object": "vector_store.deleted", "deleted": True})


@routes.post("/v1/vector_stores/{store_id}/files")
async def create_vector_store_file(request: web.Request) -> web.Response:
    state = state_of(request)
    store = state.get_vector_store(request.match_info["store_id"])
    body = await read_json(request)
    attached = _attach(
        state,
        store,
        body.get("file_id"),
        attributes=_attributes(body.get("attributes")),
        strategy=parse_chunking_strategy(body.get("chunking_strategy")),
    )
    return _with_poll_hint(request, json_response(attached.to_api()))


@routes.get("/v1/vector_stores/{store_id}/files")
async def list_vector_store_files(request: web.Request) -> web.Response:
    store = state_of(request).get_vector_store(request.match_info["store_id"])
    return _list_attached(request, list(store.files.values()))


def _list_attached(request: web.Request, files: list[VectorStoreFile]) -> web.Response:
    status = request.query.get("filter")
    selected = [attached for attached in files if status is None or attached.status == status]
    return list_page(
        request,
        selected,
        object_id=lambda attached: attached.file_id,
        render=lambda attached: attached.to_api(),
    )


@routes.get("/v1/vector_stores/{store_id}/files/{file_id}")
async def retrieve_vector_store_file(request: web.Request) -> web.Response:
    return _with_poll_hint(request, json_response(_attached_file(request).to_api()))


def _attached_file(request: web.Request) -> VectorStoreFile:
    store = state_of(request).get_vector_store(request.match_info["store_id"])
    file_id = request.match_info["file_id"]
    if file_id not in store.files:
        raise not_found("Vector store file", file_id)
    return store.files[file_id]


@routes.delete("/v1/vector_stores/{store_id}/files/{file_id}")
async def delete_vector_store_file(request: web.Request) -> web.Response:
    attached = _attached_file(request)
    state_of(request).get_vector_store(attached.vector_store_id).detach(attached.file_id)
    return json_response({"id": attached.file_id, "object": "vector_store.file.deleted", "deleted": True})


@routes.post("/v1/vector_stores/{store_id}/file_batches")
async def create_file_batch(request: web.Request) -> web.Response:
    state = state_of(request)
    store = state.get_vector_store(request.match_info["store_id"])
    body = await read_json(request)
    attributes = _attributes(body.get("attributes"))
    strategy = parse_chunking_strategy(body.get("chunking_strategy"))
    files = body.get("files")
    # Yandex marks `files` required and `file_ids` optional (createVectorStoreFileBatch.md).
    if not isinstance(files, list) or not files:
        raise bad_request(
            "Missing required parameter: 'files' (a list of {file_id, chunking_strategy, attributes}).",
            param="files",
        )
    if not all(isinstance(entry, dict) and isinstance(entry.get("file_id"), str) for entry in files):
        raise bad_request("Every entry of 'files' needs a string 'file_id'.", param="files")
    entries: list[dict[str, Any]] = [{"file_id": file_id} for file_id in body.get("file_ids") or []]
    entries += files
    for entry in entries:
        state.get_file(str(entry.get("file_id")), param="files")
    for entry in entries:
        _attach(
            state,
            store,
            entry.get("file_id"),
            attributes=_attributes(entry.get("attributes")) or attributes,
            strategy=parse_chunking_strategy(entry.get("chunking_strategy")) or strategy,
        )
    batch = FileBatch(new_id(), store.id, now(), [str(entry["file_id"]) for entry in entries])
    store.batches[batch.id] = batch
    return _with_poll_hint(request, json_response(store.batch_to_api(batch)))


def _batch(request: web.Request) -> tuple[VectorStore, FileBatch]:
    store = state_of(request).get_vector_store(request.match_info["store_id"])
    batch_id = request.match_info["batch_id"]
    if batch_id not in store.batches:
        raise not_found("File batch", batch_id)
    return store, store.batches[batch_id]


@routes.get("/v1/vector_stores/{store_id}/file_batches/{batch_id}")
async def retrieve_file_batch(request: web.Request) -> web.Response:
    store, batch = _batch(request)
    return _with_poll_hint(request, json_response(store.batch_to_api(batch)))


@routes.get("/v1/vector_stores/{store_id}/file_batches/{batch_id}/files")
async def list_file_batch_files(request: web.Request) -> web.Response:
    store, batch = _batch(request)
    return _list_attached(request, store.batch_files(batch))


@routes.post("/v1/vector_stores/{store_id}/search")
async def search_vector_store(request: web.Request) -> web.Response:
    store = state_of(request).get_vector_store(request.match_info["store_id"])
    body = await read_json(request)
    query = body.get("query")
    queries = [query] if isinstance(query, str) else query
    if not isinstance(queries, list) or not queries or not all(isinstance(text, str) for text in queries):
        raise bad_request("'query' must be a string or a list of strings.", param="query")
    limit = body.get("max_num_results", DEFAULT_SEARCH_RESULTS)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SEARCH_RESULTS:
        raise bad_request(
            f"max_num_results must be between 1 and {MAX_SEARCH_RESULTS}.", param="max_num_results"
        )
    store.touch()
    index, _ = store.index(body.get("filters"))
    hits = index.search(" ".join(queries), limit)
    return json_response(
        {
            "object": "vector_store.search_results.page",
            "search_query": queries,
            "data": [
                {
                    "file_id": hit.chunk.file_id,
                    "filename": hit.chunk.filename,
                    "score": hit.score,
                    "attributes": dict(hit.chunk.attributes),
                    "content": [{"type": "text", "text": hit.chunk.text}],
                }
                for hit in hits
            ],
            "has_more": False,
            "next_page": None,
        }
    )
