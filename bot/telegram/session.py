"""What aiogram's HTTP session needs from us beyond its defaults."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError

JSON_HEADERS = {"Content-Type": "application/json"}


class KeepResponseModels(BaseRequestMiddleware):
    """Builds the reply model of each Bot API method once per process.

    aiogram parses every reply with `Response[method.__returning__]`, a pydantic generic model, and
    pydantic keeps such models only in a weak cache: once no reply is being parsed, the garbage
    collector drops the model and the next call rebuilds its schema (several ms of CPU for
    `Response[bool]`, the reply of every draft; 27 rebuilds in a 100-answer bench window). Holding
    one reference per method's result type makes that a one-off."""

    def __init__(self) -> None:
        self._models: dict[Any, type[Response[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._models:
            self._models[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)

    @property
    def kept(self) -> int:
        """How many reply models are held."""
        return len(self._models)


class JsonBotSession(AiohttpSession):
    """aiogram's aiohttp session, posting each call as one JSON body and reading each reply straight
    into its pydantic model.

    aiogram posts every call as a form: it builds an aiohttp `FormData` (which makes a multipart writer
    with a fresh uuid4 boundary even for a plain form), JSON-encodes each nested object on its own and
    url-quotes the text character by character in Python. For the drafts and messages of an answer
    that was the largest part of a Bot API call's CPU (a fifth of the bot's Telegram time in the bench's
    sampled profile). The Bot API takes the same parameters as a JSON body ("Making requests": query
    string, urlencoded, JSON or multipart form); the values are prepared by aiogram's own
    `prepare_value`, so defaults, enums, dates and nested objects mean what they meant in the form.
    Calls that upload a file keep aiogram's multipart form. Replies that are not a success are left to
    aiogram's `check_response`, so every error is raised exactly as before."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,
    ) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        # The same request errors, translated the same way, as aiogram's make_request.
        try:
            async with session.post(
                url,
                data=body,
                headers=JSON_HEADERS,
                # What aiohttp makes of aiogram's number (a total timeout), spelled out.
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=raw_result)
        return cast(TelegramType, response.result)

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The call's parameters as a JSON object (None: it uploads a file, so it needs a form).

        As in aiogram's form, a parameter whose value is None or an empty string is left out."""
        files: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue
            params[key] = prepared
        if files:
            return None
        return json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        """A successful reply is parsed by pydantic from the JSON text in one pass (no intermediate
        dicts); anything else goes through aiogram's check, which raises the matching error."""
        if HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            model = Response[method.__returning__]  # type: ignore[name-defined]
            try:
                response = model.model_validate_json(content, context={"bot": bot})
            except ValidationError:
                pass
            else:
                if response.ok:
                    return cast(Response[TelegramType], response)
        return super().check_response(bot, method, status_code, content)
