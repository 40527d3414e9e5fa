"""The aiohttp application: Bot API methods, file downloads and the control API.

- `GET|POST /bot<token>/<method>`: form-encoded, multipart (file uploads), JSON or query-string parameters;
  the answer is the Bot API envelope with the error code as HTTP status.
- `GET /file/bot<token>/<file_path>`: the content of a file returned by getFile.
- `/__control/...`: see control.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import errors
from .control import Controller, add_control_routes
from .core import FakeBotApi
from .params import Params, UploadedFile

_API_KEY: web.AppKey[FakeBotApi] = web.AppKey("api", FakeBotApi)


def build_app(api: FakeBotApi, controller: Controller) -> web.Application:
    app = web.Application(client_max_size=api.config.max_upload_size + 1024 * 1024)
    app[_API_KEY] = api
    app.router.add_route("*", "/bot{token}/{method}", _handle_method)
    app.router.add_get("/file/bot{token}/{file_path:.+}", _handle_file)
    add_control_routes(app, controller)
    return app


async def _handle_method(request: web.Request) -> web.Response:
    api = request.app[_API_KEY]
    params = await _read_params(request)
    status, payload = await api.call(
        request.match_info["method"], params, token_valid=request.match_info["token"] == api.config.token
    )
    return web.json_response(payload, status=status)


async def _handle_file(request: web.Request) -> web.Response:
    api = request.app[_API_KEY]
    if request.match_info["token"] != api.config.token:
        return web.json_response(
            {"ok": False, "error_code": 401, "description": errors.UNAUTHORIZED}, status=401
        )
    stored = api.state.files_by_path.get(request.match_info["file_path"])
    if stored is None or stored.size > api.config.max_download_size:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": errors.NOT_FOUND}, status=404
        )
    return web.Response(body=stored.read(), content_type=stored.mime_type or "application/octet-stream")


async def _read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                values.update(body)
        else:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files[name] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    values[name] = value
    return Params(values, files)
