"""aiogram's reply models are built once per process (bot.telegram.session.KeepResponseModels)."""

from __future__ import annotations

import gc
import weakref
from typing import Any, cast

from aiogram.methods import Response

from bot.telegram.session import KeepResponseModels


class _Method:
    """Stands for a Bot API method: only its result type matters here."""

    __returning__ = list[complex]  # a type no other test parses replies with


async def _reply(bot: Any, method: Any) -> Any:
    return None


def _reply_model_survives() -> bool:
    model = weakref.ref(Response[list[complex]])
    gc.collect()  # pydantic's own cache of generic models holds them weakly
    return model() is not None


async def test_a_reply_model_outlives_the_call_that_built_it() -> None:
    # Without the middleware the model does not survive a collection: it would be rebuilt next call.
    assert not _reply_model_survives()
    keep = KeepResponseModels()
    await keep(cast(Any, _reply), cast(Any, None), cast(Any, _Method()))
    assert keep.kept == 1
    assert _reply_model_survives()
    await keep(cast(Any, _reply), cast(Any, None), cast(Any, _Method()))
    assert keep.kept == 1
