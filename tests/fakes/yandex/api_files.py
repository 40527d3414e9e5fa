"""``/v1/files``: upload (multipart), list, retrieve, download and delete."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, bad_request
from .wire import json_response, list_page, state_of

routes = web.RouteTableDef()

FILE_PURPOSES = frozenset(
    {
        "assistants",
        "assistants_output",
        "batch",
        "batch_output",
        "fine-tune",
        "fine-tune-results",
        "vision",
        "user_data",
    }
)
MIN_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 30 * 24 * 3600


@routes.post("/v1/files")
async def create_file(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise bad_request("Missing required multipart field: 'file'.", param="file")
    purpose = form.get("purpose")
    if not isinstance(purpose, str) or purpose not in FILE_PURPOSES:
        raise bad_request(f"Invalid purpose {purpose!r}.", param="purpose")
    expires_after_seconds = _expires_after_seconds(
        form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    )
    state = state_of(request)
    data = upload.file.read()
    if len(data) > state.config.max_file_bytes:
        raise ApiError(413, f"The file is larger than {state.config.max_file_bytes} bytes.", param="file")
    content_type = (upload.content_type or "application/octet-stream").split(";")[0].strip()
    stored = state.add_file(upload.filename, purpose, data, expires_after_seconds, content_type)
    return json_response(stored.to_api())


def _expires_after_seconds(anchor: object, seconds: object) -> float | None:
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request("expires_after.anchor must be 'created_at'.", param="expires_after")
    try:
        value = int(str(seconds))
    except ValueError:
        raise bad_request("expires_after.seconds must be an integer.", param="expires_after") from None
    if not MIN_EXPIRY_SECONDS <= value <= MAX_EXPIRY_SECONDS:
        raise bad_request(
            f"expires_after.seconds must be between {MIN_EXPIRY_SECONDS} and {MAX_EXPIRY_SECONDS}.",
            param="expires_after",
        )
    return float(value)


@routes.get("/v1/files")
async def list_files(request: web.Request) -> web.Response:
    purpose = request.query.get("purpose")
    files = [
        stored for stored in state_of(request).live_files() if purpose is None or stored.purpose == purpose
    ]
    return list_page(
        request, files, object_id=lambda stored: stored.id, render=lambda stored: stored.to_api()
    )


@routes.get("/v1/files/{file_id}")
async def retrieve_file(request: web.Request) -> web.Response:
    return json_response(state_of(request).get_file(request.match_info["file_id"]).to_api())


@routes.get("/v1/files/{file_id}/content")
async def download_file(request: web.Request) -> web.Response:
    stored = state_of(request).get_file(request.match_info["file_id"])
    return web.Response(body=stored.data, content_type="application/octet-stream")


@routes.delete("/v1/files/{file_id}")
async def delete_file(request: web.Request) -> web.Response:
    file_id = request.match_info["file_id"]
    state_of(request).delete_file(file_id)
    return json_response({"id": file_id, "object": "file", "deleted": True})
