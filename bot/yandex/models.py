"""Model URIs as Yandex names them, and the text models Yandex documents.

A model is addressed as `gpt://<folder>/<name>[/<branch>][@<fine-tune suffix>]`; without a branch Yandex
uses `/latest` (en/ai-studio/concepts/generation/models.md). Branches move: an `rc` becomes `latest` a
month after it is announced, and the old `latest` becomes `deprecated` for one more month
(en/_includes/ai-studio/release-cycle.md), so pin an explicit version where Yandex offers one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentedModel:
    name: str
    """As in the URI after the folder."""
    title: str
    context_tokens: int


# en/ai-studio/concepts/generation/models.md (newest stored version): the common-instance text models.
DOCUMENTED_MODELS = (
    DocumentedModel("aliceai-llm", "Alice AI LLM", 32_768),
    DocumentedModel("yandexgpt/rc", "YandexGPT Pro 5.1", 32_768),
    DocumentedModel("yandexgpt/latest", "YandexGPT Pro 5", 32_768),
    DocumentedModel("yandexgpt-lite", "YandexGPT Lite 5", 32_768),
    DocumentedModel("qwen3-235b-a22b-fp8/latest", "Qwen3 235B", 262_144),
    DocumentedModel("gpt-oss-120b/latest", "gpt-oss-120b", 131_072),
    DocumentedModel("gpt-oss-20b/latest", "gpt-oss-20b", 131_072),
    DocumentedModel("gemma-3-27b-it/latest", "Gemma 3 27B", 131_072),
)


def model_uri(folder_id: str, model: str) -> str:
    """Yandex wants the model as a full URI with the folder: gpt://<folder>/<model>."""
    if model.startswith("gpt://"):
        return model
    return f"gpt://{folder_id}/{model}"


def canonical(uri: str) -> str:
    """The URI with its branch written out (`gpt://f/yandexgpt` → `gpt://f/yandexgpt/latest`)."""
    head, at, suffix = uri.partition("@")
    folder_and_path = head.removeprefix("gpt://")
    _folder, _, path = folder_and_path.partition("/")
    if path and "/" not in path:
        head = f"{head}/latest"
    return f"{head}{at}{suffix}"


def documented(uri: str) -> DocumentedModel | None:
    """What Yandex documents about the model `uri` names, if it is one of the common-instance models."""
    path = _path(canonical(uri))
    return next(
        (model for model in DOCUMENTED_MODELS if _path(canonical(f"gpt://f/{model.name}")) == path), None
    )


def _path(uri: str) -> str:
    """What follows the folder in a model URI."""
    return uri.removeprefix("gpt://").partition("/")[2]


def missing_models(available: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Those of `wanted` that `available` (the ids GET /v1/models returned) does not offer."""
    offered = {canonical(model_id) for model_id in available}
    return [uri for uri in wanted if canonical(uri) not in offered]


# Families of the documented models, for branches and fine-tunes the list does not name itself.
_FAMILIES: dict[str, str] = {
    "aliceai-llm": "Alice AI LLM",
    "yandexgpt": "YandexGPT Pro",
    "yandexgpt-lite": "YandexGPT Lite",
    "qwen3-235b-a22b-fp8": "Qwen3 235B",
    "gpt-oss-120b": "gpt-oss-120b",
    "gpt-oss-20b": "gpt-oss-20b",
    "gemma-3-27b-it": "Gemma 3 27B",
}
_BRANCHES = {"latest": "", "rc": " RC", "deprecated": " (deprecated)"}


def model_display_name(model: str) -> str:
    """What people see for a model name or URI (in /settings): the documented title (`yandexgpt/rc` →
    "YandexGPT Pro 5.1"; `aliceai-llm/latest` → "Alice AI LLM"); another branch of a documented family
    gets the family's name and the branch; a fine-tune its suffix (`yandexgpt-lite@abc` → "YandexGPT
    Lite 5 (abc)"); anything else is shown as its id."""
    path = _path(model) if model.startswith("gpt://") else model
    path = path or model
    name, _, suffix = path.partition("@")
    known = documented(f"gpt://f/{name}")
    family, _, branch = name.partition("/")
    if known is not None:
        shown = known.title
    elif family in _FAMILIES and branch in _BRANCHES:
        shown = _FAMILIES[family] + _BRANCHES[branch]
    else:
        return path
    return f"{shown} ({suffix})" if suffix else shown
