"""Voice notes, audio files and photos that users send, stored as files and rendered in Bot API shape.

Shapes follow the Bot API's `Voice` (file_id, file_unique_id, duration, mime_type?, file_size?),
`Audio` (… duration, performer?, title?, file_name?, mime_type?, file_size?) and `PhotoSize`
(file_id, file_unique_id, width, height, file_size?): a photo message carries an array of sizes,
smallest first, each a file of its own served through getFile.

A test describes the media as a dict: `content` (bytes, or text encoded as UTF-8), `content_base64`,
or only a declared `size` (served as NUL bytes, i.e. silence); plus `duration` (seconds) for voice
and audio, `width`/`height` for photos. Limits checked (ControlError otherwise), from the Bot API's
sendPhoto: a photo is at most 10 MB, its width + height at most 10000, its sides' ratio at most 20.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .errors import ControlError
from .models import StoredFile
from .state import FakeState
from .text import utf16_len

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES_SUM = 10_000
PHOTO_MAX_RATIO = 20
# Telegram keeps a photo in several sizes; these are the longer sides of its usual ones (s, m, x, y, w).
PHOTO_BOXES = (90, 320, 800, 1280, 2560)
JPEG_SIGNATURE = b"\xff\xd8\xff"
MIN_THUMBNAIL_BYTES = 256


def media_content(spec: dict[str, Any], *, what: str) -> bytes | None:
    """The bytes a test gave (None: only a declared size)."""
    content = spec.get("content")
    if isinstance(content, str):
        content = content.encode()
    if "content_base64" in spec:
        content = base64.b64decode(spec["content_base64"])
    if content is None and not isinstance(spec.get("size"), int):
        raise ControlError(f"{what} needs content (bytes), content_base64 or a declared size")
    if content is not None and not isinstance(content, bytes):
        raise ControlError(f"{what} content must be bytes or text")
    return content


def voice_content(state: FakeState, spec: dict[str, Any] | bool) -> dict[str, Any]:
    """A voice note: OGG Opus, as Telegram clients record them (`voice/file_N.oga`)."""
    if spec is True:
        spec = {"size": 2048, "duration": 2}
    assert isinstance(spec, dict)
    duration = _duration(spec, "a voice note")
    mime = spec.get("mime_type", "audio/ogg")
    stored = state.store_file(
        kind="voice",
        file_name=None,
        mime_type=mime,
        content=media_content(spec, what="a voice note"),
        size=spec.get("size"),
        suffix=".oga",
        folder="voice",
    )
    voice: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "duration": duration,
    }
    if mime:
        voice["mime_type"] = mime
    voice["file_size"] = stored.size
    return {"voice": voice}


def audio_content(state: FakeState, spec: dict[str, Any]) -> dict[str, Any]:
    """An audio file (a music player's kind of file, e.g. MP3), `music/file_N.<ext>`."""
    duration = _duration(spec, "an audio file")
    file_name = spec.get("file_name")
    stored = state.store_file(
        kind="audio",
        file_name=file_name,
        mime_type=spec.get("mime_type"),
        content=media_content(spec, what="an audio file"),
        size=spec.get("size"),
        folder="music",
    )
    audio: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "duration": duration,
    }
    for field in ("performer", "title"):
        if spec.get(field):
            audio[field] = spec[field]
    if file_name:
        audio["file_name"] = file_name
    if spec.get("mime_type"):
        audio["mime_type"] = spec["mime_type"]
    audio["file_size"] = stored.size
    return {"audio": audio}


def photo_content(state: FakeState, spec: dict[str, Any]) -> dict[str, Any]:
    """A photo: the sizes Telegram keeps of it, smallest first. The largest size is the bytes the
    test gave (JPEG: Telegram re-encodes photos as JPEG); smaller ones are generated JPEG-signed filler
    whose length scales with their area, so each size is a distinct file of a plausible size."""
    width, height = spec.get("width"), spec.get("height")
    if not isinstance(width, int) or not isinstance(height, int) or width < 1 or height < 1:
        raise ControlError("a photo needs integer width and height (pixels)")
    if width + height > PHOTO_MAX_SIDES_SUM:
        raise ControlError(f"a photo's width and height must not exceed {PHOTO_MAX_SIDES_SUM} in total")
    if max(width, height) > PHOTO_MAX_RATIO * min(width, height):
        raise ControlError(f"a photo's sides' ratio must be at most {PHOTO_MAX_RATIO}")
    content = media_content(spec, what="a photo")
    declared = len(content) if content is not None else int(spec["size"])
    if declared > PHOTO_MAX_BYTES:
        raise ControlError("a photo must be at most 10 MB (send it as a document instead)")
    if content is None:
        content = _jpeg_filler(declared, seed=f"{width}x{height}")
    elif not content.startswith(JPEG_SIGNATURE):
        raise ControlError("photo content must be JPEG (start with FF D8 FF): Telegram stores photos as JPEG")
    longer = max(width, height)
    top = min(longer, PHOTO_BOXES[-1])
    boxes = [box for box in PHOTO_BOXES if box < top] + [top]
    sizes = []
    for box in boxes:
        scale = box / longer
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        if box == top:
            data = content
        else:
            area_share = (w * h) / (width * height)
            data = _jpeg_filler(max(MIN_THUMBNAIL_BYTES, int(len(content) * area_share)), seed=f"{box}")
        stored = _store_photo(state, data)
        sizes.append(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": w,
                "height": h,
                "file_size": stored.size,
            }
        )
    return {"photo": sizes}


def _store_photo(state: FakeState, data: bytes) -> StoredFile:
    return state.store_file(
        kind="photo", file_name=None, mime_type="image/jpeg", content=data, suffix=".jpg", folder="photos"
    )


def _jpeg_filler(size: int, *, seed: str) -> bytes:
    block = hashlib.sha256(seed.encode()).digest()
    body = (block * (size // len(block) + 1))[: max(0, size - len(JPEG_SIGNATURE))]
    return JPEG_SIGNATURE + body


def _duration(spec: dict[str, Any], what: str) -> int:
    duration = spec.get("duration")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
        raise ControlError(f"{what} needs a duration in whole seconds")
    return duration


def quote_of(replied: dict[str, Any], quote: str) -> dict[str, Any]:
    """A TextQuote (Bot API) of `quote` in the replied message's text or caption: the quoted text and
    its UTF-16 position. Telegram only lets users quote what the message says."""
    source = replied.get("text") or replied.get("caption") or ""
    index = source.find(quote) if quote.strip() else -1
    if index < 0:
        raise ControlError("a quote must be part of the replied message's text or caption")
    return {"text": quote, "position": utf16_len(source[:index]), "is_manual": True}
