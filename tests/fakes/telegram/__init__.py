"""A strict, stateful Telegram Bot API fake for end-to-end tests and benchmarks (see README.md)."""
