"""How full a conversation's context is, and moving a conversation into a new, smaller chain.

Yandex's text models have a fixed context (32,768 tokens for YandexGPT and Alice AI) and the Responses
API cannot truncate (`truncation` is not supported): a `previous_response_id` chain that has grown past
it is refused on every request. So each conversation knows how full its chain is — the last response's
reported usage (input + output), or an estimate when the provider reports none — and before a request
would pass a threshold (a share of the context) the conversation *rolls over*: a new chain that starts
from a summary of the older turns, written by the model in a request of its own, plus the most recent
turns verbatim within a token budget.

`ContextRollover.new_chain` is that operation. It is used after an answer when the next one would come
close to the threshold (in the conversation's lane, off the user's critical path), before a request
that would pass it, after the provider refused a prompt's length, and when the provider lost the chain.
Anything that must start a conversation over in a new chain while keeping its recent turns (such as
switching the model) uses it too. The transcript (`/history`) is never touched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.authors import author_label, neutralised
from bot.core.errors import ProviderError
from bot.core.models import ConversationKey, Turn, Usage
from bot.core.ports import AnswerModel, AnswerRequest, CompletionRequest, ConversationState, ConversationStore

log = logging.getLogger(__name__)

# Yandex's documented context per model family (`ru/ai-studio/concepts/generation/models.md`; the
# English page of the same date still lists the older 32,000 / 128,000 / 8,192 figures for some).
DOCUMENTED_CONTEXT_TOKENS: dict[str, int] = {
    "aliceai-llm": 32_768,
    "yandexgpt": 32_768,
    "yandexgpt-lite": 32_768,
    "qwen3-235b-a22b-fp8": 262_144,
    "gpt-oss-120b": 131_072,
    "gpt-oss-20b": 131_072,
    "gemma-3-27b-it": 131_072,
    "llama": 8_192,
    "llama-lite": 8_192,
}
# A model Yandex does not list: the smallest context of its current text models.
DEFAULT_CONTEXT_TOKENS = 32_768
# Estimates count three characters per token: more than the models' tokenizers produce for Russian or
# English prose, so an estimate errs towards rolling over early, never late.
CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 4
# A context learned from a refusal never goes below this: smaller budgets cannot hold a conversation.
MIN_CONTEXT_TOKENS = 1_024
# Turns too many for one summary request are folded in by a few requests in a row, at most this many.
MAX_SUMMARY_PASSES = 4

SUMMARY_NOTE = (
    "Summary of the earlier part of this conversation (its older messages are no longer shown "
    "verbatim):\n\n{summary}"
)
SUMMARY_INSTRUCTIONS = (
    "You keep the memory of a chat between users and an AI assistant. Summarize the conversation "
    "below so that the assistant can continue it without the older messages: who asked what, names, "
    "facts, numbers, decisions, the users' preferences and open questions. Write in the language the "
    "conversation is in, as a compact list of at most {words} words. Output only the summary."
)


def documented_context_tokens(model: str) -> int:
    """The context Yandex documents for a model name or URI (`yandexgpt/latest`,
    `gpt://<folder>/qwen3-235b-a22b-fp8/latest`, `yandexgpt-lite/latest@suffix`)."""
    name = model.removeprefix("gpt://")
    if model.startswith("gpt://"):
        name = name.partition("/")[2]
    family = name.split("/", 1)[0].split("@", 1)[0].lower()
    return DOCUMENTED_CONTEXT_TOKENS.get(family, DEFAULT_CONTEXT_TOKENS)


def estimate_tokens(text: str | None) -> int:
    """A generous estimate of the tokens a text costs (0 for nothing)."""
    return chars_to_tokens(len(text)) if text else 0


def chars_to_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def message_tokens(text: str | None) -> int:
    """A message in the model's input: its text plus the framing every message costs."""
    return estimate_tokens(text) + MESSAGE_OVERHEAD_TOKENS


def turn_tokens(turns: Sequence[Turn]) -> int:
    return sum(message_tokens(turn.text) + estimate_tokens(turn.author) for turn in turns)


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    """The model's context (MODEL_CONTEXT_TOKENS)."""
    rollover_percent: int = 75
    """Roll over before a request would pass this share of the context."""
    recent_percent: int = 20
    """Budget of the turns carried verbatim into a new chain, as a share of the context."""
    recent_turns: int = 20
    """At most this many turns are carried verbatim."""
    summary_tokens: int = 800
    """Longest summary (its request's `max_output_tokens`; at most a tenth of the context)."""

    def limit(self, state: ConversationState) -> int:
        """The context this conversation can count on: the configured one, or less if learned."""
        if state.context_limit:
            return min(self.context_tokens, state.context_limit)
        return self.context_tokens

    def threshold(self, state: ConversationState) -> int:
        return self.limit(state) * self.rollover_percent // 100

    def summary_output_tokens(self, limit: int) -> int:
        return max(64, min(self.summary_tokens, limit // 10))


def projected_tokens(state: ConversationState, request: AnswerRequest) -> int:
    """What the request will cost the model's context before its search results and its answer."""
    added = message_tokens(request.text) + turn_tokens(request.replay)
    if request.context_handle is not None:
        return state.context_tokens + added
    return (
        estimate_tokens(request.instructions)
        + (message_tokens(request.summary) if request.summary else 0)
        + added
    )


def learned_limit(state: ConversationState, refused_tokens: int) -> int:
    """The context to count on after the provider refused a prompt of about `refused_tokens`: the
    real limit is below what was sent, so the next chain is sized (and rolled over) within it."""
    learned = max(MIN_CONTEXT_TOKENS, refused_tokens)
    return min(state.context_limit, learned) if state.context_limit else learned


@dataclass(frozen=True, slots=True)
class NewChain:
    state: ConversationState
    """Where the conversation goes on: no chain handle, the summary, the recent turns to carry."""
    usage: Usage | None = None
    """What writing the summary cost (None: no summary was asked for)."""
    summarized: bool = False
    """A new summary was written (False: no older turns to fold in, or the request for it failed)."""


class ContextRollover:
    def __init__(
        self,
        model: AnswerModel,
        store: ConversationStore,
        policy: ContextPolicy,
        instructions: str,
        *,
        transcript_turns: int = 200,
    ) -> None:
        """`instructions`: the assistant's instructions (every request sends them, so they count)."""
        self._model = model
        self._store = store
        self.policy = policy
        self._instructions = instructions
        self._transcript_turns = transcript_turns

    async def new_chain(
        self,
        key: ConversationKey,
        state: ConversationState,
        *,
        limit: int | None = None,
        summarize: bool = True,
        model: str | None = None,
    ) -> NewChain:
        """The conversation moved into a new chain (not saved: the caller records it). Turns newer than
        the current summary are split: the most recent ones (within the recent budget of `limit`,
        default the conversation's context) are carried verbatim, the older ones are folded into a new
        summary written by `model` (the configured one when None). Without `summarize`, or when writing
        the summary fails, the old summary stays and the older turns wait for the next rollover."""
        limit = limit or self.policy.limit(state)
        turns = await self._store.recent_turns(key, self._transcript_turns)
        fresh = [turn for turn in turns if turn.at > state.summarized_until]
        recent = self._recent(fresh, limit)
        older = fresh[: len(fresh) - len(recent)]
        summary, summarized_until = state.summary, state.summarized_until
        usage: Usage | None = None
        summarized = False
        if older and summarize:
            written, usage = await self._summarize(state.summary, older, limit, model)
            if written:
                summary, summarized_until, summarized = written, older[-1].at, True
        new_state = ConversationState(
            context_handle=None,
            carry_over=tuple(recent),
            summary=summary,
            summarized_until=summarized_until,
            context_tokens=estimate_tokens(self._instructions)
            + (message_tokens(summary_note(summary)) if summary else 0)
            + turn_tokens(recent),
            context_limit=state.context_limit,
        )
        log.info(
            "conversation rolled over",
            extra={"carried_turns": len(recent), "summarized_turns": len(older) if summarized else 0},
        )
        return NewChain(new_state, usage, summarized)

    async def in_background(self, key: ConversationKey, expected_handle: str | None) -> NewChain | None:
        """Roll over ahead of need (after an answer, in the conversation's lane): only if the
        conversation still refers to `expected_handle`, and only with a new summary — when none could
        be written, the next answer rolls over itself if it must. Returns what was saved, or None."""
        state = await self._store.load(key)
        if state.context_handle is None or state.context_handle != expected_handle:
            return None  # reset meanwhile, or already in a new chain
        chain = await self.new_chain(key, state, model=state.model)  # the chain's model writes its summary
        if not chain.summarized:
            return None
        if await self._store.replace_state(key, expected_handle, chain.state):
            return chain
        return None

    def carried(self, turns: Sequence[Turn], state: ConversationState) -> tuple[Turn, ...]:
        """Turns to hand the model with the next question (stopped or broken answers on top of what
        was carried already): the newest within the recent budget and count, the last exchange always."""
        return tuple(self._newest(turns, self.policy.limit(state), keep_last=2))

    def _recent(self, turns: Sequence[Turn], limit: int) -> list[Turn]:
        kept = self._newest(turns, limit)
        while kept and kept[0].role == "assistant":
            kept.pop(0)  # a new chain opens with a question; a lone answer goes into the summary
        return kept

    def _newest(self, turns: Sequence[Turn], limit: int, *, keep_last: int = 0) -> list[Turn]:
        budget = limit * self.policy.recent_percent // 100
        kept: list[Turn] = []
        for turn in reversed(turns):
            cost = turn_tokens([turn])
            within = len(kept) < self.policy.recent_turns and cost <= budget
            if not within and len(kept) >= keep_last:
                break
            budget -= cost
            kept.append(turn)
        kept.reverse()
        return kept

    async def _summarize(
        self, previous: str | None, turns: Sequence[Turn], limit: int, model: str | None
    ) -> tuple[str | None, Usage | None]:
        """Fold `turns` into `previous`: one request, or a few in a row when they do not fit one
        (each must fit the context too: at most half of it for what is summarized). The new summary
        and what writing it cost; no summary when a request failed or came back empty."""
        output_tokens = self.policy.summary_output_tokens(limit)
        instructions = SUMMARY_INSTRUCTIONS.format(words=output_tokens // 2)
        budget = limit // 2 - estimate_tokens(instructions)
        lines = _dropping_the_oldest_beyond(
            [render_turn(turn, budget - output_tokens) for turn in turns],
            (budget - output_tokens) * MAX_SUMMARY_PASSES,
        )
        summary, cost = previous, Usage()
        while lines:
            room = budget - (estimate_tokens(summary) if summary else 0)
            chunk = _oldest_within(lines, room)
            lines = lines[len(chunk) :]
            text = summary_request_text(summary, chunk)
            request = CompletionRequest(
                instructions=instructions, text=text, max_output_tokens=output_tokens, model=model
            )
            try:
                answer = await self._model.complete(request)
            except ProviderError as error:
                log.warning("could not write the conversation's summary: %s", error)
                return None, cost if cost.total_tokens else None
            cost = _plus(
                cost,
                answer.usage
                or Usage(
                    estimate_tokens(instructions) + message_tokens(text),
                    estimate_tokens(answer.text),
                    approximate=True,
                ),
            )
            summary = answer.text.strip()
            if not summary:
                log.warning("the model wrote an empty summary")
                return None, cost
        return summary, cost


def _plus(total: Usage, more: Usage) -> Usage:
    return Usage(
        total.input_tokens + more.input_tokens,
        total.output_tokens + more.output_tokens,
        approximate=total.approximate or more.approximate,
    )


def summary_note(summary: str) -> str:
    """How a new chain's summary is put to the model."""
    return SUMMARY_NOTE.format(summary=summary)


def render_turn(turn: Turn, max_tokens: int) -> str:
    """One turn as a line of the text to summarize (a turn too long for one request is shortened)."""
    if turn.role == "user" and turn.author:
        # A member's name and words are theirs to choose: labelled as in answers, so neither can
        # pass for another author in the text the summary is written from.
        line = f"User {author_label(turn.author)}: {neutralised(turn.text.strip())}"
    else:
        line = f"{turn.role.capitalize()}: {turn.text.strip()}"
    longest = max(1, max_tokens) * CHARS_PER_TOKEN
    return line if len(line) <= longest else line[: longest - 1] + "…"


def summary_request_text(previous: str | None, lines: Sequence[str]) -> str:
    messages = "\n\n".join(lines)
    if previous:
        return f"Summary so far:\n{previous}\n\nMessages since:\n{messages}"
    return messages


def _oldest_within(lines: Sequence[str], room: int) -> list[str]:
    """The oldest lines that fit `room` tokens (at least one: each line fits a request on its own)."""
    chunk: list[str] = []
    for line in lines:
        cost = estimate_tokens(line) + 1
        if chunk and cost > room:
            break
        room -= cost
        chunk.append(line)
    return chunk


def _dropping_the_oldest_beyond(lines: list[str], budget: int) -> list[str]:
    """The newest lines within `budget` tokens: what a few summary requests in a row can take."""
    kept = 0
    for line in reversed(lines):
        budget -= estimate_tokens(line) + 1
        if budget < 0:
            break
        kept += 1
    if kept < len(lines):
        log.info("summary: the %d oldest turns are too many to summarize; left out", len(lines) - kept)
    return lines[len(lines) - kept :]
