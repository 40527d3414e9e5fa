from bot.core.models import Notice
from bot.telegram import texts


def test_every_notice_has_both_languages() -> None:
    values = {"length": 1, "limit": 2, "formats": "MP3", "max_duration": "1:00", "max_size": "1 MB"}
    values |= {"max_image": "2 MB", "size": "3 MB"}
    for notice in Notice:
        english = texts.text("en", notice, **values)
        russian = texts.text("ru", notice, **values)
        assert english and russian and english != russian, notice


def test_language_follows_the_telegram_client() -> None:
    assert texts.language_of("ru") == "ru"
    assert texts.language_of("ru-RU") == "ru"
    assert texts.language_of("en-US") == "en"
    assert texts.language_of("de") == "en"
    assert texts.language_of(None) == "en"
