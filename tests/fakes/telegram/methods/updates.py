"""getUpdates and the webhook methods (setWebhook, deleteWebhook, getWebhookInfo)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram import errors
from tests.fakes.telegram.errors import bad_request
from tests.fakes.telegram.params import Params

from .common import Handler

if TYPE_CHECKING:
    from tests.fakes.telegram.core import FakeBotApi

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


async def get_updates(api: FakeBotApi, params: Params) -> list[dict[str, Any]]:
    allowed = params.json("allowed_updates")
    return await api.updates.poll(
        offset=params.integer("offset"),
        limit=params.integer("limit") or 100,
        timeout=params.integer("timeout") or 0,
        allowed_updates=allowed if isinstance(allowed, list) else None,
        webhook_active=lambda: api.webhook.active,
    )


async def set_webhook(api: FakeBotApi, params: Params) -> bool:
    """Any http(s) URL is accepted (like a local Bot API server), so tests can use 127.0.0.1 ports."""
    url = params.string("url") or ""
    if params.boolean("drop_pending_updates"):
        api.updates.clear()
    if not url:
        api.webhook.delete()
        return True
    if not re.match(r"^https?://[^/\s]+", url):
        raise bad_request(errors.WEBHOOK_URL_INVALID)
    secret_token = params.string("secret_token")
    if secret_token is not None and not _SECRET_TOKEN.match(secret_token):
        raise bad_request(errors.SECRET_TOKEN_INVALID)
    max_connections = params.integer("max_connections") or 40
    allowed = params.json("allowed_updates")
    api.webhook.set(
        url,
        secret_token=secret_token,
        max_connections=min(max(max_connections, 1), 100),
        allowed_updates=allowed if isinstance(allowed, list) else None,
    )
    return True


async def delete_webhook(api: FakeBotApi, params: Params) -> bool:
    if params.boolean("drop_pending_updates"):
        api.updates.clear()
    api.webhook.delete()
    return True


async def get_webhook_info(api: FakeBotApi, params: Params) -> dict[str, Any]:
    return api.webhook.info()


HANDLERS: dict[str, Handler] = {
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
}
