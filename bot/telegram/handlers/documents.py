"""Documents: receiving files (albums as one batch), /docs with delete buttons, /forget with confirmation.

Every callback is resolved within the chat it came from and the conversation of whoever pressed
(CallbackGuardMiddleware has checked that the button is on its message), so a button can only ever
touch that person's chat's own documents; in groups, deleting needs the uploader or a group admin,
and /forget (both of its buttons) a group admin.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.core.display import clean_file_name
from bot.core.documents import IncomingDocument
from bot.telegram import texts
from bot.telegram.documents import (
    DELETE_PREFIX,
    FORGET_PREFIX,
    FORGET_YES_PREFIX,
    PAGE_PREFIX,
    documents_listing,
    forget_keyboard,
    page_of,
    shown_name,
)
from bot.telegram.filters import InLoop, is_reply_to_bot, strip_mentions
from bot.telegram.formatting import Chunk
from bot.telegram.mappers import conversation_key, destination, is_group, language, pressed_key
from bot.telegram.permissions import may_administer, sent_by_admin
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


def incoming(message: Message) -> IncomingDocument:
    document = message.document
    assert document is not None
    return IncomingDocument(
        file_ref=document.file_id,
        # Bidi and control characters go at once: the name is shown (and sent to the provider) as it
        # really is, and its extension — what decides its type — cannot be disguised.
        file_name=clean_file_name(document.file_name or "") or f"document-{document.file_unique_id}",
        mime_type=document.mime_type,
        size=document.file_size,
        uploaded_by=message.from_user.id if message.from_user else None,
    )


async def receive_document(message: Message, services: BotServices, bot: Bot) -> None:
    """Private chats: every document. Groups: documents whose caption mentions the bot or that reply
    to it (or every document, if the operator allows uploads from anyone)."""
    key = conversation_key(message, services.group_context)
    dest = destination(message, reply=True)
    lang = language(message.from_user)
    document = incoming(message)
    addressed = True
    if is_group(message):
        me = await bot.me()
        addressed = (
            services.group_documents_from_anyone
            or strip_mentions(message, me)[0]
            or is_reply_to_bot(message, me)
            or (message.caption or "").startswith("/ask")
        )
    if message.media_group_id:

        async def receive_album(documents: list[IncomingDocument], album_addressed: bool) -> None:
            if album_addressed:
                await services.documents.receive(key, dest, documents, lang)

        services.albums.add(message.chat.id, message.media_group_id, document, addressed, receive_album)
        return
    if addressed:
        await services.documents.receive(key, dest, [document], lang)


async def list_documents(message: Message, services: BotServices) -> None:
    lang = language(message.from_user)
    base = await services.knowledge.load(conversation_key(message, services.group_context))
    body, keyboard = documents_listing(base.documents, lang)
    await services.sender.send_chunk(
        destination(message, reply=False), Chunk(body), reply=False, markup=keyboard
    )


async def forget_documents(message: Message, services: BotServices, bot: Bot) -> None:
    lang = language(message.from_user)
    dest = destination(message, reply=True)
    if not await sent_by_admin(bot, services.access, message):
        await services.sender.send_chunk(dest, Chunk(texts.text(lang, "admins_only")), reply=True)
        return
    base = await services.knowledge.load(conversation_key(message, services.group_context))
    if not base.documents:
        await services.sender.send_chunk(dest, Chunk(texts.text(lang, "forget_nothing")), reply=True)
        return
    await services.sender.send_chunk(
        dest,
        Chunk(texts.text(lang, "forget_confirm", count=len(base.documents))),
        reply=True,
        markup=forget_keyboard(lang, base.fingerprint),
    )


async def delete_document(query: CallbackQuery, services: BotServices, bot: Bot) -> None:
    """🗑 under a /docs listing: the presser's own conversation's document (GROUP_CONTEXT=user: their
    own documents), deleted by its uploader or a group admin."""
    message = query.message
    lang = language(query.from_user)
    if not isinstance(message, Message) or query.data is None:
        await query.answer()
        return
    doc_id = query.data.removeprefix(DELETE_PREFIX)
    key = pressed_key(message, services.group_context, query.from_user.id)
    base = await services.knowledge.load(key)
    record = next((d for d in base.documents if d.doc_id == doc_id), None)
    if record is None:
        await query.answer(texts.text(lang, "doc_missing"), show_alert=False)
        return
    uploader = record.uploaded_by == query.from_user.id
    if not uploader and not await may_administer(bot, services.access, message, query.from_user.id):
        await query.answer(texts.text(lang, "not_allowed"), show_alert=True)
        return
    page = page_of(base.documents, doc_id)
    await services.knowledge.delete(key, doc_id)
    await query.answer(texts.text(lang, "doc_deleted", name=shown_name(record.file_name)))
    base = await services.knowledge.load(key)
    body, keyboard = documents_listing(base.documents, lang, page)
    await services.sender.edit_chunk(
        destination(message, reply=False), message.message_id, Chunk(body), markup=keyboard
    )


async def turn_page(query: CallbackQuery, services: BotServices) -> None:
    """◀ ▶ under a /docs listing: the presser's documents (anyone may look), that page."""
    message = query.message
    lang = language(query.from_user)
    if not isinstance(message, Message) or query.data is None:
        await query.answer()
        return
    try:
        page = int(query.data.removeprefix(PAGE_PREFIX))
    except ValueError:
        await query.answer()
        return
    base = await services.knowledge.load(pressed_key(message, services.group_context, query.from_user.id))
    body, keyboard = documents_listing(base.documents, lang, page)
    await query.answer()
    await services.sender.edit_chunk(
        destination(message, reply=False), message.message_id, Chunk(body), markup=keyboard
    )


async def confirm_forget(query: CallbackQuery, services: BotServices, bot: Bot) -> None:
    """The /forget prompt's buttons: either needs what /forget needs (a group admin); "yes" deletes
    only if the documents are still those the prompt counted."""
    message = query.message
    lang = language(query.from_user)
    if not isinstance(message, Message) or query.data is None:
        await query.answer()
        return
    if not await may_administer(bot, services.access, message, query.from_user.id):
        await query.answer(texts.text(lang, "admins_only"), show_alert=True)
        return
    dest = destination(message, reply=False)
    listed = query.data.removeprefix(FORGET_YES_PREFIX) if query.data.startswith(FORGET_YES_PREFIX) else None
    if listed is None:
        await query.answer()
        await services.sender.edit_chunk(
            dest, message.message_id, Chunk(texts.text(lang, "forget_cancelled"))
        )
        return
    key = pressed_key(message, services.group_context, query.from_user.id)
    count = await services.knowledge.forget(key, listed=listed)
    if count is None:
        changed = texts.text(lang, "forget_changed")
        await query.answer(changed)
        await services.sender.edit_chunk(dest, message.message_id, Chunk(changed))
        return
    await query.answer()
    await services.sender.edit_chunk(
        dest, message.message_id, Chunk(texts.text(lang, "forget_done", count=count))
    )


def setup() -> Router:
    router = Router(name="documents")
    router.message.register(list_documents, Command("docs"))
    router.message.register(forget_documents, Command("forget"))
    router.message.register(receive_document, InLoop(F.document))
    router.callback_query.register(delete_document, InLoop(F.data.startswith(DELETE_PREFIX)))
    router.callback_query.register(confirm_forget, InLoop(F.data.startswith(FORGET_PREFIX)))
    router.callback_query.register(turn_page, InLoop(F.data.startswith(PAGE_PREFIX)))
    return router
