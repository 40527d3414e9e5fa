"""``python -m tests.fakes.yandex --host 127.0.0.1 --port N``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from .config import EmulatorConfig
from .server import running_yandex_emulator


def parse_args() -> argparse.Namespace:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.yandex", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--first-delta-delay", type=float, default=defaults.first_delta_delay, metavar="S")
    parser.add_argument("--chars-per-second", type=float, default=defaults.chars_per_second, metavar="C")
    parser.add_argument("--indexing-delay", type=float, default=defaults.indexing_delay, metavar="S")
    parser.add_argument(
        "--models",
        type=lambda value: tuple(name.strip() for name in value.split(",") if name.strip()),
        default=None,
        metavar="A,B,C",
        help="serve only these model names (each answer names its model)",
    )
    parser.add_argument(
        "--context-tokens",
        type=int,
        default=defaults.context_tokens,
        metavar="N",
        help="a prompt over N tokens fails with 400 'exceeded prompt length'",
    )
    parser.add_argument(
        "--usage",
        choices=("real", "zero", "null"),
        default=defaults.usage,
        help="what `usage` holds in responses",
    )
    return parser.parse_args()


async def serve(args: argparse.Namespace) -> None:
    config = EmulatorConfig(
        first_delta_delay=args.first_delta_delay,
        chars_per_second=args.chars_per_second,
        indexing_delay=args.indexing_delay,
        models=args.models or None,
        context_tokens=args.context_tokens,
        usage=args.usage,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_yandex_emulator(config, host=args.host, port=args.port) as emulator:
        print(f"Yandex AI Studio emulator listening on {emulator.base_url}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
