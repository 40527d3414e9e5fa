"""Formatted text as Telegram handles it: UTF-16 lengths, entity validation, trimming and entity detection.

Telegram measures text limits and entity offsets in UTF-16 code units (an emoji outside the BMP counts 2).
`finalize_text` mirrors the parts of TDLib's `fix_formatted_text` that a bot can observe: explicit entities
are checked against the text bounds, whitespace-only entities are dropped, and the text is trimmed of
leading/trailing spaces and newlines with the entities shifted accordingly. `detect_entities` finds the
`bot_command` and `mention` entities Telegram adds to messages users send (TDLib's `match_bot_commands` /
`find_mentions`).
"""

from __future__ import annotations

from typing import Any

from .errors import MESSAGE_TEXT_EMPTY, bad_request, cant_parse_entities

Entity = dict[str, Any]

ENTITY_TYPES = frozenset(
    {
        "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold", "italic",
        "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote", "code", "pre",
        "text_link", "text_mention", "custom_emoji", "date_time",
    }
)  # fmt: skip

# TDLib sorts entities by offset, then longer first, then by this type priority.
_TYPE_PRIORITY = {
    "blockquote": 0, "expandable_blockquote": 0, "pre": 11, "code": 20, "text_link": 49, "text_mention": 49,
    "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93, "spoiler": 94, "custom_emoji": 99,
}  # fmt: skip
# Entities that carry data of their own and therefore survive even when they cover whitespace only.
_HIDDEN_DATA_TYPES = frozenset({"text_link", "text_mention", "custom_emoji", "date_time"})
_TRIMMED = " \n"
_SPLITTABLE_TYPES = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf16_to_index(text: str, utf16_offset: int) -> int:
    """The str index of the character that starts at `utf16_offset` (len(text) for the end)."""
    units = 0
    for index, char in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def sort_entities(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"], _TYPE_PRIORITY.get(e["type"], 50)))


def validate_entities(raw: Any) -> list[Entity]:
    """Check an explicit `entities` parameter: known types, their required fields, sane numbers."""
    if not isinstance(raw, list):
        raise cant_parse_entities('Field "entities" must be an Array')
    entities: list[Entity] = []
    for item in raw:
        if not isinstance(item, dict):
            raise cant_parse_entities("MessageEntity must be an Object")
        kind, offset, length = item.get("type"), item.get("offset"), item.get("length")
        if kind not in ENTITY_TYPES:
            raise cant_parse_entities(f'Unsupported entity type "{kind}"')
        if not isinstance(offset, int) or offset < 0:
            raise cant_parse_entities(f"Receive an entity with incorrect offset {offset}")
        if not isinstance(length, int) or length < 0:
            raise cant_parse_entities(f"Receive an entity with incorrect length {length}")
        if kind == "text_link" and not item.get("url"):
            raise cant_parse_entities('Field "url" must be non-empty')
        if kind == "text_mention" and not isinstance(item.get("user"), dict):
            raise cant_parse_entities('Field "user" must be an Object')
        if kind == "custom_emoji" and not str(item.get("custom_emoji_id", "")).isdigit():
            raise cant_parse_entities("Invalid custom emoji identifier specified")
        entities.append(dict(item))
    return entities


def check_entity_bounds(text: str, entities: list[Entity]) -> None:
    total = utf16_len(text)
    for entity in sort_entities([e for e in entities if e["length"] > 0]):
        if entity["offset"] >= total:
            raise cant_parse_entities(
                f"Entity begins after the end of the text at UTF-16 offset {entity['offset']}"
            )
        end = entity["offset"] + entity["length"]
        if end > total:
            raise cant_parse_entities(
                f"Entity beginning at UTF-16 offset {entity['offset']} ends after the end of the text "
                f"at UTF-16 offset {end}"
            )


def finalize_text(text: str, entities: list[Entity], *, allow_empty: bool) -> tuple[str, list[Entity]]:
    """Trim text the way Telegram does and fix entity offsets; empty text fails unless allowed (drafts)."""
    check_entity_bounds(text, entities)
    kept = [_strip_leading_whitespace(text, e) for e in entities if e["length"] > 0]
    kept = [e for e in kept if e["length"] > 0 and (e["type"] in _HIDDEN_DATA_TYPES or _has_content(text, e))]

    stripped_right = text.rstrip(_TRIMMED)
    end = utf16_len(stripped_right)
    clipped: list[Entity] = []
    for entity in kept:
        if entity["offset"] >= end:
            continue
        entity["length"] = min(entity["length"], end - entity["offset"])
        clipped.append(entity)

    first_entity = min((e["offset"] for e in clipped), default=end)
    lead = 0
    while lead < len(stripped_right) and lead < first_entity and stripped_right[lead] in _TRIMMED:
        lead += 1
    result = stripped_right[lead:]
    for entity in clipped:
        entity["offset"] -= lead
    if not result and not allow_empty:
        raise bad_request(MESSAGE_TEXT_EMPTY)
    return result, sort_entities(_drop_nested_in_code(clipped))


def _strip_leading_whitespace(text: str, entity: Entity) -> Entity:
    entity = dict(entity)
    if entity["type"] in _HIDDEN_DATA_TYPES:
        return entity
    start = utf16_to_index(text, entity["offset"])
    while entity["length"] > 0 and start < len(text) and text[start] in _TRIMMED:
        entity["offset"] += 1
        entity["length"] -= 1
        start += 1
    return entity


def _has_content(text: str, entity: Entity) -> bool:
    start = utf16_to_index(text, entity["offset"])
    stop = utf16_to_index(text, entity["offset"] + entity["length"])
    return bool(text[start:stop].strip(_TRIMMED))


def _drop_nested_in_code(entities: list[Entity]) -> list[Entity]:
    """Nothing may be nested inside `code`/`pre`; TDLib drops such entities silently."""
    code_entities = [e for e in entities if e["type"] in ("code", "pre")]

    def is_inside_code(entity: Entity) -> bool:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        for code in code_entities:
            code_start, code_end = code["offset"], code["offset"] + code["length"]
            if code is entity or not (code_start <= start and end <= code_end):
                continue
            if entity["type"] in _SPLITTABLE_TYPES or (code_start, code_end) != (start, end):
                return True
        return False

    return [e for e in entities if not is_inside_code(e)]


def detect_entities(text: str) -> list[Entity]:
    """`bot_command` and `mention` entities that Telegram detects in text sent by users."""
    return sort_entities(_find_bot_commands(text) + _find_mentions(text))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _is_name_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _span(text: str, start: int, end: int, kind: str) -> Entity:
    return {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}


def _find_bot_commands(text: str) -> list[Entity]:
    # TDLib: (?<!\b|[\/<>])\/([a-zA-Z0-9_]{1,64})(?:@([a-zA-Z0-9_]{3,32}))?(?!\B|[\/<>])
    found: list[Entity] = []
    for start, char in enumerate(text):
        if char != "/" or (start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in "/<>")):
            continue
        end = start + 1
        while end < len(text) and _is_name_char(text[end]):
            end += 1
        if not 1 <= end - start - 1 <= 64:
            continue
        if end < len(text) and text[end] == "@":
            mention_end = end + 1
            while mention_end < len(text) and _is_name_char(text[mention_end]):
                mention_end += 1
            if not 3 <= mention_end - end - 1 <= 32:
                continue
            end = mention_end
        if end < len(text) and (_is_word_char(text[end]) or text[end] in "/<>"):
            continue
        found.append(_span(text, start, end, "bot_command"))
    return found


def _find_mentions(text: str) -> list[Entity]:
    # TDLib: (?<=\B)@([a-zA-Z0-9_]{2,32})(?=\b), then usernames shorter than 5 characters are dropped.
    found: list[Entity] = []
    for start, char in enumerate(text):
        if char != "@" or (start > 0 and _is_word_char(text[start - 1])):
            continue
        end = start + 1
        while end < len(text) and _is_name_char(text[end]):
            end += 1
        if not 5 <= end - start - 1 <= 32:
            continue
        if end < len(text) and _is_word_char(text[end]):
            continue
        found.append(_span(text, start, end, "mention"))
    return found
