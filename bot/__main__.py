"""`python -m bot`: load settings, run the bot. Exit codes: 0 ok, 1 startup failure, 2 bad settings."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.app import BotApp
from bot.settings import Settings, SettingsError, load_settings
from bot.wiring import StartupError


async def _run(settings: Settings) -> None:
    app = await BotApp.create(settings)
    await app.run_polling()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_run(settings))
    except StartupError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
