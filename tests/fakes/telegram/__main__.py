"""Run the fake standalone: `python -m tests.fakes.telegram --host 127.0.0.1 --port 8081`.

Prints one line with the base URL once the server accepts connections and runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .config import FakeConfig
from .server import running_telegram_fake


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default=FakeConfig.token)
    parser.add_argument("--no-rate-limits", action="store_true", help="disable flood control")
    return parser.parse_args()


async def _serve(args: argparse.Namespace) -> None:
    config = FakeConfig(token=args.token, rate_limits_enabled=not args.no_rate_limits)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_telegram_fake(config, host=args.host, port=args.port) as fake:
        print(f"Telegram Bot API fake listening on {fake.base_url} (token {fake.token})", flush=True)
        await stop.wait()


def main() -> None:
    asyncio.run(_serve(_parse_args()))


if __name__ == "__main__":
    main()
