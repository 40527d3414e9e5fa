"""Human names of Yandex AI Studio's text models, as `concepts/generation/models.md` lists them.

The bot shows these in /settings instead of URIs. Documented URIs get their documented name (with the
generation where the page gives one); other branches of a known model get the family's name and the
branch; fine-tuned models (`<model>@<suffix>`) get the suffix; anything else is shown as its id.
"""

from __future__ import annotations

# URIs without `gpt://<folder>/`, as the ru page (the newer one) names them.
_DOCUMENTED: dict[str, str] = {
    "aliceai-llm": "Alice AI LLM",
    "aliceai-llm/latest": "Alice AI LLM",
    "yandexgpt/rc": "YandexGPT Pro 5.1",
    "yandexgpt/latest": "YandexGPT Pro 5",
    "yandexgpt": "YandexGPT Pro 5",
    "yandexgpt-lite": "YandexGPT Lite 5",
    "yandexgpt-lite/latest": "YandexGPT Lite 5",
    "qwen3-235b-a22b-fp8/latest": "Qwen3 235B",
    "gpt-oss-120b/latest": "gpt-oss-120b",
    "gpt-oss-20b/latest": "gpt-oss-20b",
    "gemma-3-27b-it/latest": "Gemma 3 27B",
}
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
    """`yandexgpt/rc` → "YandexGPT Pro 5.1"; `gpt://b1g…/aliceai-llm` → "Alice AI LLM";
    `yandexgpt-lite/latest@abc` → "YandexGPT Lite 5 (abc)"; an unknown id is shown as it is."""
    bare = model.removeprefix("gpt://").partition("/")[2] if model.startswith("gpt://") else model
    bare = bare or model
    name, _, suffix = bare.partition("@")
    family, _, branch = name.partition("/")
    if name in _DOCUMENTED:
        shown = _DOCUMENTED[name]
    elif family in _FAMILIES and branch in _BRANCHES:
        shown = _FAMILIES[family] + _BRANCHES[branch]
    else:
        return bare
    return f"{shown} ({suffix})" if suffix else shown
