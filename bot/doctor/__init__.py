"""`python -m bot.doctor`: check a deployment before going live, with the real settings (environment and
`.env`), against the real services. Prints a table (check, result, what to do when it failed) and exits
0 only when every check passed; 1 when one failed; 2 (one line, like `python -m bot`) when the settings
themselves are invalid.

Checks, in order (a check that needs an earlier one is skipped when that one failed): the settings;
Redis (write, read back, delete a key); Telegram (getMe; whether a webhook is set and whether that suits
BOT_MODE); the Yandex credentials (an IAM token when they issue them, then GET /v1/models); the model;
one tiny streamed answer (time to first token); a Files + Vector Store round trip (upload a small text
file, index it, search it, delete both). Nothing here changes what the bot keeps: the probe key, file
and index are deleted again (the index also expires within a day if deletion fails).
"""
