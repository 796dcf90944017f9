"""Requests and tokens per minute, per API key and per deployment, enforced before any hold.

Fixed one-minute windows counted in DynamoDB (unigate.stores.ratelimits): a request is admitted only if
it keeps every limit that applies to it within bounds in the current minute, and is then counted
against all of them. Tokens are counted at admission as Azure OpenAI counts them: the prompt (estimated)
plus the `max_tokens` the request asks for. Refusals are 429 with Retry-After (the seconds to the next
minute) and OpenAI's x-ratelimit-* headers, which successful responses carry as well. Without limits,
nothing is read or written.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from unigate.domain.errors import RateLimited
from unigate.stores import ratelimits as store


@dataclass(frozen=True)
class Limit:
    scope: str  # "key:<key id>" or "deployment:<name>"
    label: str  # how a refusal names it
    rpm: int | None
    tpm: int | None


def headers(limits: list[tuple[Limit, store.Usage]], reset: int) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers for the tightest of the limits that applied."""
    out: dict[str, str] = {}
    for kind, field, used in (("requests", "rpm", "requests"), ("tokens", "tpm", "tokens")):
        applied = [(getattr(limit, field), getattr(usage, used)) for limit, usage in limits
                   if getattr(limit, field) is not None]
        if applied:
            cap, count = min(applied, key=lambda a: a[0] - a[1])
            out[f"x-ratelimit-limit-{kind}"] = str(cap)
            out[f"x-ratelimit-remaining-{kind}"] = str(max(cap - count, 0))
            out[f"x-ratelimit-reset-{kind}"] = f"{reset}s"
    return out


def admit(limits: list[Limit], tokens: int, *, now: float | None = None) -> dict[str, str]:
    """Counts the request against every limit, or raises RateLimited having counted it against none."""
    limits = [limit for limit in limits if limit.rpm is not None or limit.tpm is not None]
    if not limits:
        return {}
    now = time.time() if now is None else now
    minute = int(now // 60)
    reset = max(1, math.ceil((minute + 1) * 60 - now))
    taken: list[tuple[Limit, store.Usage]] = []
    for limit in limits:
        usage = store.take(limit.scope, minute, rpm=limit.rpm, tpm=limit.tpm, tokens=tokens)
        if not usage.admitted:
            for admitted, _ in taken:
                store.give_back(admitted.scope, minute, tokens=tokens)
            if limit.tpm is not None and tokens > limit.tpm:
                message = (f"This request needs about {tokens} tokens, more than the {limit.tpm} tokens per minute "
                           f"of {limit.label}.")
            else:
                message = f"Rate limit of {limit.label} reached; retry after {reset} seconds."
            raise RateLimited(message, retry_after=reset,
                              headers=headers([*taken, (limit, usage)], reset), code="rate_limit_exceeded")
        taken.append((limit, usage))
    return headers(taken, reset)
