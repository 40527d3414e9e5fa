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
        "/docs — the documents I know in this chat; /forget — delete them all\n"
        "/usage — tokens used today and what is left\n"
        "/settings — this chat's model, reply format, web search and instructions "
        "(also /model, /format, /websearch, /prompt)\n"
        "/help — this message\n\n"
        "*Good to know*\n"
        "• One answer at a time per chat: messages you send meanwhile are answered in order.\n"
        "• Send me documents (PDF, DOC/DOCX, XLS/XLSX, PPT, RTF, CSV, HTML, MD, TXT, XML, JSON, TeX, up to "
        "20 MB) and I'll answer from them, naming my sources. Each chat has its own documents.\n"
        "• Send a voice message: I show what I heard and answer it. Send a photo (with your question as "
        "the caption) and I'll look at it, if image reading is enabled.\n"
        "• Reply to a message to ask about it, or quote part of it: I'll know what you refer to."
    ),
    "new": "Started a fresh conversation. What would you like to talk about?",
    "history_empty": "This conversation is empty so far.",
    "history_caption": "The conversation so far ({turns} messages).",
    "history_title": "Conversation history",
    "you": "You",
    "assistant": "Assistant",
    "sources": "Sources",
    "stop_button": "⏹ Stop",
    "stop_not_allowed": "Only the person who asked or a group admin can stop this answer.",
    "stop_too_late": "This answer has already finished.",
    "group_greeting": (
        "Hi! I'm an AI assistant. In this group I answer when addressed: mention me ({mention}), "
        "reply to one of my messages, or write /ask followed by your question. "
        "Everyone here shares one conversation{per_topic}. /help tells more."
    ),
    "group_greeting_per_topic": " (one per topic)",
    "ask_usage": "Write your question after the command, e.g. /ask What is a vector store? — or reply to a message with /ask.",
    "admins_only": "Only group admins can do that.",
    "budget_user_exhausted": "You've used today's budget of {limit} tokens. It renews at 00:00 UTC.",
    "budget_chat_exhausted": "This chat has used today's budget of {limit} tokens. It renews at 00:00 UTC.",
    "usage_title": "*Token usage today* (renews at 00:00 UTC)",
    "usage_user": "You: {used} of {limit} ({left} left)",
    "usage_chat": "This chat: {used} of {limit} ({left} left)",
    "usage_user_unlimited": "You: {used} (no limit)",
    "usage_chat_unlimited": "This chat: {used} (no limit)",
    "usage_exempt": "You are an admin: budgets do not apply to you.",
    "usage_approximate": "≈ approximate: Yandex reported no token usage for some answers, so the bot estimated it.",
    "unsupported_content": "I can read text, documents, voice messages and photos, not this kind of content. Please write your question as text.",
    "describe_image": "Describe what is in the image.",
    "unknown_command": "I don't know that command. See /help.",
    "access_denied": "Sorry, this bot is private. Ask its owner for access.",
    "button_stale": "This button no longer works here. Send the command again.",
    "access_denied_group": (
        "Sorry, this bot is private: only people its owner allows can add it to groups. I'm leaving this group."
    ),
    "doc_received": "📥 Received {names}. Indexing…",
    "doc_ready": "✅ Ready: {names}. Ask me about it — answers will cite it.",
    "doc_failed": "❌ Could not index {name}: {reason}",
    "doc_quota": "❌ I can't create a search index right now: the service's limit of indexes is reached. The operator has been told; please try again later.",
    "doc_busy": "I'm still busy with this chat's previous requests. Please send the document again in a moment.",
    "doc_refused_type": "I can't index {name}: this file type is not supported. Supported: {types}.",
    "doc_refused_size": "I can't index {name}: it is {size}, the limit is {limit}.",
    "doc_refused_count": "I can't index {name}: this chat already has {limit} documents, the maximum. Delete some with /docs.",
    "doc_refused_empty": "I can't index {name}: the file is empty.",
    "doc_refused_album_count": (
        "{refused} of the {total} documents were not added: a chat keeps at most {limit} documents "
        "({existing} were here already). Not added: {names}. Delete some with /docs to make room."
    ),
    "doc_reason_download": "Telegram did not let me download it",
    "doc_reason_unreadable": "its content could not be read",
    "doc_reason_timeout": "indexing took too long",
    "doc_reason_other": "the indexing service refused it",
    "doc_reason_unavailable": "the indexing service is unavailable right now; please send it again later",
    "doc_error": "❌ Something went wrong while indexing. Please send the document again.",
    "doc_interrupted": "❌ The bot restarted while indexing. Please send the document again.",
    "doc_reindexing": "🔄 The search index of this chat's documents had expired; re-indexing them, one moment…",
    "docs_empty": "No documents in this chat yet. Send me a file (PDF, DOCX, TXT, MD, …) and I'll use it in my answers.",
    "docs_title": "Documents in this chat ({count}):",
    "docs_title_paged": "Documents in this chat ({count}), page {page} of {pages}:",
    "docs_forget_hint": "Tap a document to delete it, or use /forget to delete all.",
    "doc_status_ready": "ready",
    "doc_status_indexing": "indexing",
    "doc_status_failed": "failed",
    "doc_deleted": "🗑 Deleted {name}.",
    "doc_missing": "That document is already gone.",
    "not_allowed": "Only the person who uploaded it or a group admin can do that.",
    "forget_confirm": "Delete all {count} documents of this chat and their search index? This cannot be undone.",
    "forget_yes": "Yes, delete all",
    "forget_no": "Cancel",
    "forget_done": "🗑 Deleted {count} documents and the search index.",
    "forget_cancelled": "Nothing was deleted.",
    "forget_changed": "Nothing was deleted: the documents changed since I asked. Send /forget again to see them.",
    "forget_nothing": "There are no documents to delete.",
    "settings_title": "⚙️ Settings of this chat",
    "settings_title_topic": "⚙️ Settings of this topic",
    "settings_model": "Model: ",
    "settings_format": "Reply format: ",
    "settings_format_classic": "classic (plain messages, readable in every Telegram app)",
    "settings_format_rich": "rich (tables and headings; some apps, e.g. Telegram Web, cannot show it)",
    "settings_web": "Web search: ",
    "settings_web_on": "on",
    "settings_web_off": "off",
    "settings_instructions_own": "Instructions (set with /prompt): ",
    "settings_instructions_default": "Instructions (the bot's default): ",
    "settings_prompt_hint": "/prompt <text> sets the instructions, /prompt shows them, /prompt reset restores the default.",
    "settings_admins_hint": "In groups only admins can change settings.",
    "settings_button_classic": "Classic",
    "settings_button_rich": "Rich",
    "settings_button_web_on": "🔎 Web search on",
    "settings_button_web_off": "Web search off",
    "settings_admins_only": "Only group admins can change the settings.",
    "settings_panel_gone": "This settings message is too old. Send /settings again.",
    "settings_unknown": "I don't know this setting. Send /settings again.",
    "settings_unchanged": "That is already the setting.",
    "model_switched": "Model: {name}. A new conversation chain starts with the next message; the recent messages carry over.",
    "model_unknown": "There is no model “{name}” here. Available: {models}.",
    "model_unavailable": "That model is not available here. Available: {models}.",
    "model_current": "Model: {name}. Available: {models}. Choose with /model <name> or in /settings.",
    "format_set_classic": "Replies now come as classic messages, readable in every Telegram app.",
    "format_set_rich": "Replies now come as rich messages (tables, headings). If they show as “not supported”, switch back with /format classic.",
    "format_current": "Reply format: {format}. Change it with /format classic or /format rich.",
    "format_usage": "Write /format classic or /format rich.",
    "web_set_on": "Web search is on: answers may use fresh pages from the web and link them.",
    "web_set_off": "Web search is off.",
    "web_current": "Web search is {state}. Change it with /websearch on or /websearch off.",
    "web_usage": "Write /websearch on or /websearch off.",
    "web_disabled": "Web search is turned off by the operator of this bot.",
    "prompt_set": "The instructions of this chat are changed; the next answers follow them.",
    "prompt_reset": "The instructions are back to the bot's default.",
    "prompt_unchanged": "These are already the instructions.",
    "prompt_not_set": "This chat uses the bot's default instructions already.",
    "instructions_too_long": "These instructions are too long ({length} characters, at most {limit}). Please shorten them.",
    "prompt_empty": "Write the instructions after the command, e.g. /prompt Answer like a pirate.",
    "prompt_show_own": "Instructions of this chat (/prompt reset restores the default):",
    "prompt_show_default": "The bot's default instructions (/prompt <text> sets this chat's own):",
    Notice.PROVIDER_BUSY: "The assistant is overloaded right now. Please try again in a minute.",
    Notice.PROVIDER_UNAVAILABLE: "The assistant is temporarily unavailable. Please try again a bit later.",
    Notice.PROVIDER_REJECTED: "The assistant could not process this request. Try rephrasing it, or /new.",
    Notice.ANSWER_INTERRUPTED: "The answer was cut short by an error. Ask again to continue.",
    Notice.ANSWER_STOPPED: "Stopped.",
    Notice.EMPTY_ANSWER: "The assistant returned an empty answer. Try rephrasing the question.",
    Notice.SHUTTING_DOWN: "The bot is restarting and had to cut this answer short. Please ask again in a moment.",
    Notice.EMPTY_QUESTION: "Please write your question as text.",
    Notice.QUESTION_TOO_LONG: "That message is too long ({length} characters, at most {limit}). Please shorten it.",
    Notice.QUEUE_FULL: "I'm still answering your previous messages. Please wait a moment and send this again.",
    Notice.INTERNAL_ERROR: "Something went wrong on my side. Please try again.",
    Notice.STORAGE_UNAVAILABLE: "I'm temporarily unavailable. Please send your message again in a minute.",
    Notice.ANSWER_LOST: "Sorry, my answer to this message was interrupted by a restart. Please ask again.",
    Notice.ANSWER_UNCERTAIN: (
        "A restart interrupted me while I was sending the answer to this message. "
        "If it is missing or incomplete, please ask again."
    ),
    Notice.ANSWER_CUT_OFF: "The answer was cut off at the model's length limit. Ask me to continue if you need more.",
    Notice.MODEL_DECLINED: "The model declined to answer this. Try rephrasing the question.",
    Notice.MODEL_DECLINED_TO_CONTINUE: "The model declined to continue this answer.",
    Notice.PROMPT_TOO_LONG: (
        "This message is too long for the model to read together with our conversation. "
        "Please shorten it, or send /new to start over."
    ),
    Notice.SPEECH_EMPTY: "I couldn't make out any words in that recording. Please try again or write your question.",
    Notice.SPEECH_DISABLED: "Voice messages are not enabled for this bot. Please write your question as text.",
    Notice.SPEECH_FORMAT: "I can't transcribe this audio format. Supported: {formats}.",
    Notice.SPEECH_TOO_LONG: "That recording is too long: I transcribe recordings of up to {max_duration} (min:sec).",
    Notice.SPEECH_TOO_BIG: "That recording is too large: Telegram lets me download files of up to {max_size}.",
    Notice.IMAGES_DISABLED: "Reading images is not enabled for this bot. Please describe what you need in text.",
    Notice.IMAGE_TOO_BIG: "That image is too large ({size}); I read images of up to {max_image}.",
    Notice.MEDIA_UNAVAILABLE: "I couldn't download that file from Telegram. Please send it again.",
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
        "/docs — документы, которые я знаю в этом чате; /forget — удалить их все\n"
        "/usage — сколько токенов израсходовано сегодня и сколько осталось\n"
        "/settings — модель, формат ответов, поиск в интернете и инструкции этого чата "
        "(а также /model, /format, /websearch, /prompt)\n"
        "/help — это сообщение\n\n"
        "*Полезно знать*\n"
        "• В одном чате я отвечаю по очереди: сообщения, отправленные во время ответа, получат ответ по порядку.\n"
        "• Пришлите документы (PDF, DOC/DOCX, XLS/XLSX, PPT, RTF, CSV, HTML, MD, TXT, XML, JSON, TeX, до 20 МБ) — "
        "я буду отвечать по ним и называть источники. У каждого чата свои документы.\n"
        "• Пришлите голосовое — я покажу, что услышал, и отвечу. Пришлите фото (вопрос — в подписи), "
        "и я его рассмотрю, если чтение изображений включено.\n"
        "• Ответьте на сообщение, чтобы спросить о нём, или процитируйте его часть — я пойму, о чём речь."
    ),
    "new": "Начал новый разговор. О чём поговорим?",
    "history_empty": "В этом разговоре пока ничего нет.",
    "history_caption": "Разговор на данный момент ({turns} сообщений).",
    "history_title": "История разговора",
    "you": "Вы",
    "assistant": "Ассистент",
    "sources": "Источники",
    "stop_button": "⏹ Стоп",
    "stop_not_allowed": "Остановить ответ может только тот, кто спросил, или администратор группы.",
    "stop_too_late": "Этот ответ уже завершён.",
    "group_greeting": (
        "Привет! Я AI-ассистент. В этой группе я отвечаю, когда ко мне обращаются: упомяните меня ({mention}), "
        "ответьте на моё сообщение или напишите /ask и вопрос. "
        "У всех участников общий разговор{per_topic}. Подробнее — /help."
    ),
    "group_greeting_per_topic": " (свой в каждой теме)",
    "ask_usage": "Напишите вопрос после команды, например: /ask Что такое векторное хранилище? — или ответьте на сообщение командой /ask.",
    "admins_only": "Это могут делать только администраторы группы.",
    "budget_user_exhausted": "Вы израсходовали дневной лимит в {limit} токенов. Он обновится в 00:00 UTC.",
    "budget_chat_exhausted": "Этот чат израсходовал дневной лимит в {limit} токенов. Он обновится в 00:00 UTC.",
    "usage_title": "*Расход токенов сегодня* (обновляется в 00:00 UTC)",
    "usage_user": "Вы: {used} из {limit} (осталось {left})",
    "usage_chat": "Этот чат: {used} из {limit} (осталось {left})",
    "usage_user_unlimited": "Вы: {used} (без лимита)",
    "usage_chat_unlimited": "Этот чат: {used} (без лимита)",
    "usage_exempt": "Вы администратор: лимиты на вас не действуют.",
    "usage_approximate": "≈ приблизительно: Yandex не сообщил расход токенов по части ответов, бот оценил его сам.",
    "unsupported_content": "Я понимаю текст, документы, голосовые и фото, но не такое содержимое. Напишите, пожалуйста, вопрос текстом.",
    "describe_image": "Опиши, что изображено на картинке.",
    "unknown_command": "Я не знаю такой команды. Смотрите /help.",
    "access_denied": "Извините, это закрытый бот. Попросите доступ у его владельца.",
    "button_stale": "Эта кнопка здесь больше не работает. Отправьте команду ещё раз.",
    "access_denied_group": (
        "Извините, это закрытый бот: добавлять его в группы могут только те, кому разрешил владелец. "
        "Я выхожу из этой группы."
    ),
    "doc_received": "📥 Получил {names}. Индексирую…",
    "doc_ready": "✅ Готово: {names}. Спрашивайте — в ответах будут ссылки на документ.",
    "doc_failed": "❌ Не удалось проиндексировать {name}: {reason}",
    "doc_quota": "❌ Сейчас не получается создать поисковый индекс: исчерпан лимит индексов сервиса. Оператор уже знает; попробуйте позже.",
    "doc_busy": "Я ещё занят предыдущими запросами в этом чате. Пришлите документ ещё раз чуть позже.",
    "doc_refused_type": "Не могу проиндексировать {name}: этот тип файлов не поддерживается. Поддерживаются: {types}.",
    "doc_refused_size": "Не могу проиндексировать {name}: размер {size}, а предел — {limit}.",
    "doc_refused_count": "Не могу проиндексировать {name}: в этом чате уже {limit} документов — это максимум. Удалите лишние через /docs.",
    "doc_refused_empty": "Не могу проиндексировать {name}: файл пустой.",
    "doc_refused_album_count": (
        "{refused} из {total} документов не добавлены: в чате может быть не больше {limit} документов "
        "(уже было {existing}). Не добавлены: {names}. Удалите лишние через /docs."
    ),
    "doc_reason_download": "Telegram не дал его скачать",
    "doc_reason_unreadable": "не удалось прочитать содержимое",
    "doc_reason_timeout": "индексация заняла слишком много времени",
    "doc_reason_other": "сервис индексации его отклонил",
    "doc_reason_unavailable": "сервис индексации сейчас недоступен; пришлите его ещё раз позже",
    "doc_error": "❌ При индексации что-то пошло не так. Пришлите документ ещё раз.",
    "doc_interrupted": "❌ Бот перезапустился во время индексации. Пришлите документ ещё раз.",
    "doc_reindexing": "🔄 Поисковый индекс документов этого чата устарел; переиндексирую их, секунду…",
    "docs_empty": "В этом чате пока нет документов. Пришлите файл (PDF, DOCX, TXT, MD, …) — я буду использовать его в ответах.",
    "docs_title": "Документы в этом чате ({count}):",
    "docs_title_paged": "Документы в этом чате ({count}), страница {page} из {pages}:",
    "docs_forget_hint": "Нажмите на документ, чтобы удалить его, или /forget, чтобы удалить все.",
    "doc_status_ready": "готов",
    "doc_status_indexing": "индексируется",
    "doc_status_failed": "ошибка",
    "doc_deleted": "🗑 Удалил {name}.",
    "doc_missing": "Этого документа уже нет.",
    "not_allowed": "Это может сделать только тот, кто загрузил документ, или администратор группы.",
    "forget_confirm": "Удалить все документы этого чата ({count}) и их поисковый индекс? Это необратимо.",
    "forget_yes": "Да, удалить все",
    "forget_no": "Отмена",
    "forget_done": "🗑 Удалил документы ({count}) и поисковый индекс.",
    "forget_cancelled": "Ничего не удалено.",
    "forget_changed": "Ничего не удалено: документы изменились с тех пор, как я спросил. Отправьте /forget ещё раз.",
    "forget_nothing": "Удалять нечего: документов нет.",
    "settings_title": "⚙️ Настройки этого чата",
    "settings_title_topic": "⚙️ Настройки этой темы",
    "settings_model": "Модель: ",
    "settings_format": "Формат ответов: ",
    "settings_format_classic": "classic (обычные сообщения, видны в любом приложении Telegram)",
    "settings_format_rich": "rich (таблицы и заголовки; некоторые приложения, например Telegram Web, их не показывают)",
    "settings_web": "Поиск в интернете: ",
    "settings_web_on": "включён",
    "settings_web_off": "выключен",
    "settings_instructions_own": "Инструкции (заданы через /prompt): ",
    "settings_instructions_default": "Инструкции (по умолчанию): ",
    "settings_prompt_hint": "/prompt <текст> задаёт инструкции, /prompt показывает их, /prompt reset возвращает стандартные.",
    "settings_admins_hint": "В группах настройки меняют только администраторы.",
    "settings_button_classic": "Classic",
    "settings_button_rich": "Rich",
    "settings_button_web_on": "🔎 Поиск в интернете",
    "settings_button_web_off": "Без поиска",
    "settings_admins_only": "Менять настройки могут только администраторы группы.",
    "settings_panel_gone": "Это сообщение с настройками устарело. Отправьте /settings ещё раз.",
    "settings_unknown": "Я не знаю такой настройки. Отправьте /settings ещё раз.",
    "settings_unchanged": "Эта настройка уже выбрана.",
    "model_switched": "Модель: {name}. Со следующего сообщения начнётся новая цепочка разговора; последние сообщения перенесутся в неё.",
    "model_unknown": "Модели «{name}» здесь нет. Доступны: {models}.",
    "model_unavailable": "Этой модели здесь нет. Доступны: {models}.",
    "model_current": "Модель: {name}. Доступны: {models}. Выбрать: /model <название> или /settings.",
    "format_set_classic": "Теперь ответы приходят обычными сообщениями, которые видны в любом приложении Telegram.",
    "format_set_rich": "Теперь ответы приходят rich-сообщениями (таблицы, заголовки). Если они показываются как «не поддерживается», верните /format classic.",
    "format_current": "Формат ответов: {format}. Сменить: /format classic или /format rich.",
    "format_usage": "Напишите /format classic или /format rich.",
    "web_set_on": "Поиск в интернете включён: ответы могут опираться на свежие страницы и ссылаться на них.",
    "web_set_off": "Поиск в интернете выключен.",
    "web_current": "Поиск в интернете {state}. Сменить: /websearch on или /websearch off.",
    "web_usage": "Напишите /websearch on или /websearch off.",
    "web_disabled": "Поиск в интернете отключён оператором этого бота.",
    "prompt_set": "Инструкции этого чата изменены; следующие ответы будут им следовать.",
    "prompt_reset": "Инструкции снова стандартные.",
    "prompt_unchanged": "Инструкции уже такие.",
    "prompt_not_set": "В этом чате и так стандартные инструкции.",
    "instructions_too_long": "Инструкции слишком длинные ({length} символов, максимум {limit}). Сократите их, пожалуйста.",
    "prompt_empty": "Напишите инструкции после команды, например: /prompt Отвечай как пират.",
    "prompt_show_own": "Инструкции этого чата (/prompt reset вернёт стандартные):",
    "prompt_show_default": "Стандартные инструкции бота (/prompt <текст> задаёт свои для этого чата):",
    Notice.PROVIDER_BUSY: "Ассистент сейчас перегружен. Попробуйте через минуту.",
    Notice.PROVIDER_UNAVAILABLE: "Ассистент временно недоступен. Попробуйте чуть позже.",
    Notice.PROVIDER_REJECTED: "Ассистент не смог обработать запрос. Попробуйте переформулировать или /new.",
    Notice.ANSWER_INTERRUPTED: "Ответ прервался из-за ошибки. Спросите ещё раз, чтобы продолжить.",
    Notice.ANSWER_STOPPED: "Остановлено.",
    Notice.EMPTY_ANSWER: "Ассистент вернул пустой ответ. Попробуйте переформулировать вопрос.",
    Notice.SHUTTING_DOWN: "Бот перезапускается и прервал этот ответ. Спросите ещё раз через минуту.",
    Notice.EMPTY_QUESTION: "Напишите, пожалуйста, вопрос текстом.",
    Notice.QUESTION_TOO_LONG: "Сообщение слишком длинное ({length} символов, максимум {limit}). Сократите его, пожалуйста.",
    Notice.QUEUE_FULL: "Я ещё отвечаю на предыдущие сообщения. Подождите немного и отправьте это снова.",
    Notice.INTERNAL_ERROR: "У меня что-то пошло не так. Попробуйте ещё раз.",
    Notice.STORAGE_UNAVAILABLE: "Я временно недоступен. Отправьте сообщение ещё раз через минуту.",
    Notice.ANSWER_LOST: "Извините, мой ответ на это сообщение прервался из-за перезапуска. Спросите ещё раз.",
    Notice.ANSWER_UNCERTAIN: (
        "Перезапуск прервал отправку ответа на это сообщение. "
        "Если он не пришёл или оборван, спросите ещё раз."
    ),
    Notice.ANSWER_CUT_OFF: "Ответ оборван: модель достигла предела длины ответа. Попросите продолжить, если нужно.",
    Notice.MODEL_DECLINED: "Модель отказалась отвечать на это. Попробуйте сформулировать вопрос иначе.",
    Notice.MODEL_DECLINED_TO_CONTINUE: "Модель отказалась продолжать этот ответ.",
    Notice.PROMPT_TOO_LONG: (
        "Это сообщение слишком длинное, чтобы модель прочла его вместе с нашим разговором. "
        "Сократите его или начните заново командой /new."
    ),
    Notice.SPEECH_EMPTY: "Не удалось разобрать слова в этой записи. Попробуйте ещё раз или напишите вопрос текстом.",
    Notice.SPEECH_DISABLED: "Голосовые сообщения у этого бота не включены. Напишите, пожалуйста, вопрос текстом.",
    Notice.SPEECH_FORMAT: "Не могу распознать этот аудиоформат. Поддерживаются: {formats}.",
    Notice.SPEECH_TOO_LONG: "Запись слишком длинная: я распознаю записи длиной до {max_duration} (мин:сек).",
    Notice.SPEECH_TOO_BIG: "Запись слишком большая: Telegram даёт мне скачивать файлы до {max_size}.",
    Notice.IMAGES_DISABLED: "Чтение изображений у этого бота не включено. Опишите, пожалуйста, что нужно, текстом.",
    Notice.IMAGE_TOO_BIG: "Изображение слишком большое ({size}); я читаю изображения до {max_image}.",
    Notice.MEDIA_UNAVAILABLE: "Не удалось скачать файл из Telegram. Пришлите его, пожалуйста, ещё раз.",
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
