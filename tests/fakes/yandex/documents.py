"""Turning uploaded bytes into searchable text, or deciding that a file cannot be indexed.

The real service parses many formats; the emulator is deliberately small but honest about failure:

* text-like content (any bytes that decode as UTF-8: txt, md, csv, json, html, xml, …) is read as text;
  HTML/XML tags are dropped;
* DOCX / XLSX (zip archives) give the text of ``word/document.xml`` / ``xl/sharedStrings.xml``;
* PDF gives the literal strings of its text objects (plain or Flate-compressed content streams);
* legacy OLE2 office files (.doc/.xls/.ppt) give their printable ASCII and UTF-16 runs;
* PPTX, images and any other binary that is not UTF-8 text → ``unsupported_file``;
* empty files, files without any words, corrupt archives, and content containing the marker
  ``emu:unreadable`` → ``invalid_file``.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib

UNREADABLE_MARKER = "emu:unreadable"

# The MIME types a search index takes (``_includes/ai-studio/searchindex-filetypes.md``); a file
# uploaded with any other type fails indexing with ``unsupported_file``.
SEARCH_INDEX_MIME_TYPES = frozenset(
    {
        "application/json",
        "application/msword",
        "application/pdf",
        "application/vnd.ms-excel",
        "application/vnd.ms-excel.sheet.2",
        "application/vnd.ms-excel.sheet.3",
        "application/vnd.ms-excel.sheet.4",
        "application/vnd.ms-excel.workspace.3",
        "application/vnd.ms-excel.workspace.4",
        "application/vnd.ms-outlook",
        "application/vnd.ms-powerpoint",
        "application/vnd.ms-project",
        "application/vnd.ms-word2006ml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/x-latex",
        "application/x-ms-owner",
        "application/xhtml+xml",
        "text/csv",
        "text/html",
        "text/markdown",
        "text/plain",
        "text/xml",
        "application/rtf",
    }
)

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
_MARKUP_SUFFIXES = (".html", ".htm", ".xhtml", ".xml")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\w{2,}")


class UnreadableFileError(Exception):
    """The file cannot be indexed; ``code`` is the vector-store ``last_error.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def extract_text(filename: str, data: bytes) -> str:
    """The searchable text of a file, or ``UnreadableFileError`` saying why there is none."""
    if not data:
        raise UnreadableFileError("invalid_file", "The file is empty.")
    text = _extract_by_format(filename.lower(), data)
    if UNREADABLE_MARKER in text:
        raise UnreadableFileError("invalid_file", "The file could not be parsed.")
    if not _WORD.search(text):
        raise UnreadableFileError("invalid_file", "No text could be extracted from the file.")
    return text


def _extract_by_format(lower_name: str, data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        return _pdf_text(data)
    if data.startswith(b"PK\x03\x04"):
        return _office_open_xml_text(data)
    if data.startswith(_OLE2_MAGIC):
        return _printable_runs(data)
    if data.startswith(_IMAGE_MAGICS):
        raise UnreadableFileError("unsupported_file", "Images are not supported by file search.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFileError(
            "unsupported_file", "The file is neither UTF-8 text nor a supported document format."
        ) from None
    if "\x00" in text:
        raise UnreadableFileError("unsupported_file", "Binary files are not supported.")
    if lower_name.endswith(_MARKUP_SUFFIXES):
        return html.unescape(_TAG.sub(" ", text))
    return text


def _office_open_xml_text(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "word/document.xml" in names:
                xml = archive.read("word/document.xml").decode("utf-8", "replace")
                paragraphs = xml.split("</w:p>")
                return "\n".join(
                    "".join(re.findall(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>", paragraph))
                    for paragraph in paragraphs
                ).strip()
            if "xl/sharedStrings.xml" in names:
                xml = archive.read("xl/sharedStrings.xml").decode("utf-8", "replace")
                return "\n".join(re.findall(r"<t(?:\s[^>]*)?>([^<]*)</t>", xml))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise UnreadableFileError("invalid_file", f"Corrupt archive: {exc}.") from None
    raise UnreadableFileError("unsupported_file", "This archive format is not supported by file search.")


_PDF_STREAM = re.compile(rb"<<(.*?)>>\s*stream\r?\n(.*?)\r?\nendstream", re.DOTALL)
_PDF_TEXT_OBJECT = re.compile(rb"BT(.*?)ET", re.DOTALL)
_PDF_LITERAL = re.compile(rb"\((?:\\.|[^\\)])*\)", re.DOTALL)
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _pdf_text(data: bytes) -> str:
    blocks: list[str] = []
    for dictionary, raw in _PDF_STREAM.findall(data):
        content = raw
        if b"/FlateDecode" in dictionary:
            try:
                content = zlib.decompress(raw)
            except zlib.error:
                continue
        for text_object in _PDF_TEXT_OBJECT.findall(content):
            strings = [_pdf_unescape(literal[1:-1]) for literal in _PDF_LITERAL.findall(text_object)]
            blocks.append("".join(strings))
    return "\n".join(blocks)


def _pdf_unescape(literal: bytes) -> str:
    def replace(match: re.Match[bytes]) -> bytes:
        escaped = match.group(1)
        if escaped[:1].isdigit():
            return bytes([int(escaped, 8) & 0xFF])
        return _PDF_ESCAPES.get(escaped, escaped)

    return re.sub(rb"\\([0-7]{1,3}|.)", replace, literal, flags=re.DOTALL).decode("latin-1")


def _printable_runs(data: bytes) -> str:
    ascii_runs = [run.decode("ascii") for run in re.findall(rb"[\x20-\x7e]{4,}", data)]
    utf16_runs = [run.decode("utf-16-le") for run in re.findall(rb"(?:[\x20-\x7e]\x00){4,}", data)]
    return "\n".join(ascii_runs + utf16_runs)
