"""One usage record for every provider family, and its price per token class.

Families count tokens differently: OpenAI's `prompt_tokens` includes the cached ones and its
`completion_tokens` the reasoning ones; Anthropic's `input_tokens` excludes cache reads and writes
(writes split by TTL); Gemini's `promptTokenCount` includes cached content while `thoughtsTokenCount`
is apart from `candidatesTokenCount`; Bedrock reports cache reads and writes beside `inputTokens`. Each
is normalised here into disjoint classes, so every token is billed once, at its class's price.

Prices are USD per 1M tokens, which is exactly micro-credits per token; a request's cost is the exact
sum over classes, rounded up once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

CLASSES = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning")


def _int(value: Any) -> int:
    """A count as reported, or 0 where it is none (a string, negative, not finite): the gateway bills its
    estimate where a total is 0 and the answer is not empty (unigate.gateway.chat._usage_tokens)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return max(int(value), 0)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Usage:
    """Disjoint token classes: `input` is prompt tokens neither read from nor written to a cache;
    `output` is completion tokens other than reasoning."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0
    reasoning: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h

    @property
    def completion_tokens(self) -> int:
        return self.output + self.reasoning

    def pair(self) -> tuple[int, int]:
        return self.prompt_tokens, self.completion_tokens

    def to_chat(self) -> dict[str, Any]:
        """OpenAI's chat usage (prompt includes cached, completion includes reasoning), with the cache
        writes under Anthropic's names, which OpenAI's shape has none for."""
        out: dict[str, Any] = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                               "total_tokens": self.prompt_tokens + self.completion_tokens}
        if self.cache_read:
            out["prompt_tokens_details"] = {"cached_tokens": self.cache_read}
        if self.reasoning:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning}
        if self.cache_write_5m or self.cache_write_1h:
            out["cache_creation_input_tokens"] = self.cache_write_5m + self.cache_write_1h
            out["cache_creation"] = {"ephemeral_5m_input_tokens": self.cache_write_5m,
                                     "ephemeral_1h_input_tokens": self.cache_write_1h}
        return out


def _split(prompt: int, completion: int, *, read: int = 0, w5: int = 0, w1h: int = 0, reasoning: int = 0) -> Usage:
    read = min(read, prompt)
    w5 = min(w5, prompt - read)
    w1h = min(w1h, prompt - read - w5)
    reasoning = min(reasoning, completion)
    return Usage(prompt - read - w5 - w1h, read, w5, w1h, completion - reasoning, reasoning)


def _writes(raw: dict[str, Any]) -> tuple[int, int]:
    split = _dict(raw.get("cache_creation"))
    w5, w1h = _int(split.get("ephemeral_5m_input_tokens")), _int(split.get("ephemeral_1h_input_tokens"))
    total = _int(raw.get("cache_creation_input_tokens"))
    return (max(total - w1h, w5) if total else w5), w1h


def from_openai(raw: Any) -> Usage | None:
    """OpenAI's chat usage, as upstreams and unigate's adapters give it (see Usage.to_chat)."""
    raw = _dict(raw)
    if "prompt_tokens" not in raw and "completion_tokens" not in raw:
        return None
    prompt, completion = _int(raw.get("prompt_tokens")), _int(raw.get("completion_tokens"))
    details = _dict(raw.get("prompt_tokens_details"))
    # DeepSeek counts cache hits under its own name.
    read = _int(details.get("cached_tokens")) or _int(raw.get("prompt_cache_hit_tokens"))
    w5, w1h = _writes(raw)
    reasoning = _int(_dict(raw.get("completion_tokens_details")).get("reasoning_tokens"))
    return _split(prompt, completion, read=read, w5=w5, w1h=w1h, reasoning=reasoning)


def from_anthropic(raw: Any) -> Usage:
    raw = _dict(raw)
    read = _int(raw.get("cache_read_input_tokens"))
    w5, w1h = _writes(raw)
    return Usage(_int(raw.get("input_tokens")), read, w5, w1h, _int(raw.get("output_tokens")), 0)


def from_gemini(meta: Any) -> Usage:
    meta = _dict(meta)
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    thoughts = _int(meta.get("thoughtsTokenCount"))
    return _split(prompt, _int(meta.get("candidatesTokenCount")) + thoughts,
                  read=_int(meta.get("cachedContentTokenCount")), reasoning=thoughts)


def from_bedrock(raw: Any) -> Usage:
    raw = _dict(raw)
    return Usage(_int(raw.get("inputTokens")), _int(raw.get("cacheReadInputTokens")),
                 _int(raw.get("cacheWriteInputTokens")), 0, _int(raw.get("outputTokens")), 0)


@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens (micro-credits per token) for each class."""

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    reasoning: Decimal

    def highest_prompt(self) -> Decimal:
        return max(self.input, self.cache_read, self.cache_write_5m, self.cache_write_1h)

    def highest_completion(self) -> Decimal:
        return max(self.output, self.reasoning)


@dataclass(frozen=True)
class PriceTable:
    base: Rates
    # (threshold, rates): the rates for a whole request whose prompt is above the threshold.
    tiers: tuple[tuple[int, Rates], ...] = ()

    def rates_for(self, prompt_tokens: int) -> Rates:
        chosen = self.base
        for above, rates in sorted(self.tiers, key=lambda tier: tier[0]):
            if prompt_tokens > above:
                chosen = rates
        return chosen

    def highest(self) -> Rates:
        every = [self.base, *(rates for _, rates in self.tiers)]
        return Rates(*(max(getattr(r, f.name) for r in every) for f in fields(Rates)))


@dataclass(frozen=True)
class Priced:
    """A request's cost: the total in micro-credits, rounded up once, and the exact amount per class."""

    micros: int
    details: dict[str, Decimal]

    def details_credits(self) -> dict[str, float]:
        return {name: float(amount / 1_000_000) for name, amount in self.details.items()}


def price(usage: Usage, table: PriceTable) -> Priced:
    rates = table.rates_for(usage.prompt_tokens)
    details = {name: getattr(rates, name) * getattr(usage, name) for name in CLASSES}
    return Priced(math.ceil(sum(details.values(), Decimal(0))), details)


def worst_case(table: PriceTable, prompt_tokens: int, completion_tokens: int) -> int:
    """The most a request can cost: every prompt token at the highest prompt rate of any tier (a
    cache write can cost more than plain input) and every completion token at the highest output rate."""
    top = table.highest()
    return math.ceil(top.highest_prompt() * max(prompt_tokens, 0)
                     + top.highest_completion() * max(completion_tokens, 0))
