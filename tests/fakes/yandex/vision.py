"""Images in Chat Completions, as Yandex documents them for multimodal models.

``ai-studio/operations/generation/multimodels-request.md``: a user message's ``content`` is a list of
parts, ``{"type": "text", …}`` and ``{"type": "image_url", "image_url": {"url":
"data:image/jpeg;base64,…"}}``; "Your images should be Base64-encoded". ``ai-studio/concepts/generation/
models.md`` lists one image-capable model, Gemma 3 27B, where "Each image uses 256 context tokens".

Checked here (``ApiError`` 400 otherwise): the model's name starts with one of the configured vision
prefixes; images sit in user messages only; each URL is a base64 ``data:`` URL of JPEG, PNG or WebP
whose bytes really are that format (a model cannot read anything else). Yandex documents neither
the refusal for other models nor the accepted formats: the formats are the ones the bot sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

TOKENS_PER_IMAGE = 256
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)
_MODEL_NAME = re.compile(r"^gpt://[^/]+/(?P<name>.+)$")
_FORMAT_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}


@dataclass(frozen=True)
class Image:
    mime_type: str
    size: int
    fingerprint: str
    """First hex digits of the image's SHA-256: tells images apart in answers and records."""

    def record(self) -> dict[str, Any]:
        return {"mime_type": self.mime_type, "bytes": self.size, "fingerprint": self.fingerprint}


def is_vision_model(model: str, prefixes: Iterable[str]) -> bool:
    match = _MODEL_NAME.match(model)
    name = match["name"] if match else model
    return any(name.startswith(prefix) for prefix in prefixes)


def checked_images(items: list[dict[str, Any]], model: str, prefixes: Iterable[str]) -> list[Image]:
    """The images of a Chat Completions request, in order; 400 when Yandex would not take them."""
    parts = [
        (item.get("role"), part)
        for item in items
        for part in item.get("content", [])
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]
    if not parts:
        return []
    if not is_vision_model(model, prefixes):
        raise bad_request(
            f"Model {model} does not support image input; use a multimodal model such as gemma-3-27b-it.",
            param="messages",
            code="invalid_argument",
        )
    images = []
    for role, part in parts:
        if role != "user":
            raise bad_request("Images are accepted in user messages only.", param="messages")
        images.append(_decoded(part.get("image_url")))
    return images


def _decoded(image_url: Any) -> Image:
    url = image_url.get("url") if isinstance(image_url, dict) else None
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    if match is None:
        raise bad_request(
            "image_url.url must be a base64 data URL (data:image/<type>;base64,...): images are "
            "accepted Base64-encoded only.",
            param="messages",
        )
    mime = match["mime"].lower()
    if mime not in _FORMAT_NAMES:
        raise bad_request(f"Unsupported image type {mime}: send JPEG, PNG or WebP.", param="messages")
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("The image's base64 data is invalid.", param="messages") from None
    if not _looks_like(mime, data):
        raise bad_request(f"The image data is not a valid {_FORMAT_NAMES[mime]} image.", param="messages")
    return Image(mime, len(data), hashlib.sha256(data).hexdigest()[:8])


def _looks_like(mime: str, data: bytes) -> bool:
    if mime == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if mime == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def describe(images: list[Image]) -> str:
    """The deterministic "what I see" paragraph that opens an answer about images."""
    pieces = [
        f"image {number} is a {_FORMAT_NAMES[image.mime_type]} picture, bytes={image.size}, "
        f"fingerprint {image.fingerprint}"
        for number, image in enumerate(images, start=1)
    ]
    noun = "image" if len(images) == 1 else "images"
    return f"I see {len(images)} {noun}: " + "; ".join(pieces) + "."
