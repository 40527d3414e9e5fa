"""`python -m bench.instrumented_bot`: the real bot (`bot.__main__.main()`) with its Redis round trips counted.

In redis-py (7.4, `redis/asyncio/connection.py`) every request goes out through
`AbstractConnection.send_packed_command`, and the caller then reads the replies: one call is one round
trip. A pipeline or a MULTI/EXEC transaction packs all of its commands into a single call
(`redis/asyncio/client.py`, `Pipeline._execute_pipeline` / `_execute_transaction`), so it counts once.
Calls are counted per first command (`MULTI` for a transaction) and sorted into:

- `answers`: everything the bot does for its users (the figure reported per answer);
- `connection`: the handshake of a new connection (`HELLO`, `AUTH`, `CLIENT`, `SELECT`), which redis-py
  sends without waiting for each reply;
- `health`: `PING`s of redis-py's connection health checks;
- `heartbeat`: the liveness `SET` of `bot.storage.heartbeat` (every 30 s, not per answer).

It also times the interpreter's garbage collections (`gc.callbacks`): a full collection walks every
object of the process, and stops the event loop meanwhile; and it measures the event loop's lag: a
probe task asks to wake every 20 ms and records how late it wakes (a busy loop delays every timer, so
every booked Telegram turn, by as much).

On SIGUSR1, and at exit, the counts are written as JSON to `$BENCH_REDIS_COUNTS` (atomically).
With `$BENCH_PROFILE` set, cProfile runs between the first and the second SIGUSR1 (the benchmark's
measured window, after the warm-up) and its stats are written there (`python -m bench.run --profile`;
read them with `python -m pstats`).
"""

from __future__ import annotations

import asyncio
import atexit
import cProfile
import gc
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from redis.asyncio.connection import AbstractConnection

CONNECTION_COMMANDS = frozenset({"HELLO", "AUTH", "CLIENT", "SELECT", "READONLY"})
HEALTH_COMMANDS = frozenset({"PING"})
HEARTBEAT_KEY_PART = b"heartbeat"
LAG_PROBE_INTERVAL_S = 0.02

T = TypeVar("T")


class RoundTrips:
    """Counts `send_packed_command` calls by category and by first command."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.by_command: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()
        self.gc = GcPauses()
        self.lag = LoopLag()
        self.snapshots = 0

    def record(self, command: bytes | str | list[bytes]) -> None:
        name, key = first_command(command)
        self.by_command[name] += 1
        self.by_category[category(name, key)] += 1

    def dump(self) -> None:
        if self.path is None:
            return
        self.snapshots += 1
        payload = {
            "snapshot": self.snapshots,
            "by_category": dict(self.by_category),
            "by_command": dict(self.by_command),
            "gc_since_last_snapshot": self.gc.take(),
            "loop_lag_since_last_snapshot": self.lag.take(),
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload))
        os.replace(temporary, self.path)


class GcPauses:
    """Count, total and longest duration of garbage collections per generation (`gc.callbacks`),
    since the previous `take()`."""

    def __init__(self) -> None:
        self._pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append((info["generation"], time.perf_counter() - self._started))

    def take(self) -> dict[str, dict[str, float]]:
        pauses, self._pauses = self._pauses, []
        summary: dict[str, dict[str, float]] = {}
        for generation in sorted({generation for generation, _ in pauses}):
            times = [elapsed for gen, elapsed in pauses if gen == generation]
            summary[f"gen{generation}"] = {
                "count": len(times),
                "total_ms": round(sum(times) * 1000, 1),
                "max_ms": round(max(times) * 1000, 1),
            }
        return summary


class LoopLag:
    """How late the event loop wakes a probe that sleeps LAG_PROBE_INTERVAL_S at a time."""

    def __init__(self) -> None:
        self._lags: list[float] = []

    async def probe(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_INTERVAL_S)
            self._lags.append(max(0.0, time.perf_counter() - asked - LAG_PROBE_INTERVAL_S))

    def take(self) -> dict[str, float]:
        lags, self._lags = sorted(self._lags), []
        if not lags:
            return {}
        return {
            "samples": len(lags),
            "p50_ms": round(lags[len(lags) // 2] * 1000, 1),
            "p95_ms": round(lags[int(len(lags) * 0.95)] * 1000, 1),
            "max_ms": round(lags[-1] * 1000, 1),
            "over_50ms": sum(1 for lag in lags if lag > 0.05),
        }


def run_with_lag_probe(lag: LoopLag) -> None:
    """Make `asyncio.run` (the bot's one event loop) run the lag probe beside the bot's main coroutine."""
    original = asyncio.run

    def run(main: Coroutine[Any, Any, T], **kwargs: Any) -> T:
        async def probed() -> T:
            probe = asyncio.create_task(lag.probe(), name="bench-loop-lag-probe")
            try:
                return await main
            finally:
                probe.cancel()

        return original(probed(), **kwargs)

    asyncio.run = run


def first_command(command: bytes | str | list[bytes]) -> tuple[str, bytes]:
    """Name and first argument of the first command of a packed RESP request."""
    if isinstance(command, str):
        head = command.encode()[:512]
    elif isinstance(command, bytes):
        head = command[:512]
    else:
        head = bytes(command[0][:512]) if command else b""
    parts = head.split(b"\r\n")  # *<argc>, $<len>, NAME, $<len>, KEY, ...
    name = parts[2].decode(errors="replace").upper() if len(parts) > 2 else "?"
    key = parts[4] if len(parts) > 4 else b""
    return name, key


def category(name: str, key: bytes) -> str:
    if name in CONNECTION_COMMANDS:
        return "connection"
    if name in HEALTH_COMMANDS:
        return "health"
    if name == "SET" and HEARTBEAT_KEY_PART in key:
        return "heartbeat"
    return "answers"


class WindowProfiler:
    """cProfile switched on by the first `toggle()` and off (stats written) by the second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.profiler = cProfile.Profile()
        self.toggles = 0

    def toggle(self) -> None:
        self.toggles += 1
        if self.toggles == 1:
            self.profiler.enable()
        elif self.toggles == 2:
            self.profiler.disable()
            self.profiler.dump_stats(self.path)


def install(
    counter: RoundTrips,
    profiler: WindowProfiler | None = None,
    *,
    freeze_gc: bool = False,
    gc_threshold: int | None = None,
) -> None:
    """Wrap `send_packed_command`; dump the counts (and toggle the profiler) on SIGUSR1 and at exit."""
    original = AbstractConnection.send_packed_command

    async def counted(
        self: AbstractConnection, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        packed: bytes | str | list[bytes] = command if isinstance(command, bytes | str) else list(command)
        counter.record(packed)
        await original(self, packed, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if freeze_gc and counter.snapshots == 0:
            gc.freeze()  # experiment (--gc-freeze): everything alive after the warm-up is never scanned again
        if gc_threshold is not None and counter.snapshots == 0:
            # experiment (--gc-threshold N): fewer young collections, so fewer in-flight objects promoted
            gc.set_threshold(gc_threshold, *gc.get_threshold()[1:])
        if profiler is not None:
            profiler.toggle()
        counter.dump()

    signal.signal(signal.SIGUSR1, on_signal)
    atexit.register(counter.dump)
    gc.callbacks.append(counter.gc)
    run_with_lag_probe(counter.lag)


def main() -> int:
    counts = os.environ.get("BENCH_REDIS_COUNTS")
    profile = os.environ.get("BENCH_PROFILE")
    install(
        RoundTrips(Path(counts) if counts else None),
        WindowProfiler(Path(profile)) if profile else None,
        freeze_gc=os.environ.get("BENCH_GC_FREEZE") == "1",
        gc_threshold=int(os.environ["BENCH_GC_THRESHOLD"]) if os.environ.get("BENCH_GC_THRESHOLD") else None,
    )
    from bot.__main__ import main as bot_main  # after patching, so every connection is counted

    return bot_main()


if __name__ == "__main__":
    sys.exit(main())
