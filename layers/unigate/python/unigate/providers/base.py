"""The interface every provider adapter implements, and what they share: SSE parsing, error mapping."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from unigate.catalog.entries import EndpointSpec, ProviderSpec
from unigate.infra.observability import redact


@dataclass
class UpstreamCall:
    """One request to one provider: the OpenAI-shaped body (already filtered to what the provider
    supports, `model` set to the provider's own id), the credentials and the time it may take."""

    endpoint: EndpointSpec
    provider: ProviderSpec
    body: dict[str, Any]
    credentials: dict[str, Any] = field(default_factory=dict)
    timeout: float = 60.0
    # Parameters outside OpenAI's API passed through to the provider's own payload as they are
    # (the `extra-parameters: pass-through` header).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_tokens(self) -> int:
        requested = self.body.get("max_completion_tokens") or self.body.get("max_tokens")
        return int(requested) if requested else self.endpoint.max_output

    def base_url(self) -> str:
        url = self.credentials.get("base_url") or self.provider.base_url
        if not url:
            raise UpstreamFailure(None, f"No base URL is configured for {self.provider.name}.", kind="config")
        return str(url).rstrip("/")


class UpstreamFailure(Exception):
    """The upstream refused, failed, timed out or spoke nonsense. `status` is its HTTP status, if any."""

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        kind: str = "http",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = redact(message)[:500]
        self.kind = kind  # http | timeout | connect | protocol | config
        self.retry_after = retry_after


def scrub(failure: UpstreamFailure, credentials: dict[str, Any]) -> UpstreamFailure:
    """Removes the credentials of the call from a failure's message: providers echo keys back in their
    error messages ("Incorrect API key provided: ..."), and not every key has a recognisable shape."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 6:
            failure.message = failure.message.replace(value, "[REDACTED]")
    return failure


class Adapter(Protocol):
    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        """A whole OpenAI `chat.completion` object."""
        ...

    def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        """OpenAI `chat.completion.chunk` objects as they arrive; usage, when known, on the last."""
        ...


@dataclass
class Embedded:
    """An embeddings answer: one vector per input, in input order, and the tokens the provider counted."""

    vectors: list[list[float]]
    prompt_tokens: int | None = None


class Embedder(Protocol):
    async def embed(self, call: UpstreamCall) -> Embedded:
        """Embeds call.body["input"]: strings or token arrays, or, when call.body["images"] is true,
        {"image": data URL, "text": optional} items. call.body may name "dimensions" and "input_type"."""
        ...


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


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_message(payload: bytes) -> str:
    """The message of a provider's error body, whatever its envelope."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:300] or "no body"
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or error)
        return str(error)
    return str(body)


async def raise_for_status(response: Any) -> None:
    if 300 <= response.status_code < 400:
        # Never followed: a redirect could point a request anywhere, past every check of its URL.
        raise UpstreamFailure(response.status_code, f"{response.status_code} from upstream: a redirect, not followed.")
    if response.status_code < 400:
        return
    payload = await response.aread()
    raise UpstreamFailure(
        response.status_code,
        f"{response.status_code} from upstream: {error_message(payload)}",
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


async def sse_data(response: Any) -> AsyncIterator[tuple[str | None, str]]:
    """(event, data) pairs of a server-sent event stream."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield event, "\n".join(data)


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: an upstream that sends them sent a malformed answer."""
    raise ValueError(name)


def parse_json(data: str) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except ValueError:
        raise UpstreamFailure(None, "The upstream sent a malformed stream chunk.", kind="protocol") from None


def transport_failure(exc: Exception) -> UpstreamFailure:
    """The HTTP client's failures, as UpstreamFailure."""
    from unigate.infra import httpclient

    if isinstance(exc, httpclient.Timeout):
        return UpstreamFailure(None, "The upstream did not answer in time.", kind="timeout")
    if isinstance(exc, httpclient.ProtocolError):
        return UpstreamFailure(None, "The upstream closed the connection early.", kind="protocol")
    return UpstreamFailure(None, f"Could not reach the upstream ({type(exc).__name__}).", kind="connect")


def stop_sequences(body: dict[str, Any]) -> list[str]:
    """OpenAI's `stop` (a string or a list) as the list other providers take."""
    stop = body.get("stop")
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def merge_turn(turns: list[dict[str, Any]], role: str, items: list[dict[str, Any]], field: str = "content") -> None:
    """Appends a turn, merging it into the previous one of the same role (Anthropic, Gemini and Bedrock
    require alternating roles; OpenAI allows runs of one role)."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][field].extend(items)
    else:
        turns.append({"role": role, field: items})


def tool_arguments(tool_call: dict[str, Any]) -> Any:
    """An OpenAI tool call's arguments (a JSON string) as a value; {} when they are not valid JSON."""
    try:
        return json.loads((tool_call.get("function") or {}).get("arguments") or "{}")
    except ValueError:
        return {}


async def post_json(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float, *,
                    server_name: str | None = None) -> Any:
    """POSTs JSON and returns the JSON answer, with every failure as an UpstreamFailure."""
    async with open_stream(url, payload, headers, timeout, server_name=server_name) as response:
        content = await response.aread()
    try:
        return json.loads(content, parse_constant=_reject_constant)
    except ValueError:
        raise UpstreamFailure(None, "The upstream sent a malformed response.", kind="protocol") from None


@asynccontextmanager
async def open_stream(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float, *,
                      server_name: str | None = None) -> AsyncIterator[Any]:
    """A POST's answer, its body still to be read, closed on exit (which cancels the upstream request
    when the caller stops early). Answers other than 2xx raise; so do transport errors while reading,
    as UpstreamFailure."""
    from unigate.infra.httpclient import HTTPError, get_client

    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    try:
        response = await get_client().request("POST", url, content=body, timeout=timeout, server_name=server_name,
                                               headers={"Content-Type": "application/json", **headers})
    except HTTPError as exc:
        raise transport_failure(exc) from None
    try:
        await raise_for_status(response)
        yield response
    except HTTPError as exc:
        raise transport_failure(exc) from None
    else:  # the reader is done: the body's end is read, and the connection kept, if it comes at once
        await response.finish()
    finally:
        await response.aclose()
