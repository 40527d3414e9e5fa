"""The fake's engine: state, update queue, webhook, rate limiter and fault injector behind one `call()`.

Both doors use it: the HTTP app routes `/bot<token>/<method>` here, the control API mutates the same state
and pushes updates through `emit()`. Every Bot API call, successful or not, is appended to the call log.
"""

from __future__ import annotations

import time
from typing import Any

from . import errors
from .config import FakeConfig
from .errors import BotApiError
from .faults import FaultInjector, InjectedFault
from .methods import DRAFT_METHODS, METHODS, RICH_METHODS, canonical_method_name
from .params import Params
from .ratelimit import LIMITED_METHODS, RateLimiter
from .state import FakeState
from .updates import UpdateQueue
from .webhook import WebhookDelivery


class FakeBotApi:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.state = FakeState(config)
        self.updates = UpdateQueue()
        self.limiter = RateLimiter(config)
        self.faults = FaultInjector()
        self.webhook = WebhookDelivery(config, self.updates, self._execute_webhook_reply)

    def emit(self, update_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for the bot (delivered by getUpdates or the webhook)."""
        return self.updates.push(update_type, body)

    async def call(
        self, method_name: str, params: Params, *, token_valid: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API method → (HTTP status, response body); records the call."""
        started_at = time.time()
        method = canonical_method_name(method_name)
        try:
            result = await self._run(method, params, token_valid=token_valid)
        except BotApiError as exc:
            self._record(method, params, started_at, exc)
            return exc.error_code, exc.to_payload()
        self._record(method, params, started_at, None)
        return 200, {"ok": True, "result": result}

    async def _run(self, method: str, params: Params, *, token_valid: bool) -> Any:
        if not token_valid:
            raise BotApiError(401, errors.UNAUTHORIZED)
        handler = METHODS.get(method)
        if handler is None:
            raise BotApiError(404, errors.NOT_FOUND)
        fault = self.faults.take(method)
        if fault is not None and not fault.after_delivery:
            self._penalise(method, params, fault)
            raise fault.error
        if (method in DRAFT_METHODS and not self.config.drafts_supported) or (
            method in RICH_METHODS and not self.config.rich_supported
        ):
            raise BotApiError(404, errors.METHOD_NOT_FOUND)
        result = await handler(self, params)
        if fault is not None:  # carried out, and yet answered with an error
            self._penalise(method, params, fault)
            raise fault.error
        return result

    def _penalise(self, method: str, params: Params, fault: InjectedFault) -> None:
        """An injected 429 on a limited method opens the penalty window an earned one would."""
        retry_after = fault.error.parameters.get("retry_after")
        if fault.error.error_code != 429 or method not in LIMITED_METHODS or not retry_after:
            return
        try:
            chat_id = params.integer("chat_id")
        except BotApiError:
            chat_id = None
        self.limiter.penalise(method, chat_id, int(retry_after), fault.penalty)

    def _record(self, method: str, params: Params, at: float, error: BotApiError | None) -> None:
        self.state.calls.append(
            {
                "method": method,
                "params": params.decoded(),
                "at": at,
                "ok": error is None,
                "error_code": error.error_code if error else None,
                "description": error.description if error else None,
            }
        )

    async def _execute_webhook_reply(self, method_name: str, params: Params) -> None:
        await self.call(method_name, params)

    def reset(self) -> None:
        """Forget everything except the configuration; the update_id counter keeps counting."""
        self.webhook.delete()
        self.updates.clear()
        self.updates.allowed_updates = None
        self.limiter.reset()
        self.faults.reset()
        self.webhook.deliveries.clear()
        self.webhook.allowed_updates = None
        self.state = FakeState(self.config)

    async def close(self) -> None:
        self.updates.close()
        await self.webhook.close()
