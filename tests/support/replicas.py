"""Bot replicas as real processes (`python -m bot` in webhook mode), so tests can SIGKILL or SIGTERM
one of them the way an orchestrator does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.environment import without_settings_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ReplicaProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    exit_codes: list[int] = field(default_factory=list)
    # What runs: the bot; the support code's own tests put a stand-in here.
    command: tuple[str, ...] = ("-m", "bot")
    # `python -m bot` spends ~7 s of CPU importing before it logs a line; with two test runs and
    # four replicas starting at once on a loaded 2-core machine, 40 s was seen not to be enough.
    ready_timeout: float = 90.0
    _workdirs: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # A scratch working directory: a developer's .env in the repository must not leak in.
        workdir = tempfile.mkdtemp(prefix=f"replica-{self.name}-")
        self._workdirs.append(workdir)
        env = {**without_settings_environment(dict(os.environ)), **self.env, "PYTHONPATH": str(REPO_ROOT)}
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.command, cwd=workdir, env=env, stdout=log, stderr=log
            )
        try:
            await self.wait_ready()
        except BaseException:
            # Never leave a half-started replica behind (it would keep serving the same bot id).
            await self.stop()
            raise

    async def wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.ready_timeout
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise RuntimeError(f"replica {self.name} exited at start:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base_url}/healthz") as response:
                        if response.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"replica {self.name} not ready:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, locks are not released, in-flight answers stop mid-way."""
        await self._signal(signal.SIGKILL)

    async def terminate(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        return await self._signal(signal.SIGTERM)

    async def stop(self) -> None:
        """Make sure the process is gone: SIGTERM, then SIGKILL if it does not exit in time."""
        try:
            if self.process is None or self.process.returncode is not None:
                return
            try:
                await self._signal(signal.SIGTERM, timeout=30.0)
            except BaseException:
                if self.process.returncode is None:
                    self.process.kill()
                await self.process.wait()
                raise
        finally:
            if self.process is None or self.process.returncode is not None:
                for workdir in self._workdirs:
                    shutil.rmtree(workdir, ignore_errors=True)
                self._workdirs.clear()

    async def _signal(self, signum: int, timeout: float = 60.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        self.exit_codes.append(code)
        return code

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def running_replicas(processes: Iterable[ReplicaProcess]) -> AsyncIterator[None]:
    """Start every replica at once; on leaving, also when a start fails, stop every process started
    (restarts inside the block included)."""
    replicas = list(processes)
    try:
        starts = await asyncio.gather(*(r.start() for r in replicas), return_exceptions=True)
        failures = [result for result in starts if isinstance(result, BaseException)]
        if failures:
            raise failures[0]
        yield
    finally:
        stops = await asyncio.gather(*(r.stop() for r in replicas), return_exceptions=True)
        for replica in replicas:
            if replica.process is not None and replica.process.returncode is None:
                replica.process.kill()  # stop() itself failed: never leave one running
                await replica.process.wait()
        if any(isinstance(result, BaseException) for result in stops):
            raise next(result for result in stops if isinstance(result, BaseException))


def replica_env(
    *,
    telegram_url: str,
    token: str,
    redis_url: str,
    yandex_url: str,
    folder_id: str,
    api_key: str,
    public_url: str,
    port: int,
    secret: str,
    **extra: str,
) -> dict[str, str]:
    """Environment of one webhook replica; `public_url` is what Telegram posts to (the balancer)."""
    env = {
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": telegram_url,
        "REDIS_URL": redis_url,
        "YC_FOLDER_ID": folder_id,
        "YC_API_KEY": api_key,
        "YC_BASE_URL": yandex_url,
        "BOT_MODE": "webhook",
        "WEBHOOK_URL": public_url,
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "METRICS_PORT": str(port),  # /healthz and /metrics on the webhook's listener
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
    }
    env.update({name.upper(): value for name, value in extra.items()})
    return env
