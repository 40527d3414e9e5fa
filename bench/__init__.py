"""Benchmarks of the bot against the fakes, side by side with two baseline bots; see bench/README.md."""
