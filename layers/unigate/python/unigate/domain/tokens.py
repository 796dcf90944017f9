"""Token estimates, for when no tokenizer result is at hand.

Two different estimates on purpose:
- `worst_case_prompt` over-counts (one token per 3 UTF-8 bytes plus per-message overhead), because a
  hold must cover the real cost;
- `estimate` is a fair guess (one token per 4 bytes, at least 1) for billing output that an
  upstream produced without reporting usage: never 0, never wildly inflated.
"""

from __future__ import annotations

import json
import math
from typing import Any

_MESSAGE_OVERHEAD = 4


def estimate(text: str) -> int:
    return max(1, math.ceil(len(text.encode("utf-8")) / 4))


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False)


def worst_case_prompt(messages: list[dict[str, Any]], tools: Any = None) -> int:
    total = 3
    for message in messages:
        text = _content_text(message.get("content"))
        if message.get("tool_calls"):
            text += _content_text(message["tool_calls"])
        total += _MESSAGE_OVERHEAD + math.ceil(len(text.encode("utf-8")) / 3)
    if tools:
        total += math.ceil(len(_content_text(tools).encode("utf-8")) / 3)
    return total


def prompt_estimate(messages: list[dict[str, Any]], tools: Any = None) -> int:
    """A fair estimate of a prompt's tokens (for billing when upstream reports none)."""
    total = 3
    for message in messages:
        total += _MESSAGE_OVERHEAD + estimate(_content_text(message.get("content")))
    if tools:
        total += estimate(_content_text(tools))
    return total
