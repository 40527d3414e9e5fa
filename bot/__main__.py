"""`python -m bot`: load settings, run the bot. Exit codes: 0 ok, 1 cannot run (Redis, Telegram, Yandex,
a port, another poller; one line on stderr), 2 bad settings (one line naming every bad setting)."""

from __future__ import annotations

import asyncio
import sys

from bot.errors import StartupError
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings


async def _run(settings: Settings) -> None:
    from bot.app import BotApp  # the clients take seconds to import: only once the settings are valid

    app = await BotApp.create(settings)
    if settings.bot_mode == "webhook":
        await app.run_webhook()
    else:
        await app.run_polling()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    setup_logging(settings.log_level, settings.log_format, secrets=settings.secrets())
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
