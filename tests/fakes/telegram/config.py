"""Run-time configuration of the Telegram Bot API fake.

One mutable dataclass: tests may change any field while the server runs (the server reads it on every
request), e.g. shrink the group window to keep a rate-limit test fast or switch off drafts to act as an
older Bot API server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeConfig:
    """Everything the fake can be told about the bot, its limits and the Bot API version it pretends to be."""

    token: str = "123456:TEST-TOKEN"
    bot_id: int = 123456
    bot_username: str = "test_assistant_bot"
    bot_first_name: str = "Assistant"

    # Rate limits (see README "Rate-limit model"). Limits run on time.monotonic(); recorded
    # timestamps (calls, messages, drafts, violations) are unix time, comparable across fakes.
    rate_limits_enabled: bool = True
    chat_burst: int = 3
    chat_rate_per_s: float = 1.0
    group_per_minute: int = 20
    group_window_s: float = 60.0
    draft_burst: int = 3
    draft_rate_per_s: float = 2.0
    global_per_window: int = 30  # sends, edits and drafts of all chats in any rolling global_window_s
    global_window_s: float = 1.0
    # Drafts vanish this long after their last update (Bot API: a draft is shown for 30 s).
    draft_lifetime_s: float = 30.0

    # Bot API features; switch off to behave like a server from before Bot API 9.3 / 10.1.
    drafts_supported: bool = True
    rich_supported: bool = True

    # Size limits.
    max_download_size: int = 20 * 1024 * 1024
    max_upload_size: int = 50 * 1024 * 1024
    max_text_length: int = 4096
    max_caption_length: int = 1024
    max_rich_length: int = 32768

    # Strictness beyond the real server: reject a bare "&" in HTML text (the real parser keeps it literally).
    strict_html_ampersand: bool = True

    # Seconds after which answerCallbackQuery fails with "query is too old".
    callback_answer_timeout_s: float = 15.0

    # Webhook delivery: per-request timeout and the retry backoff (doubling from min to max delay).
    webhook_timeout_s: float = 10.0
    webhook_retry_min_delay_s: float = 0.05
    webhook_retry_max_delay_s: float = 1.0
    # Telegram opens up to max_connections connections and does not promise one chat's updates one at a
    # time; True delivers every update on its own as soon as a connection is free (same chat included).
    webhook_concurrent: bool = False
