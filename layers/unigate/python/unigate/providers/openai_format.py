"""OpenAI's response shapes, which every adapter produces: completions, stream chunks, usage, embeddings."""

from __future__ import annotations

import time
import uuid
from typing import Any

from unigate.providers.base import Embedded, UpstreamFailure


def openai_embeddings(body: Any, count: int) -> Embedded:
    """OpenAI's (and Azure AI's) embeddings response, checked: one float vector per input."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise UpstreamFailure(None, "The upstream returned the wrong number of embeddings.", kind="protocol")
    ordered = sorted(data, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
    vectors = [vector(d.get("embedding") if isinstance(d, dict) else None) for d in ordered]
    usage = body.get("usage") or {}
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return Embedded(vectors, tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None)


def vector(value: Any) -> list[float]:
    if not isinstance(value, list) or not value or not all(isinstance(x, int | float) for x in value):
        raise UpstreamFailure(None, "The upstream returned an embedding that is not a list of numbers.",
                              kind="protocol")
    return [float(x) for x in value]


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def chunk(
    chunk_id: str, model: str, delta: dict[str, Any] | None = None, *, finish_reason: str | None = None,
    usage: dict[str, int] | None = None, index: int = 0,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if delta is None and finish_reason is None else [
            {"index": index, "delta": delta or {}, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def usage(prompt: Any, completion: Any) -> dict[str, Any]:
    """OpenAI's usage object. Counts that are not non-negative integers are passed on as they are, for the
    gateway to replace with its estimate (and log), never to fail on here."""
    total = prompt + completion if all(isinstance(v, int) for v in (prompt, completion)) else None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def tokens_sum(*values: Any) -> Any:
    """The sum of a provider's token counts where each is a non-negative integer (or absent); otherwise the
    first invalid one, to be replaced by the estimate."""
    total = 0
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return value
        total += value
    return total

