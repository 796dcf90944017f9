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


# ------------------------------------------------------------------------------ the hold's upper bound
# Parts that providers bill by what they show, not by their bytes: each counts the catalog's per-image
# maximum on top of its bytes. The shapes are each wire format's own (OpenAI, Anthropic, Gemini, Bedrock).
_MEDIA_TYPES = frozenset({"image_url", "image", "input_image"})
_MEDIA_KEYS = frozenset({"inlineData", "fileData", "inline_data", "file_data"})


def payload_bytes(payload: Any) -> int:
    """The UTF-8 bytes of a request body as the upstream client sends it (compact JSON; binary parts, such
    as Bedrock's image bytes, at their base64 size)."""
    def binary(value: Any) -> str:
        if isinstance(value, (bytes, bytearray)):
            return "A" * (4 * math.ceil(len(value) / 3))
        raise TypeError(type(value).__name__)

    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=binary).encode("utf-8",
                                                                                                   "surrogatepass"))


def media_parts(payload: Any) -> int:
    """How many images (or other media billed per item) a request body carries, at any depth."""
    found, stack = 0, [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("type") in _MEDIA_TYPES or _MEDIA_KEYS & value.keys() or (
                    isinstance(value.get("image"), dict) and "source" in value["image"]):
                found += 1
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found

