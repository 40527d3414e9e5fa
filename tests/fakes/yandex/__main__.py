"""``python -m tests.fakes.yandex --host 127.0.0.1 --port N``: run the emulator until SIGINT/SIGTERM.

Credentials like a real folder's: ``--api-key KEY`` (repeatable) and ``--folder ID`` make every other key
a 401 and every other folder a 400; ``--sa-key-file F`` serves ``POST /iam/v1/tokens`` on a port of its
own (``--iam-port``), exchanging JWTs signed by that authorized key for IAM tokens that live
``--iam-token-ttl`` seconds; ``--metadata`` also serves a VM's metadata token endpoint there.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .config import EmulatorConfig
from .iam import load_service_account_key
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
    parser.add_argument(
        "--api-key", action="append", default=None, metavar="KEY", help="an accepted API key (repeatable)"
    )
    parser.add_argument("--folder", default=None, metavar="ID", help="the service account's folder")
    parser.add_argument(
        "--sa-key-file",
        action="append",
        default=None,
        metavar="F",
        help="an authorized key (the JSON `yc iam key create` writes) whose JWTs IAM accepts (repeatable)",
    )
    parser.add_argument(
        "--iam-token-ttl", type=float, default=defaults.iam_token_ttl, metavar="S", help="IAM token lifetime"
    )
    parser.add_argument("--iam-port", type=int, default=None, metavar="N", help="the IAM port (0 = free)")
    parser.add_argument("--metadata", action="store_true", help="serve the metadata token endpoint")
    parser.add_argument(
        "--vision-models",
        default=",".join(defaults.vision_models),
        metavar="PREFIXES",
        help="comma-separated model name prefixes that accept image_url parts (default: gemma-3)",
    )
    parser.add_argument(
        "--stt-async-delay",
        type=float,
        default=defaults.stt_async_delay,
        metavar="S",
        help="seconds an asynchronous speech recognition takes",
    )
    parser.add_argument(
        "--response-log-size",
        type=int,
        default=defaults.response_log_size,
        metavar="N",
        help="how many responses GET /__emu/responses remembers",
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
        api_keys=frozenset(args.api_key) if args.api_key else None,
        folder_id=args.folder,
        service_account_keys=tuple(load_service_account_key(path) for path in args.sa_key_file or ()),
        iam_token_ttl=args.iam_token_ttl,
        serve_metadata=args.metadata,
        vision_models=tuple(prefix.strip() for prefix in args.vision_models.split(",") if prefix.strip()),
        stt_async_delay=args.stt_async_delay,
        response_log_size=args.response_log_size,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_yandex_emulator(
        config, host=args.host, port=args.port, iam_port=args.iam_port
    ) as emulator:
        print(f"Yandex AI Studio emulator listening on {emulator.base_url}", flush=True)
        if emulator.iam_url:
            print(f"IAM token exchange on {emulator.iam_url}", flush=True)
        if config.serve_metadata and emulator.metadata_url:
            print(f"Metadata service on {emulator.metadata_url}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
