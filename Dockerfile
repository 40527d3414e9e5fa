# Slim, non-root image with the locked runtime dependencies only.
FROM python:3.11-slim

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

# /metrics and /healthz (METRICS_PORT).
EXPOSE 8080

# The bot keeps a heartbeat in Redis while it serves; the check reads it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "bot.health"]

CMD ["python", "-m", "bot"]
