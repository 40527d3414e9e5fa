"""Baseline bots for side-by-side benchmarks: the common ways of putting an LLM behind a Telegram bot.

Both speak Chat Completions through the official `openai` client (as most third-party bots do) and
aiogram for Telegram, take the same settings from the environment as `python -m bot`, keep no memory,
and answer every text message (in groups by replying to it):

- `bench.baselines.naive`: wait for the complete answer, then send it in one message (the seed
  documents' simple loop, for Telegram);
- `bench.baselines.edit_every_n`: send a message with the first text, then `editMessageText` after
  every N (`EDIT_EVERY_CHARS`, default 100) new characters, with no rate-limit awareness.

Both retry the final text after Telegram's `retry after` (at most `FINAL_ATTEMPTS` times) so that
they deliver when they can; intermediate edits are fire and forget.
"""
