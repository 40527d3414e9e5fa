"""`python -m bot`: load settings, run the bot. Exit codes: 0 ok, 1 startup failure, 2 bad settings."""

from __future__ import annotations

import asyncio
import sys

from bot.app import BotApp
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.wiring import StartupError


async def _run(settings: Settings) -> None:
    app = await BotApp.create(settings)
    if settings.bot_mode == "webhook":
        await app.run_webhook()
    else:
        await app.run_polling()


def _secrets(settings: Settings) -> list[str]:
    values = [settings.bot_token.get_secret_value(), settings.yc_credential]
    password = settings.redis_url.partition("://")[2].rpartition("@")[0].rpartition(":")[2]
    return [*values, password] if password else values


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    setup_logging(settings.log_level, settings.log_format, secrets=_secrets(settings))
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
