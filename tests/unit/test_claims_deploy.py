"""README "Webhook mode and several replicas" and "Faults": what docker-compose.yml and
deploy/nginx-webhook.conf are said to hold (no YAML parser in the project, so read as text)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def commented_replica_block() -> str:
    compose = (ROOT / "docker-compose.yml").read_text()
    start = compose.index("  # bot-1: &replica")
    end = compose.index("\nvolumes:", start)
    return "\n".join(line.replace("  # ", "  ", 1) for line in compose[start:end].splitlines())


def test_compose_has_a_commented_two_replica_example_behind_nginx() -> None:
    block = commented_replica_block()
    assert "bot-1: &replica" in block and "bot-2: *replica" in block
    assert "BOT_MODE: webhook" in block
    port = re.search(r'WEBHOOK_PORT: "(\d+)"', block)
    assert port, block
    assert "./deploy/nginx-webhook.conf:/etc/nginx/nginx.conf" in block
    nginx = (ROOT / "deploy" / "nginx-webhook.conf").read_text()
    upstream = re.search(r"upstream bot_replicas \{(.*?)\}", nginx, re.S)
    assert upstream, nginx
    servers = re.findall(r"server (\S+?);|server (\S+) ", upstream.group(1))
    names = {a or b for a, b in servers}
    assert names == {f"bot-1:{port.group(1)}", f"bot-2:{port.group(1)}"}, names
    assert "proxy_pass http://bot_replicas;" in nginx
    # A delivery refused by a stopping replica (503) or a dead one (502) goes to the other one.
    assert re.search(r"proxy_next_upstream [^;]*http_502[^;]*http_503", nginx)


def test_compose_runs_redis_with_persistence_on() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    redis = compose[compose.index("  redis:") : compose.index("  bot:")]
    assert '"--appendonly", "yes"' in redis
    assert "redis-data:/data" in redis
