"""`python -m bot.doctor`: see `bot.doctor`."""

from __future__ import annotations

import asyncio
import sys

from bot.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    from bot.doctor.checks import diagnose, render  # the clients take seconds to import

    checks = asyncio.run(diagnose(settings))
    sys.stdout.write(render(checks) + "\n")
    failed = [check.name for check in checks if check.passed is False]
    sys.stdout.write(f"\n{'all checks passed' if not failed else 'failed: ' + ', '.join(failed)}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
