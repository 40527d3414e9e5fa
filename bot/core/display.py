"""Names users chose (display names, file names) made safe to show: no bidirectional controls that
could make "report‮fdp.exe" read as "reportexe.pdf", no line breaks or control characters, and file
names shortened so that a listing or a status message always fits.
"""

from __future__ import annotations

import re
import unicodedata

# Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), and the implicit marks.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_SPACES = re.compile(r"\s+")
SHORT_FILE_NAME = 48
ELLIPSIS = "…"


def strip_bidi(text: str) -> str:
    return "".join(char for char in text if char not in BIDI_CONTROLS)


def clean_name(name: str, *, limit: int = 64) -> str:
    """One line of plain text: bidi and other control or format characters dropped (zero-width joiners
    kept, emoji need them), any run of whitespace (line breaks included) one space, at most `limit`."""
    kept = []
    for char in strip_bidi(name):
        category = unicodedata.category(char)
        if category == "Cc" or (category == "Cf" and char not in "\u200c\u200d"):
            kept.append(" ")
        else:
            kept.append(char)
    text = _SPACES.sub(" ", "".join(kept)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def clean_file_name(name: str) -> str:
    """A file name as received, made safe to keep and show (whole: shortening is for display)."""
    return clean_name(name, limit=1024)


def short_file_name(name: str, limit: int = SHORT_FILE_NAME) -> str:
    """A file name for display: clean, and when long its start and its extension around an ellipsis."""
    name = clean_file_name(name)
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    tail = f".{extension}" if dot and stem and len(extension) <= 10 else ""
    head = name[: len(name) - len(tail)][: limit - len(tail) - 1].rstrip(" .-_")
    return f"{head}{ELLIPSIS}{tail}"
