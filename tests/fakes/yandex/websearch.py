"""The ``web_search`` tool: checked as Yandex documents it, and a deterministic stand-in for the search.

Yandex's pages (``ai-studio/concepts/agents/tools/websearch.md``, en and ru; the tool and item schemas in
``ru/ai-studio/responses/createResponse.md``):

* the tool is ``{"type": "web_search", "filters": {"allowed_domains": [...]}, "user_location":
  {"region": "<code>"}, "search_context_size": "low" | "medium" | "high"}``, every field but ``type``
  optional; ``allowed_domains`` holds **up to five** domains (none: the whole internet); the region is a
  Yandex region code (the page's example: ``"213"``). The concept page's example nests ``user_location``
  inside ``filters``, the API reference puts it beside ``filters``: both places are accepted;
* the answer's ``url_citation`` annotations carry the page in ``url``; "all other fields of the object
  are populated with default values" (``start_index``/``end_index`` 0, ``title`` "");
* the output gains a ``web_search_call`` item ``{id, type, status, action: {type: "search", query,
  sources: [{type: "url", url}]}}`` (``WebSearchToolCall`` / ``WebSearchActionSearch``).

Stricter than the pages, where they are silent: anything else in the tool (another field, another key in
``filters`` or ``user_location`` — OpenAI's ``city``/``country``/``timezone`` included —, a sixth domain,
something that is not a bare domain, a region that is not a numeric code, a second ``web_search`` tool)
is a 400 with ``param: "tools"``.

The "search" finds, for a question, one page per allowed domain (``example.org`` when there are none) at
``https://<domain>/<hash of the question>``; ``emu:web=N`` asks for N pages instead (the first on the
allowed domains, the rest on ``s<i>.<domain>`` hosts), ``emu:web=0`` for none. Every page found is cited.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request
from .items import new_id

MAX_ALLOWED_DOMAINS = 5
CONTEXT_SIZES = ("low", "medium", "high")
DEFAULT_HOST = "example.org"
_TOOL_FIELDS = frozenset({"type", "filters", "user_location", "search_context_size"})
_FILTER_FIELDS = frozenset({"allowed_domains", "user_location"})
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


@dataclass(frozen=True)
class WebSearchTool:
    allowed_domains: tuple[str, ...]
    region: str | None
    context_size: str


def parse_web_search_tool(tools: list[dict[str, Any]]) -> WebSearchTool | None:
    """The request's ``web_search`` tool, validated; ``ApiError`` 400 for what the pages do not allow."""
    found = [tool for tool in tools if tool.get("type") == "web_search"]
    if not found:
        return None
    if len(found) > 1:
        raise _invalid("only one web_search tool may be given")
    tool = found[0]
    _only(tool, _TOOL_FIELDS, "web_search")
    filters = tool.get("filters")
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise _invalid("web_search.filters must be an object")
    _only(filters, _FILTER_FIELDS, "web_search.filters")
    if "user_location" in filters and "user_location" in tool:
        raise _invalid("give web_search.user_location once, not also inside filters")
    domains = _domains(filters.get("allowed_domains"))
    region = _region(tool.get("user_location", filters.get("user_location")))
    size = tool.get("search_context_size", "medium")
    if size not in CONTEXT_SIZES:
        raise _invalid(f"web_search.search_context_size must be one of {', '.join(CONTEXT_SIZES)}")
    return WebSearchTool(domains, region, size)


def _only(value: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _invalid(f"{where} does not support {', '.join(unknown)}")


def _domains(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(domain, str) for domain in value):
        raise _invalid("web_search.filters.allowed_domains must be a list of domains")
    if len(value) > MAX_ALLOWED_DOMAINS:
        raise _invalid(f"web_search.filters.allowed_domains holds up to {MAX_ALLOWED_DOMAINS} domains")
    for domain in value:
        if not _DOMAIN.fullmatch(domain.lower()):
            raise _invalid(f"{domain!r} is not a domain (no scheme, port or path)")
    return tuple(domain.lower() for domain in value)


def _region(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("web_search.user_location must be an object")
    extra = sorted(set(value) - {"region", "type"})
    if extra:
        raise _invalid(f"web_search.user_location supports only region, not {', '.join(extra)}")
    if "type" in value and value["type"] != "approximate":
        raise _invalid("web_search.user_location.type can only be 'approximate'")
    region = value.get("region")
    if region is None:
        return None
    if not isinstance(region, str) or not region.isdigit():
        raise _invalid("web_search.user_location.region must be a Yandex region code such as '213'")
    return region


def _invalid(message: str) -> ApiError:
    return bad_request(f"Invalid tools: {message}.", param="tools")


@dataclass(frozen=True)
class WebSearchResult:
    call: dict[str, Any]
    """The ``web_search_call`` output item."""
    citations: list[dict[str, Any]]
    """One ``url_citation`` annotation per page found."""

    @property
    def urls(self) -> list[str]:
        return [citation["url"] for citation in self.citations]


def search_web(question: str, tool: WebSearchTool, pages: int | None) -> WebSearchResult:
    """Deterministic pages for ``question`` (see the module's docstring)."""
    digest = hashlib.sha256(question.encode()).hexdigest()[:12]
    hosts = list(tool.allowed_domains) or [DEFAULT_HOST]
    count = len(hosts) if pages is None else pages
    urls = []
    for index in range(count):
        host = hosts[index % len(hosts)]
        if index >= len(hosts):
            host = f"s{index + 1}.{host}"
        urls.append(f"https://{host}/{digest}")
    call = {
        "id": new_id(),
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": question, "sources": [{"type": "url", "url": u} for u in urls]},
    }
    citations = [
        {"type": "url_citation", "url": u, "start_index": 0, "end_index": 0, "title": ""} for u in urls
    ]
    return WebSearchResult(call, citations)
