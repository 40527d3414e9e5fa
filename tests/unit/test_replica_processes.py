"""The test support code that runs bot replicas as processes (tests/support/replicas.py): whatever
happens at start-up, no process it started outlives the test. Stand-ins replace the bot here: a tiny
HTTP server that reports healthy, one that exits at once, one that never becomes ready."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.replicas import ReplicaProcess, running_replicas

HEALTHY = (
    "-c",
    "import http.server, os\n"
    "class Health(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200 if self.path == '/healthz' else 404)\n"
    "        self.end_headers()\n"
    "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), Health).serve_forever()\n",
)
EXITS_AT_ONCE = ("-c", "raise SystemExit(3)")
NEVER_READY = ("-c", "import time; time.sleep(120)")


def replica(
    tmp_path: Path, name: str, command: tuple[str, ...], ready_timeout: float = 20.0
) -> ReplicaProcess:
    port = free_port()
    return ReplicaProcess(
        name,
        port,
        {"PORT": str(port)},
        tmp_path / f"{name}.log",
        command=command,
        ready_timeout=ready_timeout,
    )


def gone(process: ReplicaProcess) -> bool:
    return process.process is not None and process.process.returncode is not None


async def test_a_replica_failing_at_start_takes_the_others_down_with_it(tmp_path: Path) -> None:
    healthy, broken = replica(tmp_path, "healthy", HEALTHY), replica(tmp_path, "broken", EXITS_AT_ONCE)
    with pytest.raises(RuntimeError, match="replica broken exited at start"):
        async with running_replicas([healthy, broken]):
            raise AssertionError("the block must not run")
    assert gone(healthy) and gone(broken)
    assert healthy.exit_codes == [-signal.SIGTERM], "the healthy one had started and was stopped"


async def test_a_replica_that_never_gets_ready_is_stopped_by_its_own_start(tmp_path: Path) -> None:
    stuck = replica(tmp_path, "stuck", NEVER_READY, ready_timeout=1.0)
    with pytest.raises(TimeoutError, match="replica stuck not ready"):
        await stuck.start()
    assert gone(stuck)


async def test_every_replica_is_stopped_when_the_block_ends_also_a_restarted_or_killed_one(
    tmp_path: Path,
) -> None:
    a, b = replica(tmp_path, "a", HEALTHY), replica(tmp_path, "b", HEALTHY)
    with pytest.raises(KeyError):
        async with running_replicas([a, b]):
            await a.kill()
            await a.start()  # restarted, as the replica tests do
            await b.kill()
            raise KeyError("a failing test")
    assert gone(a) and gone(b)
    assert a.exit_codes == [-signal.SIGKILL, -signal.SIGTERM]
    assert b.exit_codes == [-signal.SIGKILL]
