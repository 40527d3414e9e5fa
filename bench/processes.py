"""Child processes of a benchmark run and what `/proc` says about them.

The Telegram fake, the Yandex emulator and the bot under test each run in their own process, so the
bot's CPU time (`/proc/<pid>/stat` utime + stime) and peak resident memory (`/proc/<pid>/status`
VmHWM) are its own. Children get a minimal environment (no settings leak in from the caller's shell),
run in a scratch directory (no `.env` is picked up) and log to a file there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    rss_bytes: int
    peak_rss_bytes: int


def read_usage(pid: int) -> Usage:
    """CPU seconds (user + system) and current/peak resident set size of a live process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on; utime is 14, stime 15
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    memory: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            memory[name] = int(value.split()[0]) * 1024
    return Usage(cpu, memory.get("VmRSS", 0), memory.get("VmHWM", 0))


class ChildError(RuntimeError):
    """A child process failed to start or died; the message carries the end of its log."""


class Child:
    """One running child process, its log file, and a bounded way to stop it."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def usage(self) -> Usage:
        return read_usage(self.pid)

    def send_signal(self, signum: int) -> None:
        if self.alive:
            self.process.send_signal(signum)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_alive(self) -> None:
        if not self.alive:
            raise ChildError(f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}")

    async def wait_for_output(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Poll the log until `pattern` shows up (e.g. a "listening on" banner)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = pattern.search(self.log_text())
            if match:
                return match
            self.check_alive()
            await asyncio.sleep(0.05)
        raise ChildError(f"{self.name} did not print {pattern.pattern!r} within {timeout:.0f} s")

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; returns the exit status."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        return self.process.returncode if self.process.returncode is not None else -1


async def spawn(name: str, module: str, args: list[str], *, workdir: Path, env: dict[str, str]) -> Child:
    """`python -m <module> <args>` with the project on PYTHONPATH, logging to `<workdir>/<name>.log`."""
    log_path = workdir / f"{name}.log"
    environment = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    environment.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env})
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            module,
            *args,
            cwd=workdir,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Child(name, process, log_path)
