"""The built-in `echo` provider: replies with the last user message, streams it word by word, and
reports real token counts (by unigate's estimator), so the local server and load tests need no network.

Its embedding model hashes words (and image bytes) into a unit vector: deterministic, offline, and texts
sharing words come out close, so similarity search over it behaves sensibly in demos.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from unigate.domain import tokens
from unigate.providers.base import Embedded, UpstreamCall, chunk, completion_id, usage

_PIECES = re.compile(r"\S+\s*|\s+")
_WORDS = re.compile(r"\w+")


def _hashed(features: list[bytes], size: int) -> list[float]:
    """Feature hashing into `size` dimensions, normalised to unit length."""
    out = [0.0] * size
    for feature in features:
        digest = hashlib.blake2b(feature, digest_size=8).digest()
        out[int.from_bytes(digest[:4], "big") % size] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in out)) or 1.0
    return [round(x / norm, 6) for x in out]


def _features(item: Any) -> tuple[list[bytes], int]:
    """What an input is hashed from, and the tokens it counts for."""
    if isinstance(item, dict):  # an image, with optional text
        raw = base64.b64decode(item["image"].partition(";base64,")[2])
        text = item.get("text") or ""
        return [raw[i:i + 64] for i in range(0, len(raw), 64)] + [w.encode() for w in _WORDS.findall(text.lower())], (
            tokens.estimate(text) if text else 0)
    if isinstance(item, list):  # a token array
        return [str(t).encode() for t in item], len(item)
    return [w.encode() for w in _WORDS.findall(item.lower())] or [item.encode()], tokens.estimate(item)


def _reply(call: UpstreamCall) -> str:
    for message in reversed(call.body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _truncate(pieces: list[str], limit: int) -> tuple[list[str], str]:
    return (pieces[:limit], "length") if len(pieces) > limit else (pieces, "stop")


class Echo:
    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        pieces, finish = _truncate(_PIECES.findall(_reply(call)), call.max_tokens)
        text = "".join(pieces)
        prompt = tokens.prompt_estimate(call.body.get("messages", []))
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.endpoint.upstream,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                         "logprobs": None}],
            "usage": usage(prompt, len(pieces)),
        }

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        pieces, finish = _truncate(_PIECES.findall(_reply(call)), call.max_tokens)
        chunk_id, model = completion_id(), call.endpoint.upstream
        yield chunk(chunk_id, model, {"role": "assistant", "content": ""})
        for piece in pieces:
            yield chunk(chunk_id, model, {"content": piece})
        yield chunk(chunk_id, model, {}, finish_reason=finish)
        yield chunk(chunk_id, model, usage=usage(tokens.prompt_estimate(call.body.get("messages", [])), len(pieces)))

    async def embed(self, call: UpstreamCall) -> Embedded:
        size = call.body.get("dimensions") or call.endpoint.dimensions or 256
        vectors, counted = [], 0
        for item in call.body["input"]:
            features, count = _features(item)
            vectors.append(_hashed(features, size))
            counted += count
        return Embedded(vectors, counted)
