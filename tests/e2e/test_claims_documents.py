"""README "Documents" claims end to end that no other test exercised: office formats through the bot,
a question right behind its document, the index's expiry, chunking and batches, and /docs' dates.

The office files are built here byte by byte, as small as their formats allow but valid (a PDF with
its cross-reference table, OOXML packages with their content types and relationships), so nothing is
added to the lock files for them."""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import pytest
from openai import AsyncOpenAI

from bot.yandex.documents import VectorStoreIndex
from tests.e2e.harness import Stack, final_texts

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PDF_FACT = "The harbour master of Port Elwyn is called Morwenna Quill."
DOCX_FACT = "The warranty on the Falcon kettle lasts twenty six months."
XLSX_FACT = "A crossing on the Kestrel ferry costs fourteen crowns."


def pdf_bytes(*lines: str) -> bytes:
    """A one-page PDF 1.4 whose page shows `lines` (Helvetica, a Flate-compressed content stream),
    with a correct cross-reference table, so any PDF reader opens it."""
    text_ops = "".join(f"({_pdf_escape(line)}) Tj 0 -16 Td " for line in lines)
    content = zlib.compress(f"BT /F1 12 Tf 72 720 Td {text_ops}ET".encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _package(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return buffer.getvalue()


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def docx_bytes(*paragraphs: str) -> bytes:
    """A minimal WordprocessingML package: content types, the package relationship, the document."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    return _package(
        {
            "[Content_Types].xml": _XML
            + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
            "_rels/.rels": _XML + f'<Relationships xmlns="{_PKG_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
            "word/document.xml": _XML
            + '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body}</w:body></w:document>",
        }
    )


def xlsx_bytes(*cells: str) -> bytes:
    """A minimal SpreadsheetML package: one sheet whose column A holds `cells` as shared strings."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{n - 1}</v></c></row>' for n in range(1, len(cells) + 1)
    )
    strings = "".join(f"<si><t>{cell}</t></si>" for cell in cells)
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    return _package(
        {
            "[Content_Types].xml": _XML
            + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{sheet_type}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{sheet_type}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{sheet_type}.sharedStrings+xml"/>'
            "</Types>",
            "_rels/.rels": _XML + f'<Relationships xmlns="{_PKG_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
            "xl/workbook.xml": _XML + f'<workbook xmlns="{main}" xmlns:r="{_DOC_RELS}">'
            '<sheets><sheet name="Prices" sheetId="1" r:id="rId1"/></sheets></workbook>',
            "xl/_rels/workbook.xml.rels": _XML + f'<Relationships xmlns="{_PKG_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>",
            "xl/worksheets/sheet1.xml": _XML
            + f'<worksheet xmlns="{main}"><sheetData>{rows}</sheetData></worksheet>',
            "xl/sharedStrings.xml": _XML
            + f'<sst xmlns="{main}" count="{len(cells)}" uniqueCount="{len(cells)}">{strings}</sst>',
        }
    )


async def private_chat(stack: Stack) -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Alice", language_code="en")
    chat = await stack.telegram.create_private_chat(user)
    return user, chat["id"]


async def wait_text(stack: Stack, chat_id: int, needle: str, timeout: float = 20.0) -> str:
    def found() -> bool:
        return any(needle in t for t in final_texts(stack.telegram, chat_id))

    await stack.telegram.wait_for(found, timeout=timeout)
    return next(t for t in reversed(final_texts(stack.telegram, chat_id)) if needle in t)


async def ask(stack: Stack, chat_id: int, user: dict[str, Any], question: str) -> str:
    """The final text of the answer to `question` (the emulator's completed output, as shown)."""
    await stack.telegram.send_user_message(chat_id, user, question)

    def completed() -> dict[str, Any] | None:
        done = [
            r for r in stack.yandex.responses() if r["input_text"] == question and r["status"] == "completed"
        ]
        return done[-1] if done else None

    await stack.telegram.wait_for(lambda: completed() is not None, timeout=20)
    record = completed()
    assert record is not None
    first_line = record["output_text"].splitlines()[0]
    return await wait_text(stack, chat_id, first_line)


def sources_line(answer: str) -> str:
    return answer.rstrip().splitlines()[-1]


async def test_pdf_docx_and_xlsx_are_indexed_and_answers_quote_and_cite_them(stack: Stack) -> None:
    documents = [
        {
            "file_name": "harbour.pdf",
            "mime_type": "application/pdf",
            "content": pdf_bytes("Port Elwyn", PDF_FACT),
        },
        {"file_name": "kettle.docx", "mime_type": DOCX_TYPE, "content": docx_bytes("Warranty", DOCX_FACT)},
        {"file_name": "fares.xlsx", "mime_type": XLSX_TYPE, "content": xlsx_bytes("Fares", XLSX_FACT)},
    ]
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        for document in documents:
            await stack.telegram.send_user_message(chat_id, user, document=document)
            await wait_text(stack, chat_id, f"✅ Ready: {document['file_name']}")
        harbour = await ask(stack, chat_id, user, "Who is the harbour master of Port Elwyn?")
        kettle = await ask(stack, chat_id, user, "How long is the warranty on the Falcon kettle?")
        ferry = await ask(stack, chat_id, user, "What does a crossing on the Kestrel ferry cost?")
    assert PDF_FACT in harbour and "harbour.pdf" in sources_line(harbour)
    assert DOCX_FACT in kettle and "kettle.docx" in sources_line(kettle)
    assert XLSX_FACT in ferry and "fares.xlsx" in sources_line(ferry)
    [store] = stack.yandex.vector_stores()
    assert {f["filename"]: (f["status"], f["mime_type"]) for f in store["files"]} == {
        "harbour.pdf": ("completed", "application/pdf"),
        "kettle.docx": ("completed", DOCX_TYPE),
        "fares.xlsx": ("completed", XLSX_TYPE),
    }


async def test_a_question_sent_right_after_a_document_is_answered_with_it(stack: Stack) -> None:
    """The question arrives while the document is still being downloaded and indexed (indexing takes
    a second at the emulator); it waits for the indexing in the chat's lane and is answered from it."""
    stack.yandex.config.indexing_delay = 1.0
    question = "Who is the harbour master of Port Elwyn?"
    async with stack.bot(reply_format="classic"):
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={
                "file_name": "harbour.pdf",
                "mime_type": "application/pdf",
                "content": pdf_bytes(PDF_FACT),
            },
        )
        answer = await ask(stack, chat_id, user, question)
        status = await wait_text(stack, chat_id, "✅ Ready: harbour.pdf")
    assert status
    assert PDF_FACT in answer and "harbour.pdf" in sources_line(answer)
    [request] = [r for r in stack.yandex.responses() if r["input_text"] == question]
    [store] = stack.yandex.vector_stores()
    assert [s for tool in request["tools"] for s in tool.get("vector_store_ids", [])] == [store["id"]]


async def test_the_index_expires_after_its_last_activity_and_later_documents_join_by_batches(
    stack: Stack,
) -> None:
    """The first document creates the chat's index with `expires_after` (last active + INDEX_TTL_DAYS)
    and static chunking; each later document goes through `file_batches`, never another index or the
    single-file endpoint (checked in the emulator's request log)."""
    async with stack.bot(index_ttl_days=9, chunk_size_tokens=400, chunk_overlap_tokens=120):
        user, chat_id = await private_chat(stack)
        for name in ("one.md", "two.md", "three.md"):
            await stack.telegram.send_user_message(
                chat_id,
                user,
                document={
                    "file_name": name,
                    "mime_type": "text/markdown",
                    "content": f"# {name}\n\nFacts.".encode(),
                },
            )
            await wait_text(stack, chat_id, f"✅ Ready: {name}")
    [store] = stack.yandex.vector_stores()
    client = AsyncOpenAI(base_url=stack.yandex.base_url, api_key=stack.api_key, project=stack.folder_id)
    try:
        remote = await client.vector_stores.retrieve(store["id"])
        uploads = [f.filename async for f in client.files.list(purpose="assistants")]
    finally:
        await client.close()
    assert sorted(uploads) == ["one.md", "three.md", "two.md"], "uploaded with purpose=assistants"
    assert remote.expires_after is not None
    assert (remote.expires_after.anchor, remote.expires_after.days) == ("last_active_at", 9)
    assert remote.expires_at is not None and remote.last_active_at is not None
    assert remote.expires_at - remote.last_active_at == 9 * 86400
    chunking = {"type": "static", "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 120}}
    assert [(f["filename"], f["chunking_strategy"]) for f in store["files"]] == [
        (name, chunking) for name in ("one.md", "two.md", "three.md")
    ]
    writes = [(r["method"], r["path"]) for r in stack.yandex.requests(limit=5000) if r["method"] == "POST"]
    store_path = f"/v1/vector_stores/{store['id']}"
    assert writes.count(("POST", "/v1/vector_stores")) == 1, "one index for the chat"
    assert writes.count(("POST", f"{store_path}/file_batches")) == 2, "each later document in a batch"
    assert ("POST", f"{store_path}/files") not in writes


async def test_docs_lists_each_documents_status_date_and_size(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        content = b"# Notes\n\n" + b"The island has three beaches. " * 60
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "notes.md", "mime_type": "text/markdown", "content": content},
        )
        await wait_text(stack, chat_id, "✅ Ready: notes.md")
        await stack.telegram.send_user_message(chat_id, user, "/docs")
        listing = await wait_text(stack, chat_id, "Documents in this chat (1)")
    today = datetime.now(UTC)
    dates = {today.strftime("%Y-%m-%d"), (today - timedelta(days=1)).strftime("%Y-%m-%d")}  # past midnight
    [line] = [line for line in listing.splitlines() if "notes.md" in line]
    shown = re.fullmatch(r"1\. notes\.md — ready, (?P<added>\d{4}-\d{2}-\d{2}), 1\.8 KB", line)
    assert shown is not None, f"number, name, status, date and size: {line!r}"
    assert shown["added"] in dates, line


def on_disk(content: BinaryIO) -> bool:
    """Whether a file object is backed by a file of the operating system (not bytes in memory)."""
    try:
        content.fileno()
    except (OSError, io.UnsupportedOperation):
        return False
    return True


async def test_downloads_stay_in_memory_while_small_and_go_to_disk_when_large(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the upload is handed: bytes in memory for a small file, a file on disk for one over 1 MB;
    either way read whole, and closed after the upload."""
    handed: list[tuple[str, bool, BinaryIO]] = []
    real_upload = VectorStoreIndex.upload

    async def recording_upload(
        self: VectorStoreIndex, file_name: str, content: BinaryIO, mime_type: str
    ) -> str:
        handed.append((file_name, on_disk(content), content))
        return await real_upload(self, file_name, content, mime_type)

    monkeypatch.setattr(VectorStoreIndex, "upload", recording_upload)
    large = b"# Ledger\n\n" + b"The ledger lists every crossing of the Kestrel ferry. " * 30_000  # 1.6 MB
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        for name, content in (("small.md", b"# Small\n\nA short note."), ("large.md", large)):
            await stack.telegram.send_user_message(
                chat_id, user, document={"file_name": name, "mime_type": "text/markdown", "content": content}
            )
            await wait_text(stack, chat_id, f"✅ Ready: {name}")
    assert [(name, disk) for name, disk, _ in handed] == [("small.md", False), ("large.md", True)]
    assert all(content.closed for _, _, content in handed), "closed after the upload"
    client = AsyncOpenAI(base_url=stack.yandex.base_url, api_key=stack.api_key, project=stack.folder_id)
    try:
        sizes = {f.filename: f.bytes async for f in client.files.list(purpose="assistants")}
    finally:
        await client.close()
    assert sizes["large.md"] == len(large), "the large file was uploaded whole"


async def test_a_refused_index_quota_tells_the_user_and_logs_an_error_for_the_operator(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack.yandex.config.vector_store_quota = 0
    caplog.set_level(logging.ERROR)
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        await stack.telegram.send_user_message(
            chat_id,
            user,
            document={"file_name": "a.md", "mime_type": "text/markdown", "content": b"# A\n\nFacts."},
        )
        failure = await wait_text(stack, chat_id, "❌")
    assert "limit of indexes is reached" in failure
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "quota" in r.getMessage()]
    assert errors, [r.getMessage() for r in caplog.records]
