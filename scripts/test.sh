#!/usr/bin/env bash
# The project's one test command: bootstraps .venv from the lock file on a fresh machine,
# makes sure a Redis server is reachable, then runs lint, type checks and the test suite.
# Usage: ./scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"
LOCK="requirements-dev.lock"
STAMP="$VENV/.lock-sha256"
want="$(sha256sum "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"

if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
    echo "==> bootstrapping $VENV from $LOCK"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$LOCK"
    echo "$want" > "$STAMP"
fi

# The end-to-end tests need a real Redis server (TEST_REDIS_URL, default 127.0.0.1:6379 db 15).
redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
if ! "$VENV/bin/python" - "$redis_url" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
then
    if command -v redis-server >/dev/null; then
        echo "==> starting a local redis-server on 127.0.0.1:6379"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        sleep 0.5
    else
        echo "error: no Redis at $redis_url and redis-server is not installed" >&2
        exit 1
    fi
fi

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "==> mypy"
"$VENV/bin/mypy" bot tests bench
echo "==> pytest"
"$VENV/bin/pytest" "$@"
