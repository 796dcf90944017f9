"""The built-in `echo` provider: an offline model that shows every chat feature, deterministically.

- It replies with the last user message (or the last tool result), streamed word by word, with real token
  counts by unigate's estimator, so the local server and load tests need no network.
- `n` gives that many choices; `stop` cuts the reply at the first stop sequence; `max_tokens` truncates it
  with `finish_reason: "length"`; `logprobs` and `top_logprobs` give plausible values.
- A forced or named tool (`tool_choice: "required"` or `{"type": "function", ...}`), or under `auto` a tool
  whose name the user's message mentions, gets a tool call whose arguments are made from the tool's JSON
  schema and are valid against it; `response_format` `json_object` / `json_schema` answers with JSON (valid
  against the schema).
- The model `fail` (`fail@echo`) always answers 503, so fallbacks, retries and cooldowns can be tried
  offline: `fail@echo->echo@echo`.

Its embedding model hashes words (and image bytes) into a unit vector: deterministic, offline, and texts
sharing words come out close, so similarity search over it behaves sensibly in demos.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from unigate.domain import tokens
from unigate.providers.base import Embedded, UpstreamCall, UpstreamFailure
from unigate.providers.openai_format import chunk, completion_id, usage

_PIECES = re.compile(r"\S+\s*|\s+")
_WORDS = re.compile(r"\w+")
FAIL_MODEL = "fail"
# How deep the schema walk goes: deeper schemas get the simplest valid value (null where allowed).
_MAX_SCHEMA_DEPTH = 12


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


def _hashed(features: list[bytes], size: int) -> list[float]:
    """Feature hashing into `size` dimensions, normalised to unit length. Each feature adds a weight in
    [0.5, 1.5) of either sign, so a few features cannot cancel each other out to a zero vector."""
    out = [0.0] * size
    for feature in features:
        digest = _digest(feature)
        weight = 0.5 + digest[5] / 256
        out[int.from_bytes(digest[:4], "big") % size] += weight if digest[4] & 1 else -weight
    norm = math.sqrt(sum(x * x for x in out))
    if norm == 0:  # nothing to hash, or an exact cancellation: still a unit vector
        out[0], norm = 1.0, 1.0
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


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _last_turn(messages: list[dict[str, Any]]) -> tuple[str, str]:
    """The role and text echo answers: the last user message, or a tool result that came after it."""
    for message in reversed(messages):
        if message.get("role") in ("user", "tool"):
            return str(message.get("role")), _text_of(message.get("content"))
    return "user", ""


def _cut_at_stop(text: str, stop: Any) -> str:
    sequences = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    cuts = [text.index(s) for s in sequences if s and s in text]
    return text[:min(cuts)] if cuts else text


# ----------------------------------------------------------------------------- JSON from a schema
def instance_of(schema: Any, words: list[str], *, root: Any = None, depth: int = 0) -> Any:
    """A value valid against a JSON schema (the subset structured outputs and tools use: types, properties,
    items, enum, const, anyOf/oneOf/allOf, local $refs, numeric and length bounds), with the words of the
    reply as its strings. No library makes one deterministic, minimal instance without a random generator."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return None if schema is False else {}
    resolved = _resolved(schema, root)
    if resolved is not schema:
        # Objects and arrays stop nesting at the cap; a chain of references alone gets twice as far.
        return instance_of(resolved, words, root=root, depth=depth + 1) if depth < 2 * _MAX_SCHEMA_DEPTH else None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if depth >= _MAX_SCHEMA_DEPTH and kind in ("object", "array"):
        return {} if kind == "object" else []
    return _BY_TYPE.get(kind, _string)({**schema, "type": kind}, words, root, depth)


def _resolved(schema: dict[str, Any], root: Any) -> Any:
    """The schema a $ref, anyOf/oneOf (the first) or allOf (merged) stands for; the schema itself otherwise."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {"properties": {}}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                properties = {**merged["properties"], **(part.get("properties") or {})}
                merged = {**merged, **part, "properties": properties}
        return merged
    return schema


def _object(schema: dict[str, Any], words: list[str], root: Any, depth: int) -> Any:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {name: instance_of(sub, words, root=root, depth=depth + 1) for name, sub in properties.items()}


def _array(schema: dict[str, Any], words: list[str], root: Any, depth: int) -> Any:
    count = max(1, int(schema.get("minItems", 1) or 1))
    count = min(count, int(schema.get("maxItems", count)))
    return [instance_of(schema.get("items", {}), words, root=root, depth=depth + 1) for _ in range(count)]


def _number(schema: dict[str, Any], words: list[str], root: Any, depth: int) -> Any:
    value = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    value = min(value, schema.get("maximum", value))
    return int(value) if schema.get("type") == "integer" else value


def _string(schema: dict[str, Any], words: list[str], root: Any, depth: int) -> Any:
    text = (" ".join(words) or "echo").ljust(int(schema.get("minLength", 0)), ".")
    high = schema.get("maxLength")
    return text[:high] if isinstance(high, int) else text


_BY_TYPE = {
    "object": _object, "array": _array, "integer": _number, "number": _number, "string": _string,
    "boolean": lambda *_: True, "null": lambda *_: None,
}


# ----------------------------------------------------------------------------- the answer
@dataclass
class _Choice:
    pieces: list[str]
    finish: str
    tool_call: dict[str, Any] | None = None

    @property
    def completion_tokens(self) -> int:
        if self.tool_call is not None:
            return tokens.estimate(self.tool_call["function"]["name"] + self.tool_call["function"]["arguments"])
        return len(self.pieces)


def _chosen_tool(body: dict[str, Any], role: str, text: str) -> dict[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none" or role == "tool":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t["function"].get("name") == name), None)
    mentioned = next((t for t in tools if t["function"].get("name") and t["function"]["name"] in text), None)
    return mentioned or (tools[0] if choice == "required" else None)


def _answer(call: UpstreamCall) -> _Choice:
    body = call.body
    role, text = _last_turn(body.get("messages", []))
    tool = _chosen_tool(body, role, text)
    if tool is not None:
        arguments = instance_of(tool["function"].get("parameters") or {"type": "object"}, text.split())
        digest = _digest(text.encode()).hex()
        return _Choice([], "tool_calls", {
            "id": f"call_{digest}", "type": "function",
            "function": {"name": tool["function"]["name"], "arguments": json.dumps(arguments)}})
    text = _cut_at_stop(text, body.get("stop"))
    response_format = body.get("response_format") or {}
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        text = json.dumps(instance_of(schema, text.split()))
    elif isinstance(response_format, dict) and response_format.get("type") == "json_object":
        text = json.dumps({"echo": text})
    pieces = _PIECES.findall(text)
    if len(pieces) > call.max_tokens:
        return _Choice(pieces[:call.max_tokens], "length")
    return _Choice(pieces, "stop")


def _logprobs(pieces: list[str], top: int) -> dict[str, Any]:
    """A plausible log probability per token, and `top` alternatives in descending order, the token first."""
    content = []
    for piece in pieces:
        logprob = -round(_digest(piece.encode())[0] / 2560, 4)
        others = (piece.upper(), piece.lower() + ".", piece.strip() + "!")[:max(0, top - 1)]
        alternatives = [{"token": piece, "logprob": logprob, "bytes": list(piece.encode())}]
        alternatives += [{"token": alt, "logprob": round(logprob - 2.0 * (i + 1), 4), "bytes": list(alt.encode())}
                         for i, alt in enumerate(others)]
        content.append({"token": piece, "logprob": logprob, "bytes": list(piece.encode()),
                        "top_logprobs": alternatives[:top]})
    return {"content": content, "refusal": None}


def _choices(call: UpstreamCall) -> list[_Choice]:
    if call.endpoint.upstream == FAIL_MODEL:
        raise UpstreamFailure(503, "The echo provider's `fail` model always fails: it is there to try fallbacks.")
    count = call.body.get("n") or 1
    answer = _answer(call)
    return [answer] * int(count)


class Echo:
    def request_body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return {**call.body, "stream": stream}

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        choices = _choices(call)
        wants_logprobs = bool(call.body.get("logprobs"))
        out = []
        for index, choice in enumerate(choices):
            text = None if choice.tool_call else "".join(choice.pieces)
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if choice.tool_call is not None:
                message["tool_calls"] = [choice.tool_call]
            out.append({"index": index, "message": message, "finish_reason": choice.finish,
                        "logprobs": _logprobs(choice.pieces, call.body.get("top_logprobs") or 0) if wants_logprobs
                        else None})
        return {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.endpoint.upstream,
            "choices": out,
            "usage": usage(tokens.prompt_estimate(call.body.get("messages", [])),
                           sum(c.completion_tokens for c in choices)),
        }

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        choices = _choices(call)
        chunk_id, model = completion_id(), call.endpoint.upstream
        wants_logprobs, top = bool(call.body.get("logprobs")), call.body.get("top_logprobs") or 0
        for index, choice in enumerate(choices):
            yield chunk(chunk_id, model, {"role": "assistant", "content": ""}, index=index)
            if choice.tool_call is not None:
                function = choice.tool_call["function"]
                yield chunk(chunk_id, model, {"tool_calls": [{
                    "index": 0, "id": choice.tool_call["id"], "type": "function",
                    "function": {"name": function["name"], "arguments": ""}}]}, index=index)
                for piece in _PIECES.findall(function["arguments"]) or [function["arguments"]]:
                    yield chunk(chunk_id, model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                                index=index)
            for piece in choice.pieces:
                out = chunk(chunk_id, model, {"content": piece}, index=index)
                if wants_logprobs:
                    out["choices"][0]["logprobs"] = _logprobs([piece], top)
                yield out
            yield chunk(chunk_id, model, {}, finish_reason=choice.finish, index=index)
        yield chunk(chunk_id, model, usage=usage(tokens.prompt_estimate(call.body.get("messages", [])),
                                                 sum(c.completion_tokens for c in choices)))

    def embedding_body(self, call: UpstreamCall) -> dict[str, Any]:
        return call.body

    async def embed(self, call: UpstreamCall) -> Embedded:
        size = call.body.get("dimensions") or call.endpoint.dimensions or 256
        vectors, counted = [], 0
        for item in call.body["input"]:
            features, count = _features(item)
            vectors.append(_hashed(features, size))
            counted += count
        return Embedded(vectors, counted)
