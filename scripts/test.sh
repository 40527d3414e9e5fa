#!/usr/bin/env bash
# The project's one test command: bootstraps .venv from the lock file on a fresh machine,
# starts a Redis server of its own, then runs lint, type checks and the test suite.
# Usage: ./scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"
LOCK="requirements-dev.lock"
STAMP="$VENV/.lock-sha256"
want="$(sha256sum "$LOCK" | cut -d' ' -f1)"  # the venv holds exactly the lock's packages

# Two runs started at once on a fresh checkout must not build the same .venv together.
exec 9>".venv.lock"
flock 9
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
    echo "==> bootstrapping $VENV from $LOCK"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$LOCK"
    echo "$want" > "$STAMP"
fi
flock -u 9

# The tests need a real Redis server, and they flush it. Each run gets one of its own (a fresh
# redis-server on a free port, in a temporary directory, stopped when the run ends), so two runs on
# one machine never touch each other's data. TEST_REDIS_URL points the run at another server instead.
run_dir="$(mktemp -d)"
redis_pid=""
cleanup() {
    if [[ -n "$redis_pid" ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    rm -rf "$run_dir"
}
trap cleanup EXIT

if [[ -z "${TEST_REDIS_URL:-}" ]]; then
    if ! command -v redis-server >/dev/null; then
        echo "error: redis-server is not installed; install it or set TEST_REDIS_URL to a Redis the tests may flush" >&2
        exit 1
    fi
    for _ in 1 2 3 4 5; do
        port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$run_dir" \
            --logfile "$run_dir/redis.log" &
        redis_pid=$!
        for _ in $(seq 50); do
            if "$VENV/bin/python" -c "import redis, sys; redis.Redis(port=$port, socket_connect_timeout=0.2).ping()" 2>/dev/null; then
                break 2
            fi
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$redis_pid" 2>/dev/null || true  # the port was taken meanwhile: try another one
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    done
    if [[ -z "$redis_pid" ]]; then
        echo "error: could not start a redis-server for the tests (see its log above)" >&2
        exit 1
    fi
    export TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    echo "==> redis-server for this run at $TEST_REDIS_URL"
fi

echo "==> ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "==> mypy"
"$VENV/bin/mypy" bot tests bench
echo "==> pytest"
"$VENV/bin/pytest" "$@"
