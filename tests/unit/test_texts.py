from bot.core.models import Notice
from bot.telegram import texts


def test_every_notice_has_both_languages() -> None:
    for notice in Notice:
        english = texts.text("en", notice, length=1, limit=2)
        russian = texts.text("ru", notice, length=1, limit=2)
        assert english and russian and english != russian, notice


def test_language_follows_the_telegram_client() -> None:
    assert texts.language_of("ru") == "ru"
    assert texts.language_of("ru-RU") == "ru"
    assert texts.language_of("en-US") == "en"
    assert texts.language_of("de") == "en"
    assert texts.language_of(None) == "en"
