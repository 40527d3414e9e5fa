"""sendMessageDraft / sendRichMessageDraft (Bot API 9.3+ / 10.1+): streamed previews in private chats.

Every accepted frame is kept with its timestamp (tests read them with `drafts(chat_id)`). Drafts have their
own flood budget (see ratelimit.py). In groups the fake answers `Bad Request: TEXTDRAFT_PEER_INVALID`, the
error the community reports for bots; the exact real text is unverified.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.fakes.telegram import errors
from tests.fakes.telegram.errors import bad_request
from tests.fakes.telegram.models import PRIVATE, Chat, DraftFrame
from tests.fakes.telegram.params import Params
from tests.fakes.telegram.rich import parse_rich_message
from tests.fakes.telegram.text import Entity

from .common import Handler, formatted_text, thread_id

if TYPE_CHECKING:
    from tests.fakes.telegram.core import FakeBotApi


async def send_message_draft(api: FakeBotApi, params: Params) -> bool:
    draft_id = _draft_id(params)
    text, entities = formatted_text(api, params, allow_empty=True, max_length=api.config.max_text_length)
    chat, thread = _draft_target(api, params, "sendMessageDraft")
    _record(api, params, chat, draft_id, thread, text=text, entities=entities, rich_markdown=None)
    return True


async def send_rich_message_draft(api: FakeBotApi, params: Params) -> bool:
    draft_id = _draft_id(params)
    rich = parse_rich_message(
        params.json("rich_message"), max_length=api.config.max_rich_length, allow_empty=True
    )
    chat, thread = _draft_target(api, params, "sendRichMessageDraft")
    _record(api, params, chat, draft_id, thread, text=None, entities=[], rich_markdown=rich.source)
    return True


def _draft_id(params: Params) -> int:
    draft_id = params.integer("draft_id", required=True)
    if not draft_id:
        raise bad_request(errors.DRAFT_ID_INVALID)
    return draft_id


def _draft_target(api: FakeBotApi, params: Params, method: str) -> tuple[Chat, int | None]:
    chat = api.state.chat_for_bot(params.chat_id())
    if chat.type != PRIVATE:
        raise bad_request(errors.DRAFT_PEER_INVALID)
    thread = thread_id(api, chat, params)
    api.limiter.check_draft(method, chat.id)
    return chat, thread


def _record(
    api: FakeBotApi,
    params: Params,
    chat: Chat,
    draft_id: int,
    thread: int | None,
    *,
    text: str | None,
    entities: list[Entity],
    rich_markdown: str | None,
) -> None:
    frame = DraftFrame(
        chat_id=chat.id,
        draft_id=draft_id,
        text=text,
        entities=entities,
        rich_markdown=rich_markdown,
        can_stop=params.boolean("can_stop"),
        keep_on_stop=params.boolean("keep_on_stop"),
        message_thread_id=thread,
        at=time.time(),
    )
    api.state.drafts.setdefault(chat.id, []).append(frame)


HANDLERS: dict[str, Handler] = {
    "sendMessageDraft": send_message_draft,
    "sendRichMessageDraft": send_rich_message_draft,
}
