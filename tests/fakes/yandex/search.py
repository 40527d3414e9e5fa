"""Lexical file search: static chunking, BM25 ranking, sentence quoting and attribute filters.

The real service runs hybrid (lexical + vector) search, which finds a passage whatever the word
forms; a deterministic BM25 over word stems is enough for tests to get "the chunk that mentions the
fact ranks first" in Russian as in English. Terms are lowercase words (any script) minus one-letter
words and a short English/Russian stopword list, reduced to their Snowball stems (Russian stemmer for
Cyrillic words, English for the rest); a Russian stem also loses one common derivational suffix
(``-имост``, ``-ост``, …), so "стоит" finds "стоимость" as "виза" finds "визы" and "documents" finds
"document". Chunk sizes count whitespace-separated words as tokens.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import snowballstemmer

AttributeValue = str | float | bool

DEFAULT_MAX_CHUNK_SIZE_TOKENS = 800
DEFAULT_CHUNK_OVERLAP_TOKENS = 400

_STOPWORD_TEXT = """
    a an and are as at be but by do does did for from has have how i in is it its me my no not of on or
    so that the their them then there these they this to was we were what when where which who why will
    with you your about into can could would should shall may might than also just only any all some
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по ее мне было вот от
    меня еще нет о из ему теперь когда даже ну ли если уже или ни быть был него до вас нибудь опять уж
    вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтобы
    без будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь
    этом один почти мой тем чтоб нее сейчас были куда зачем всех никогда можно при наконец два об другой
    хоть после над больше тот через эти нас про всего них какая много разве три эту моя впрочем хорошо
    свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно всю между это как
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\w+")
_NON_SPACE = re.compile(r"\S+")
_SENTENCE_SEPARATOR = re.compile(r"(?<=[.!?…])\s+|\n+")


_CYRILLIC = re.compile(r"[а-яё]")
_RUSSIAN = snowballstemmer.stemmer("russian")
_ENGLISH = snowballstemmer.stemmer("english")
# Nominalising suffixes left on a Russian stem: "стоимост" (стоимость) meets "сто" (стоит),
# "изменени" (изменение) meets "измен" (изменить). Longest first; a stem keeps three letters or more.
_RUSSIAN_DERIVATIONAL = ("имост", "емост", "ност", "ост", "ств", "ени", "ани")


def tokenize(text: str) -> list[str]:
    """Search terms of a text: stems of its lowercase words, without one-letter words and stopwords."""
    return [stem(word) for word in _WORD.findall(text.lower()) if len(word) > 1 and word not in _STOPWORDS]


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The term a lowercase word is indexed and searched by."""
    if not _CYRILLIC.search(word):
        return str(_ENGLISH.stemWord(word))
    root = str(_RUSSIAN.stemWord(word.replace("ё", "е")))
    for suffix in _RUSSIAN_DERIVATIONAL:
        if root.endswith(suffix) and len(root) - len(suffix) >= 3:
            return root[: -len(suffix)]
    return root


@dataclass(frozen=True)
class ChunkingStrategy:
    """The ``static`` chunking strategy; sizes are in tokens, approximated by whitespace words."""

    max_chunk_size_tokens: int = DEFAULT_MAX_CHUNK_SIZE_TOKENS
    chunk_overlap_tokens: int = DEFAULT_CHUNK_OVERLAP_TOKENS

    def problem(self) -> str | None:
        """Why Yandex would reject this strategy, or ``None`` when it is valid."""
        if not 100 <= self.max_chunk_size_tokens <= 4096:
            return "max_chunk_size_tokens must be between 100 and 4096."
        if not 0 <= self.chunk_overlap_tokens <= self.max_chunk_size_tokens // 2:
            return "chunk_overlap_tokens must be non-negative and at most half of max_chunk_size_tokens."
        return None

    def to_api(self) -> dict[str, Any]:
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": self.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunk_overlap_tokens,
            },
        }


@dataclass(frozen=True)
class Chunk:
    """A window of a document's text, with the term statistics BM25 needs."""

    file_id: str
    filename: str
    text: str
    start: int
    end: int
    attributes: Mapping[str, AttributeValue]
    term_counts: Counter[str]
    length: int


@dataclass(frozen=True)
class Document:
    """An indexed file: its text, its chunks and its sentence boundaries (for verbatim quotes)."""

    file_id: str
    filename: str
    text: str
    chunks: tuple[Chunk, ...]
    sentence_spans: tuple[tuple[int, int], ...]

    @classmethod
    def build(
        cls,
        *,
        file_id: str,
        filename: str,
        text: str,
        attributes: Mapping[str, AttributeValue],
        strategy: ChunkingStrategy,
    ) -> Document:
        chunks = tuple(
            _make_chunk(file_id, filename, text, start, end, attributes)
            for start, end in chunk_spans(text, strategy)
        )
        return cls(file_id, filename, text, chunks, _sentence_spans(text))

    def sentences_overlapping(self, start: int, end: int) -> list[str]:
        """Whole sentences (whitespace collapsed) that overlap the text span ``[start, end)``."""
        return [
            " ".join(self.text[s_start:s_end].split())
            for s_start, s_end in self.sentence_spans
            if s_start < end and s_end > start
        ]


def chunk_spans(text: str, strategy: ChunkingStrategy) -> list[tuple[int, int]]:
    """Character spans of the static-strategy chunks: windows of N words advancing by N - overlap."""
    words = [match.span() for match in _NON_SPACE.finditer(text)]
    size = strategy.max_chunk_size_tokens
    stride = max(1, size - strategy.chunk_overlap_tokens)
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(words):
        window = words[first : first + size]
        spans.append((window[0][0], window[-1][1]))
        if first + size >= len(words):
            break
        first += stride
    return spans


def _make_chunk(
    file_id: str, filename: str, text: str, start: int, end: int, attributes: Mapping[str, AttributeValue]
) -> Chunk:
    terms = tokenize(text[start:end])
    return Chunk(file_id, filename, text[start:end], start, end, attributes, Counter(terms), len(terms))


def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    position = 0
    for separator in [*_SENTENCE_SEPARATOR.finditer(text), None]:
        end = separator.start() if separator else len(text)
        segment = text[position:end]
        if segment.strip():
            leading = len(segment) - len(segment.lstrip())
            spans.append((position + leading, position + len(segment.rstrip())))
        if separator:
            position = separator.end()
    return tuple(spans)


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float
    """BM25 squashed into (0, 1): ``raw / (raw + 1)``."""


@dataclass
class Bm25Index:
    """Okapi BM25 over a fixed set of chunks (k1 = 1.2, b = 0.75)."""

    chunks: Sequence[Chunk]
    k1: float = 1.2
    b: float = 0.75
    _document_frequency: Counter[str] = field(init=False)
    _average_length: float = field(init=False)

    def __post_init__(self) -> None:
        self._document_frequency = Counter(term for chunk in self.chunks for term in chunk.term_counts)
        total = sum(chunk.length for chunk in self.chunks)
        self._average_length = total / len(self.chunks) if self.chunks else 0.0

    def idf(self, term: str) -> float:
        count = len(self.chunks)
        frequency = self._document_frequency.get(term, 0)
        if frequency == 0:
            return 0.0
        return math.log(1 + (count - frequency + 0.5) / (frequency + 0.5))

    def search(self, query: str, limit: int) -> list[SearchHit]:
        """The best ``limit`` chunks with a positive score, best first (ties keep index order)."""
        terms = set(tokenize(query))
        scored: list[SearchHit] = []
        for chunk in self.chunks:
            raw = sum(self._term_score(term, chunk) for term in terms)
            if raw > 0:
                scored.append(SearchHit(chunk, round(raw / (raw + 1), 4)))
        scored.sort(key=lambda hit: -hit.score)
        return scored[:limit]

    def _term_score(self, term: str, chunk: Chunk) -> float:
        frequency = chunk.term_counts.get(term, 0)
        if frequency == 0:
            return 0.0
        length_norm = 1 - self.b + self.b * chunk.length / (self._average_length or 1)
        return self.idf(term) * frequency * (self.k1 + 1) / (frequency + self.k1 * length_norm)


@dataclass(frozen=True)
class Quote:
    """A sentence quoted verbatim in an answer, and the file it came from."""

    sentence: str
    file_id: str
    filename: str


def quote_best_sentences(
    query: str,
    hits: Sequence[SearchHit],
    documents: Mapping[str, Document],
    index: Bm25Index,
    *,
    max_quotes: int = 2,
    considered_hits: int = 3,
) -> list[Quote]:
    """The sentence of the top hits that shares the most (idf-weighted) query terms, plus a runner-up
    from the same hits when it scores at least half as well."""
    terms = set(tokenize(query))
    candidates: list[tuple[float, int, int, Quote]] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits[:considered_hits]):
        document = documents[hit.chunk.file_id]
        for position, sentence in enumerate(document.sentences_overlapping(hit.chunk.start, hit.chunk.end)):
            if sentence in seen:
                continue
            seen.add(sentence)
            weight = sum(index.idf(term) for term in terms & set(tokenize(sentence)))
            if weight > 0:
                candidates.append(
                    (weight, rank, position, Quote(sentence, document.file_id, document.filename))
                )
    candidates.sort(key=lambda candidate: (-candidate[0], candidate[1], candidate[2]))
    if not candidates:
        return []
    best_weight = candidates[0][0]
    return [quote for weight, _, _, quote in candidates[:max_quotes] if weight >= best_weight / 2]


def matches_filter(attributes: Mapping[str, AttributeValue], condition: Mapping[str, Any] | None) -> bool:
    """Whether file attributes satisfy an OpenAI comparison (eq, ne, gt, gte, lt, lte, in, nin) or
    compound (and, or) filter; ``None`` matches everything."""
    if condition is None:
        return True
    kind = condition.get("type")
    if kind in ("and", "or"):
        results = (matches_filter(attributes, sub) for sub in condition.get("filters", []))
        return all(results) if kind == "and" else any(results)
    key = str(condition.get("key"))
    expected = condition.get("value")
    if key not in attributes:
        return kind in ("ne", "nin")
    actual = attributes[key]
    try:
        return _compare(str(kind), actual, expected)
    except TypeError:
        return False


_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda actual, expected: actual in expected,
    "nin": lambda actual, expected: actual not in expected,
}


def _compare(kind: str, actual: Any, expected: Any) -> bool:
    if kind not in _COMPARISONS:
        raise TypeError(kind)
    return bool(_COMPARISONS[kind](actual, expected))
