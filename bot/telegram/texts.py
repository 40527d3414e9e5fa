"""Everything the bot says, in English and Russian. The user's Telegram language picks the catalog."""

from __future__ import annotations

from bot.core.models import Language, Notice

_EN: dict[str, str] = {
    "start": (
        "Hi! I'm an AI assistant powered by Yandex AI Studio.\n\n"
        "Just write to me and I'll answer as I think. I remember our conversation, even after a "
        "restart; /new starts a fresh one.\n\nSee /help for everything I can do."
    ),
    "help": (
        "*What I do*\n"
        "I answer your questions with a Yandex AI Studio model. The answer appears while it is being "
        "written; press Stop to end it early.\n\n"
        "*Commands*\n"
        "/new — start a fresh conversation (I forget the current one)\n"
        "/history — get this chat's conversation as a Markdown file\n"
        "/help — this message\n\n"
        "*Good to know*\n"
        "• One answer at a time per chat: messages you send meanwhile are answered in order.\n"
        "• I understand text messages; stickers, voice and other media are not supported yet."
    ),
    "new": "Started a fresh conversation. What would you like to talk about?",
    "history_empty": "This conversation is empty so far.",
    "history_caption": "The conversation so far ({turns} messages).",
    "history_title": "Conversation history",
    "you": "You",
    "assistant": "Assistant",
    "sources": "Sources",
    "unsupported_content": "I can only read text messages for now. Please write your question as text.",
    "unknown_command": "I don't know that command. See /help.",
    "access_denied": "Sorry, this bot is private. Ask its owner for access.",
    Notice.PROVIDER_BUSY: "The assistant is overloaded right now. Please try again in a minute.",
    Notice.PROVIDER_UNAVAILABLE: "The assistant is temporarily unavailable. Please try again a bit later.",
    Notice.PROVIDER_REJECTED: "The assistant could not process this request. Try rephrasing it, or /new.",
    Notice.ANSWER_INTERRUPTED: "The answer was cut short by an error. Ask again to continue.",
    Notice.ANSWER_STOPPED: "Stopped.",
    Notice.EMPTY_ANSWER: "The assistant returned an empty answer. Try rephrasing the question.",
    Notice.EMPTY_QUESTION: "Please write your question as text.",
    Notice.QUESTION_TOO_LONG: "That message is too long ({length} characters, at most {limit}). Please shorten it.",
    Notice.QUEUE_FULL: "I'm still answering your previous messages. Please wait a moment and send this again.",
    Notice.INTERNAL_ERROR: "Something went wrong on my side. Please try again.",
}

_RU: dict[str, str] = {
    "start": (
        "Привет! Я AI-ассистент на базе Yandex AI Studio.\n\n"
        "Просто напишите мне — я отвечаю по мере того, как думаю. Я помню наш разговор даже после "
        "перезапуска; /new начинает новый.\n\nВсё, что я умею, — в /help."
    ),
    "help": (
        "*Что я умею*\n"
        "Отвечаю на вопросы с помощью модели Yandex AI Studio. Ответ появляется по мере написания; "
        "кнопка «Стоп» завершает его досрочно.\n\n"
        "*Команды*\n"
        "/new — начать новый разговор (текущий я забуду)\n"
        "/history — получить разговор в этом чате файлом Markdown\n"
        "/help — это сообщение\n\n"
        "*Полезно знать*\n"
        "• В одном чате я отвечаю по очереди: сообщения, отправленные во время ответа, получат ответ по порядку.\n"
        "• Я понимаю текстовые сообщения; стикеры, голосовые и другие медиа пока не поддерживаются."
    ),
    "new": "Начал новый разговор. О чём поговорим?",
    "history_empty": "В этом разговоре пока ничего нет.",
    "history_caption": "Разговор на данный момент ({turns} сообщений).",
    "history_title": "История разговора",
    "you": "Вы",
    "assistant": "Ассистент",
    "sources": "Источники",
    "unsupported_content": "Пока я понимаю только текстовые сообщения. Напишите, пожалуйста, вопрос текстом.",
    "unknown_command": "Я не знаю такой команды. Смотрите /help.",
    "access_denied": "Извините, это закрытый бот. Попросите доступ у его владельца.",
    Notice.PROVIDER_BUSY: "Ассистент сейчас перегружен. Попробуйте через минуту.",
    Notice.PROVIDER_UNAVAILABLE: "Ассистент временно недоступен. Попробуйте чуть позже.",
    Notice.PROVIDER_REJECTED: "Ассистент не смог обработать запрос. Попробуйте переформулировать или /new.",
    Notice.ANSWER_INTERRUPTED: "Ответ прервался из-за ошибки. Спросите ещё раз, чтобы продолжить.",
    Notice.ANSWER_STOPPED: "Остановлено.",
    Notice.EMPTY_ANSWER: "Ассистент вернул пустой ответ. Попробуйте переформулировать вопрос.",
    Notice.EMPTY_QUESTION: "Напишите, пожалуйста, вопрос текстом.",
    Notice.QUESTION_TOO_LONG: "Сообщение слишком длинное ({length} символов, максимум {limit}). Сократите его, пожалуйста.",
    Notice.QUEUE_FULL: "Я ещё отвечаю на предыдущие сообщения. Подождите немного и отправьте это снова.",
    Notice.INTERNAL_ERROR: "У меня что-то пошло не так. Попробуйте ещё раз.",
}

_CATALOGS: dict[Language, dict[str, str]] = {"en": _EN, "ru": _RU}


def language_of(language_code: str | None) -> Language:
    """Russian for Russian-speaking users (and close languages), English otherwise."""
    if language_code and language_code.split("-")[0].lower() in {"ru", "uk", "be", "kk"}:
        return "ru"
    return "en"


def text(language: Language, key: str, **values: object) -> str:
    template = _CATALOGS[language].get(key) or _EN[key]
    return template.format(**values) if values else template
