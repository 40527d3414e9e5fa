# Slim, non-root image with the locked runtime dependencies only.
# The base is pinned by digest (the multi-arch index of python:3.11-slim, Debian trixie, as published on
# Docker Hub) so that a rebuild gets the same bytes. To move to a newer base: `docker buildx imagetools
# inspect python:3.11-slim`, then replace the digest below (and run the tests).
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY bot ./bot

RUN useradd --create-home --uid 10001 bot && chown -R bot:bot /app
USER bot

# /metrics and /healthz (METRICS_PORT); in webhook mode also the webhook (WEBHOOK_PORT).
EXPOSE 8080

# The bot keeps a heartbeat in Redis while it serves; the check reads it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "bot.health"]

CMD ["python", "-m", "bot"]
