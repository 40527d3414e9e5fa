"""Render docs/streaming.svg: an answer growing in a private chat, from a real run of the bot.

The bot runs in process against the two fakes (as in tests/e2e) and a real Redis; the Telegram fake
records every draft frame the bot sent, with its time, and the final message. Those frames, at the times
they were sent, become an animated SVG (SMIL, loops). The answer text is the Yandex emulator's
deterministic one; the model's pace is set slow enough to watch (first text after 0.6 s, then 45
characters a second). Nothing in the picture is drawn by hand.

    .venv/bin/python -m scripts.render_streaming_demo --redis-url redis://127.0.0.1:6379/4
"""

from __future__ import annotations

import argparse
import asyncio
import html
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from tests.e2e.harness import Stack, final_texts
from tests.fakes.telegram.server import running_telegram_fake
from tests.fakes.yandex.fixtures import TEST_API_KEY, TEST_FOLDER_ID, strict_config
from tests.fakes.yandex.server import running_yandex_emulator

QUESTION = "What can you do with the documents I send you?"
WIDTH, LINE_CHARS, LINE_HEIGHT = 460, 46, 19
HOLD_S = 3.0  # the finished answer stays on screen this long before the loop restarts


def wrap(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, LINE_CHARS) or [""])
    return lines


def bubble(x: int, y: int, lines: list[str], *, fill: str, label: str = "") -> tuple[str, int]:
    height = 16 + LINE_HEIGHT * len(lines) + (16 if label else 0)
    parts = [f'<rect x="{x}" y="{y}" width="{WIDTH - 40 - x + 20}" height="{height}" rx="14" fill="{fill}"/>']
    baseline = y + 24
    for line in lines:
        parts.append(f'<text x="{x + 14}" y="{baseline}">{html.escape(line)}</text>')
        baseline += LINE_HEIGHT
    if label:
        parts.append(f'<text x="{x + 14}" y="{baseline}" class="label">{html.escape(label)}</text>')
    return "".join(parts), height


def render(frames: list[tuple[float, str, bool]]) -> str:
    """`frames`: (seconds from the question, text shown, final?) in order."""
    question_lines = wrap(QUESTION)
    user_svg, user_h = bubble(110, 16, question_lines, fill="#effdde")
    top = 16 + user_h + 12
    tallest = max(len(wrap(text)) for _, text, _ in frames)
    height = top + 16 + LINE_HEIGHT * tallest + 16 + 24
    total = frames[-1][0] + HOLD_S
    groups = []
    for index, (at, text, final) in enumerate(frames):
        until = frames[index + 1][0] if index + 1 < len(frames) else total
        label = "" if final else "draft · Stop ⏹"
        body, _ = bubble(20, top, wrap(text), fill="#ffffff" if final else "#f4f4f5", label=label)
        groups.append(
            f'<g visibility="hidden">{body}<set attributeName="visibility" to="visible" '
            f'begin="loop.begin+{at:.2f}s" dur="{until - at:.2f}s"/></g>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="14">'
        "<style>text{fill:#1f2328}.label{fill:#8a8f98;font-size:12px}</style>"
        f'<rect width="{WIDTH}" height="{height}" rx="16" fill="#cfe3f5"/>'
        f'<rect width="0" height="0"><animate id="loop" attributeName="width" from="0" to="0" '
        f'begin="0s;loop.end" dur="{total:.2f}s"/></rect>'
        f"{user_svg}{''.join(groups)}</svg>\n"
    )


async def record(redis_url: str) -> list[tuple[float, str, bool]]:
    config = strict_config()
    config.first_delta_delay = 0.6
    config.chars_per_second = 45.0
    redis: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    async with running_telegram_fake() as telegram, running_yandex_emulator(config) as yandex:
        stack = Stack(telegram, yandex, redis_url, TEST_FOLDER_ID, TEST_API_KEY)
        async with stack.bot(reply_format="classic"):
            user: dict[str, Any] = await telegram.create_user("Anna")
            chat_id = (await telegram.create_private_chat(user))["id"]
            asked_at = time.time()
            await telegram.send_user_message(chat_id, user, QUESTION)
            await telegram.wait_for(lambda: len(final_texts(telegram, chat_id)) == 1, timeout=60)
        drafts = telegram.drafts(chat_id)
        final = telegram.bot_messages(chat_id)[-1]
    frames = [(draft["at"] - asked_at, draft["text"] or "", False) for draft in drafts if draft["text"]]
    frames.append((final["sent_at"] - asked_at, final["text"] or "", True))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", required=True, help="a Redis database this script may flush")
    parser.add_argument("--out", type=Path, default=Path("docs/streaming.svg"))
    args = parser.parse_args()
    frames = asyncio.run(record(args.redis_url))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(frames), encoding="utf-8")
    sys.stdout.write(f"{args.out}: {len(frames)} frames over {frames[-1][0]:.1f} s\n")


if __name__ == "__main__":
    main()
