"""Anthropic's Messages API (POST /v1/messages), to and from OpenAI's chat shapes.

Request: system and developer messages become `system`; tool results become user `tool_result`
blocks; consecutive messages of one role are merged (Anthropic requires alternating turns); tools and
tool_choice are translated; reasoning_effort becomes `thinking` (unigate.providers.reasoning). Response and
stream: text, thinking and tool_use blocks become content, reasoning_content and tool_calls, stop reasons
become finish reasons, usage becomes OpenAI usage.
"""

from __future__ import annotations

import json
import time
from typing import Any

from unigate.domain.usage import from_anthropic as from_anthropic_usage
from unigate.providers.base import UpstreamCall
from unigate.providers.extras import merged
from unigate.providers.messages import chosen_tool, merge_turn, stop_sequences, tool_arguments
from unigate.providers.openai_format import completion_id
from unigate.providers.reasoning import anthropic_displaced, anthropic_thinking

API_VERSION = "2023-06-01"
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "pause_turn": "stop", "refusal": "content_filter"}


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            blocks.append(_image_block((part.get("image_url") or {}).get("url", "")))
    return blocks


def _text(content: Any) -> str:
    return "".join(b["text"] for b in _blocks(content) if b["type"] == "text")


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice in (None, "auto"):
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict):
        out = {"type": "tool", "name": chosen_tool(choice)}
    else:
        out = {"type": "auto"}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def to_anthropic(call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
    body = call.body
    system: list[str] = []
    turns: list[dict[str, Any]] = []


    for message in body["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role == "user":
            merge_turn(turns, "user", _blocks(message.get("content")))
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            for tool_call in message.get("tool_calls") or []:
                blocks.append({"type": "tool_use", "id": tool_call.get("id", ""),
                               "name": (tool_call.get("function") or {}).get("name", ""),
                               "input": tool_arguments(tool_call)})
            merge_turn(turns, "assistant", blocks)
        elif role in ("tool", "function"):
            merge_turn(turns, "user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                                        "content": _text(message.get("content"))}])

    out: dict[str, Any] = {"model": call.endpoint.upstream, "max_tokens": call.max_tokens, "messages": turns}
    if system:
        out["system"] = "\n\n".join(s for s in system if s)
    thinking = anthropic_thinking(body, call.max_tokens)
    displaced = anthropic_displaced(body, thinking)
    if thinking is not None:
        out["thinking"] = thinking
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(ours) is not None and ours not in displaced:
            out[theirs] = body[ours]
    if stop_sequences(body):
        out["stop_sequences"] = stop_sequences(body)
    if body.get("tools"):
        out["tools"] = [
            {"name": t["function"]["name"], "description": t["function"].get("description", ""),
             "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
            for t in body["tools"] if t.get("type", "function") == "function"
        ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice and body.get("tools"):
        out["tool_choice"] = choice
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    if stream:
        out["stream"] = True
    return merged(out, call.extra)


def usage_of(raw: Any) -> dict[str, Any]:
    """OpenAI's usage with the cache reads and writes (by TTL) kept apart: Anthropic's input_tokens
    excludes both, each billed at its own price (unigate.domain.usage)."""
    return from_anthropic_usage(raw).to_chat()


def from_anthropic(body: dict[str, Any], model: str) -> dict[str, Any]:
    text, tool_calls, thoughts = [], [], []
    for block in body.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "thinking":
            thoughts.append(str(block.get("thinking") or ""))
        elif block.get("type") == "tool_use":
            tool_calls.append({"id": block.get("id"), "type": "function",
                               "function": {"name": block.get("name"),
                                            "arguments": json.dumps(block.get("input", {}))}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if any(thoughts):
        # The chat form's name for a model's thinking (redacted thinking has no text to relay).
        message["reasoning_content"] = "".join(thoughts)
    return {
        "id": body.get("id") or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": FINISH.get(body.get("stop_reason") or "", "stop"),
                     "logprobs": None}],
        "usage": usage_of(body.get("usage") or {}),
    }
