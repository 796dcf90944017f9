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
# Parts that providers bill by what they show, not by their bytes, in each wire format's own shapes (OpenAI's
# chat and Responses, Anthropic, Gemini, Bedrock). Images have a known maximum (the catalog's per-image
# figure). Documents, audio and video do not: a PDF bills about 1,500 to 3,000 tokens a page whatever its
# size, a file id or URL carries no size at all, so only the context window bounds them.
_IMAGE_TYPES = frozenset({"image_url", "image", "input_image"})
_DOCUMENT_TYPES = frozenset({"file", "input_file", "input_audio", "document", "audio", "video", "input_video"})
# Gemini's parts: an image or any other file by its MIME type.
_GEMINI_PARTS = ("inlineData", "fileData", "inline_data", "file_data")
# Bedrock's Converse blocks, keyed by kind.
_BEDROCK_DOCUMENTS = ("document", "video", "audio")
# Anthropic documents given as text are billed as their text (their bytes count).
_TEXT_SOURCES = frozenset({"text", "content"})


def payload_text(payload: Any) -> str:
    """A request body as the upstream client sends it (compact JSON; binary parts, such as Bedrock's image
    bytes, at their base64 size)."""
    def binary(value: Any) -> str:
        if isinstance(value, (bytes, bytearray)):
            return "A" * (4 * math.ceil(len(value) / 3))
        raise TypeError(type(value).__name__)

    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=binary)


def payload_bytes(payload: Any) -> int:
    """The UTF-8 bytes of a request body as the upstream client sends it."""
    return utf8_size(payload_text(payload))


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _kind(value: dict[str, Any]) -> str | None:
    """"image", "document" or None for one object of a request body."""
    kind = value.get("type")
    if isinstance(kind, str):  # a tool's JSON schema may have a property named "type" whose value is an object
        if kind in _IMAGE_TYPES:
            return "image"
        if kind in _DOCUMENT_TYPES:
            source = value.get("source")
            return None if isinstance(source, dict) and source.get("type") in _TEXT_SOURCES else "document"
    for key in _GEMINI_PARTS:
        part = value.get(key)
        if isinstance(part, dict):
            mime = str(part.get("mimeType") or part.get("mime_type") or "")
            return "image" if mime.startswith("image/") else "document"
    if isinstance(value.get("image"), dict) and "source" in value["image"]:
        return "image"
    if any(isinstance(value.get(key), dict) and "source" in value[key] for key in _BEDROCK_DOCUMENTS):
        return "document"
    return None


def media_parts(payload: Any) -> tuple[int, int]:
    """How many images, and how many documents, audio or video parts, a request body carries, at any depth."""
    images = documents = 0
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            kind = _kind(value)
            images += kind == "image"
            documents += kind == "document"
            source = value.get("source")
            if kind is not None and isinstance(source, dict):
                # The part's own source is not another part (Anthropic's {"type": "file"} source), but a
                # source of content blocks holds parts of its own.
                stack.extend(v for k, v in value.items() if k != "source")
                stack.append(source.get("content"))
            else:
                stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return images, documents
