"""The IAM port: ``POST /iam/v1/tokens`` (authorized key → IAM token) and the metadata service's token
endpoint. See ``iam.py`` for what is checked and which pages it follows."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError
from .iam import METADATA_TOKEN_PATH, TOKEN_PATH, IamError, rfc3339
from .state import EmulatorState
from .wire import STATE, read_json, state_of

routes = web.RouteTableDef()


@routes.post(TOKEN_PATH)
async def create_token(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        try:
            body = await read_json(request)
        except ApiError as error:
            raise IamError(400, error.message) from None
        token = state.iam.exchange(
            body.get("jwt"), state.config.service_account_keys, state.config.iam_token_ttl
        )
    except IamError as error:
        return error.response()
    return web.json_response({"iamToken": token.token, "expiresAt": rfc3339(token.expires_at)})


@routes.get(METADATA_TOKEN_PATH)
async def metadata_token(request: web.Request) -> web.Response:
    state = state_of(request)
    if not state.config.serve_metadata:
        return web.Response(status=404, text="Not found: no service account is linked to this instance")
    if request.headers.get("Metadata-Flavor") != "Google":
        return web.Response(status=403, text="Missing Metadata-Flavor:Google header")
    token = state.iam.issue(state.config.metadata_service_account_id, state.config.iam_token_ttl, "metadata")
    expires_in = max(0, int(token.expires_at - token.issued_at))
    return web.json_response({"access_token": token.token, "expires_in": expires_in, "token_type": "Bearer"})


def create_iam_app(state: EmulatorState) -> web.Application:
    """The IAM application, sharing the emulator's state (its keys, its issued tokens)."""
    app = web.Application()
    app[STATE] = state
    app.add_routes(routes)
    return app
