"""The endpoint-string grammar of the `model` field (see the API contract), parsed in one place.

    chain     := target ("->" target)*            fallbacks, tried in order
    target    := model "@" provider | model | provider
    provider  := name | meta ("|" threshold)*     e.g. lowest-itl|ic<=0.8|t<500
    threshold := metric ("<" | "<=" | ">" | ">=") number

Elements without "@" borrow what they lack from their neighbours, as Unify did:
    a@p1->p2      providers: p2 serves model a
    m1->m2@p      models: m1 is served by p as well
    Mistral-large a bare name: a deployment alias (matched case-insensitively)
Names are restricted to what real model and provider ids use, so path-like or URL-like text never
reaches a URL or a log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unigate.domain.errors import BadRequest

MAX_LENGTH = 512
MAX_CHAIN = 8
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}\Z")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9\-]{0,63}\Z")
_THRESHOLD = re.compile(r"^(?P<metric>[a-z\-]+)(?P<op><=|>=|<|>)(?P<value>[0-9]+(?:\.[0-9]+)?)\Z")

# Meta-provider names (long, medium and short forms) -> the metric they minimise or maximise.
META_PROVIDERS = {
    "lowest-input-cost": "input_cost", "input-cost": "input_cost", "ic": "input_cost",
    "lowest-output-cost": "output_cost", "output-cost": "output_cost", "oc": "output_cost",
    "cost": "cost", "c": "cost",
    "lowest-ttft": "ttft", "ttft": "ttft", "t": "ttft",
    "lowest-itl": "itl", "itl": "itl", "i": "itl",
    "highest-tks-per-sec": "tks_per_sec", "tks-per-sec": "tks_per_sec", "tks": "tks_per_sec",
}
# Threshold metric names -> metric.
THRESHOLD_METRICS = {
    "ic": "input_cost", "input-cost": "input_cost",
    "oc": "output_cost", "output-cost": "output_cost",
    "c": "cost", "cost": "cost",
    "t": "ttft", "ttft": "ttft",
    "i": "itl", "itl": "itl",
    "tks": "tks_per_sec", "tks-per-sec": "tks_per_sec",
}
CUSTOM = "custom"


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def admits(self, measured: float) -> bool:
        return {
            "<": measured < self.value,
            "<=": measured <= self.value,
            ">": measured > self.value,
            ">=": measured >= self.value,
        }[self.op]


@dataclass(frozen=True)
class MetaProvider:
    metric: str
    thresholds: tuple[Threshold, ...] = ()


@dataclass(frozen=True)
class Target:
    """One element of a chain. `provider` None means `model` is a deployment alias."""

    model: str
    provider: str | MetaProvider | None

    @property
    def is_endpoint(self) -> bool:
        return isinstance(self.provider, str)

    def __str__(self) -> str:
        if self.provider is None:
            return self.model
        if isinstance(self.provider, MetaProvider):
            return f"{self.model}@{self.provider.metric}"
        return f"{self.model}@{self.provider}"


def _bad(message: str) -> BadRequest:
    return BadRequest(f"Invalid model string: {message}", param="model")


def _parse_provider(text: str) -> str | MetaProvider:
    name, *conditions = text.split("|")
    if name in META_PROVIDERS:
        thresholds = []
        for condition in conditions:
            found = _THRESHOLD.match(condition)
            if not found or found["metric"] not in THRESHOLD_METRICS:
                raise _bad(f"bad threshold {condition!r} (e.g. ic<=0.8, t<500)")
            thresholds.append(Threshold(THRESHOLD_METRICS[found["metric"]], found["op"], float(found["value"])))
        return MetaProvider(META_PROVIDERS[name], tuple(thresholds))
    if conditions:
        raise _bad(f"thresholds need a meta-provider such as lowest-itl, not {name!r}")
    if not _PROVIDER.match(name):
        raise _bad(f"bad provider name {name!r}")
    return name


def _check_model(model: str) -> str:
    if not _MODEL.match(model):
        raise _bad(f"bad model name {model[:64]!r}")
    return model


def parse(text: object) -> tuple[Target, ...]:
    """Parses a model string into its fallback chain, or raises BadRequest (400) saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("`model` is required: a string such as gpt-4o@openai.", param="model")
    if len(text) > MAX_LENGTH:
        raise _bad(f"longer than {MAX_LENGTH} characters")
    parts = text.strip().split("->")
    if len(parts) > MAX_CHAIN:
        raise _bad(f"at most {MAX_CHAIN} fallbacks")
    raw: list[tuple[str | None, str | None]] = []
    for part in parts:
        if not part:
            raise _bad("empty element in a '->' chain")
        if part.count("@") > 1:
            raise _bad(f"more than one '@' in {part[:64]!r}")
        model, at, provider = part.partition("@")
        if at and (not model or not provider):
            raise _bad(f"{part[:64]!r} needs both a model and a provider around '@'")
        raw.append((model, provider) if at else (part, None))

    if all(provider is None for _, provider in raw):
        # Bare names only: deployment aliases.
        return tuple(Target(_check_model(name or ""), None) for name, _ in raw)

    targets: list[Target] = []
    for index, (name, host) in enumerate(raw):
        if host is not None:
            targets.append(Target(_check_model(name or ""), _parse_provider(host)))
            continue
        if targets:
            # After an element with '@', a bare element is another provider for the previous model.
            targets.append(Target(targets[-1].model, _parse_provider(name or "")))
        else:
            # Before any '@', a bare element is another model for the next provider.
            following = next(p for _, p in raw[index + 1 :] if p is not None) or ""
            targets.append(Target(_check_model(name or ""), _parse_provider(following)))
    return tuple(targets)
