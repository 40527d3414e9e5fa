"""Telegram's HTML parse mode: a port of TDLib's `parse_html` (td/telegram/MessageEntity.cpp).

It walks the UTF-8 bytes like the real server, so error messages carry the same byte offsets
(`Unsupported start tag "p" at byte offset 5`, `Can't find end tag corresponding to start tag "b"`, ...).
Supported tags: b/strong, i/em, u/ins, s/strike/del, tg-spoiler, span class="tg-spoiler", a href, code
(class="language-x" inside pre), pre, blockquote [expandable], tg-emoji emoji-id. Entities come out with
UTF-16 offsets, sorted like TDLib sorts them.

One deliberate difference: with `strict_ampersand` a bare "&" that does not start a known character
reference is rejected (`Unescaped "&" at byte offset N`); the real parser keeps it literally. The Bot API
documentation requires escaping it, so the fake holds bots to the documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import cant_parse_entities
from .text import Entity, sort_entities

_SUPPORTED_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji", "span", "pre",
     "code", "blockquote"}
)  # fmt: skip
_SIMPLE_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "u": "underline", "ins": "underline", "tg-spoiler": "spoiler",
}  # fmt: skip
_NAMED_REFERENCES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACES = frozenset(b" \t\r\n\0\v\f")
_LT, _GT, _AMP, _SLASH, _EQ = (ord(c) for c in "<>&/=")

UserLookup = Callable[[int], Mapping[str, Any] | None]


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    result_byte_offset: int


def parse_html(source: str, *, strict_ampersand: bool, lookup_user: UserLookup) -> tuple[str, list[Entity]]:
    """Parse `source` into plain text and entities or raise `Bad Request: can't parse entities: ...`."""
    return _HtmlParser(source.encode("utf-8", "surrogatepass"), strict_ampersand, lookup_user).parse()


class _HtmlParser:
    def __init__(self, data: bytes, strict_ampersand: bool, lookup_user: UserLookup) -> None:
        self.data = data
        self.strict_ampersand = strict_ampersand
        self.lookup_user = lookup_user
        self.pos = 0
        self.result = bytearray()
        self.utf16_offset = 0
        self.entities: list[Entity] = []
        self.open_tags: list[_OpenTag] = []

    def at(self, index: int) -> int:
        """The byte at `index`, 0 past the end (TDLib reads a NUL-terminated string)."""
        return self.data[index] if index < len(self.data) else 0

    def parse(self) -> tuple[str, list[Entity]]:
        while self.pos < len(self.data):
            byte = self.data[self.pos]
            if byte == _AMP and self._append_character_reference():
                continue
            if byte == _AMP and self.strict_ampersand:
                raise cant_parse_entities(f'Unescaped "&" at byte offset {self.pos}')
            if byte != _LT:
                self.result.append(byte)
                if byte & 0xC0 != 0x80:
                    self.utf16_offset += 2 if byte >= 0xF0 else 1
                self.pos += 1
                continue
            if self.at(self.pos + 1) == _SLASH:
                self._close_tag()
            else:
                self._open_tag()
        if self.open_tags:
            raise cant_parse_entities(
                f'Can\'t find end tag corresponding to start tag "{self.open_tags[-1].name}"'
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        text = self.result.decode("utf-8", "surrogatepass")
        return text, sort_entities(self.entities)

    def _decode_reference(self, start: int) -> tuple[str, int] | None:
        """A character reference at `start` ("&lt;", "&#128512;", "&#x1F600;") → (character, end) or None."""
        end = start + 1
        if self.at(end) == ord("#"):
            end += 1
            code = 0
            if self.at(end) == ord("x"):
                end += 1
                while self.at(end) and chr(self.at(end)) in "0123456789abcdefABCDEF":
                    code = code * 16 + int(chr(self.at(end)), 16)
                    end += 1
            else:
                while chr(self.at(end)).isdigit() and self.at(end) < 0x80:
                    code = code * 10 + self.at(end) - ord("0")
                    end += 1
            if code == 0 or code >= 0x10FFFF or end - start >= 10:
                return None
            character = chr(code)
        else:
            while chr(self.at(end)).isalpha() and self.at(end) < 0x80:
                end += 1
            named = _NAMED_REFERENCES.get(self.data[start + 1 : end])
            if named is None:
                return None
            character = named
        if self.at(end) == ord(";"):
            end += 1
        return character, end

    def _append_character_reference(self) -> bool:
        decoded = self._decode_reference(self.pos)
        if decoded is None:
            return False
        character, self.pos = decoded
        self.result += character.encode("utf-8", "surrogatepass")
        self.utf16_offset += 2 if ord(character) > 0xFFFF else 1
        return True

    def _open_tag(self) -> None:
        begin = self.pos
        i = begin + 1
        while self.at(i) not in _SPACES and self.at(i) != _GT:
            i += 1
        if self.at(i) == 0:
            raise cant_parse_entities(f"Unclosed start tag at byte offset {begin}")
        tag = self.data[begin + 1 : i].decode("utf-8", "replace").lower()
        if tag not in _SUPPORTED_TAGS:
            raise cant_parse_entities(f'Unsupported start tag "{tag}" at byte offset {begin}')

        argument = ""
        while self.at(i) != _GT:
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) == _GT:
                break
            name_begin = i
            while self.at(i) not in _SPACES and self.at(i) not in (_EQ, _GT):
                i += 1
            attribute = self.data[name_begin:i].decode("utf-8", "replace")
            if not attribute:
                raise cant_parse_entities(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) != _EQ:
                if tag == "blockquote" and attribute == "expandable":
                    argument = "expandable"
                    continue
                raise cant_parse_entities(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {begin}'
                )
            i += 1
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) == 0:
                raise cant_parse_entities(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value, i = self._attribute_value(i)
            if self.at(i) == 0:
                raise cant_parse_entities(f"Unclosed start tag at byte offset {begin}")
            argument = self._tag_argument(tag, attribute, value, argument)

        if tag == "span" and argument != "spoiler":
            raise cant_parse_entities(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.open_tags.append(_OpenTag(tag, argument, self.utf16_offset, len(self.result)))
        self.pos = i + 1

    def _attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.at(i)
        if quote not in (ord("'"), ord('"')):
            # A name token: letters, digits, periods or hyphens; case-insensitive.
            token_begin = i
            while (chr(self.at(i)).isalnum() and self.at(i) < 0x80) or self.at(i) in (ord("."), ord("-")):
                i += 1
            if self.at(i) not in _SPACES and self.at(i) != _GT:
                raise cant_parse_entities(f"Unexpected end of name token at byte offset {token_begin}")
            return self.data[token_begin:i].decode("ascii").lower(), i
        i += 1
        value = bytearray()
        while self.at(i) != quote and self.at(i) != 0:
            if self.at(i) == _AMP:
                decoded = self._decode_reference(i)
                if decoded is not None:
                    value += decoded[0].encode("utf-8", "surrogatepass")
                    i = decoded[1]
                    continue
            value.append(self.at(i))
            i += 1
        if self.at(i) == quote:
            i += 1
        return value.decode("utf-8", "replace"), i

    @staticmethod
    def _tag_argument(tag: str, attribute: str, value: str, current: str) -> str:
        if tag == "a" and attribute == "href":
            return value
        if tag == "code" and attribute == "class" and value.startswith("language-"):
            return value[len("language-") :]
        if tag == "span" and attribute == "class" and value.startswith("tg-"):
            return value[len("tg-") :]
        if tag == "tg-emoji" and attribute == "emoji-id":
            return value
        return current

    def _close_tag(self) -> None:
        begin = self.pos
        if not self.open_tags:
            raise cant_parse_entities(f"Unexpected end tag at byte offset {begin}")
        i = begin + 2
        while self.at(i) not in _SPACES and self.at(i) != _GT:
            i += 1
        end_name = self.data[begin + 2 : i].decode("utf-8", "replace").lower()
        while self.at(i) != 0 and self.at(i) in _SPACES:
            i += 1
        if self.at(i) != _GT:
            raise cant_parse_entities(f"Unclosed end tag at byte offset {begin}")
        opened = self.open_tags[-1]
        if end_name and end_name != opened.name:
            raise cant_parse_entities(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.name}>", found "</{end_name}>"'
            )
        if self.utf16_offset > opened.utf16_offset:
            self._add_entity(opened, self.utf16_offset - opened.utf16_offset)
        self.open_tags.pop()
        self.pos = i + 1

    def _add_entity(self, tag: _OpenTag, length: int) -> None:
        offset = tag.utf16_offset
        span: Entity = {"offset": offset, "length": length}
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
        if tag.name in _SIMPLE_TAGS or tag.name == "span":
            self.entities.append({"type": _SIMPLE_TAGS.get(tag.name, "spoiler"), **span})
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise cant_parse_entities("Invalid custom emoji identifier specified")
            self.entities.append({"type": "custom_emoji", **span, "custom_emoji_id": tag.argument})
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.argument == "expandable" else "blockquote"
            self.entities.append({"type": kind, **span})
        elif tag.name == "a":
            self._add_link(tag, span)
        elif tag.name == "pre":
            if last is not None and same_span and last["type"] == "code":
                last["type"] = "pre"  # <pre><code class="language-x">: one pre entity with a language
                if not last.get("language"):
                    last.pop("language", None)
            else:
                self.entities.append({"type": "pre", **span})
        elif last is not None and same_span and last["type"] == "pre" and tag.argument:
            last["language"] = tag.argument  # <code class="language-x"><pre>
        else:
            self.entities.append({"type": "code", **span, "language": tag.argument})

    def _add_link(self, tag: _OpenTag, span: Entity) -> None:
        url = tag.argument or self.result[tag.result_byte_offset :].decode("utf-8", "replace")
        user_id = _link_user_id(url)
        if user_id is not None:
            user = self.lookup_user(user_id)
            if user is None:
                raise cant_parse_entities("User not found")
            self.entities.append({"type": "text_mention", **span, "user": dict(user)})
            return
        checked = _checked_link(url)
        if checked is not None:
            self.entities.append({"type": "text_link", **span, "url": checked})


def _link_user_id(url: str) -> int | None:
    prefix = "tg://user?id="
    if url.lower().startswith(prefix) and url[len(prefix) :].isdigit():
        return int(url[len(prefix) :])
    return None


def _checked_link(url: str) -> str | None:
    """Roughly TDLib's `get_checked_link`: http(s)/tg/ton/ftp links, bare domains get http://; else dropped."""
    url = url.strip()
    if "://" in url:
        scheme, rest = url.split("://", 1)
        if scheme.lower() not in ("http", "https", "tg", "ton", "ftp") or not rest:
            return None
        if scheme.lower() in ("http", "https", "ftp") and "/" not in rest:
            return f"{scheme.lower()}://{rest}/"
        return f"{scheme.lower()}://{rest}"
    host = url.split("/", 1)[0]
    if "." not in host or " " in url or not host.replace(".", "").replace("-", "").isalnum():
        return None
    return f"http://{url}" if "/" in url else f"http://{url}/"
