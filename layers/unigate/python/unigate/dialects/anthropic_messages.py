"""Anthropic's Messages API as a client dialect: its request model, the request in the chat form, and chat
completions and chunks back as Messages responses and stream events. Pure: no I/O.

The chat form is the one intermediate form (unigate.gateway.chat runs it). What a foreign model cannot take
is dropped and listed (thinking blocks, server tools, cache_control, unknown top-level fields), never
refused. Native pass-through to Anthropic-format endpoints does not come through here: the body goes as
sent (see unigate.gateway.messages).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from unigate.domain.request_models import Body, NonEmpty, Strict

# The top-level fields translated to the chat form; any other is dropped (and listed) for foreign models.
TRANSLATED = frozenset({"model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream",
                        "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking"})
# Unify's extras, read by unigate on this surface too and never forwarded.
EXTRAS = frozenset({"tags", "drop_params", "use_custom_keys", "log_query_body", "log_response_body"})

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
# Anthropic's error `type` per status: what its SDKs read (with the status) to raise the matching class.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 409: "invalid_request_error",
               413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error",
               500: "api_error", 502: "api_error", 503: "overloaded_error", 504: "timeout_error",
               529: "overloaded_error"}
# thinking.budget_tokens -> the chat form's reasoning_effort (the providers' reasoning parameter).
_EFFORT = ((4096, "low"), (16384, "medium"))


# ------------------------------------------------------------------------------------------- request
class Block(Strict):
    type: NonEmpty


class Message(Strict):
    # "system" entries inside `messages` are what Claude Code sends (carried where they appear).
    role: Literal["user", "assistant", "system"] = Field(description="user, assistant (or system)")
    content: str | list[Block]


class ToolDefinition(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ToolChoice(Strict):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(Strict):
    # enabled, disabled, adaptive, between_tools, and whatever Anthropic adds next.
    type: NonEmpty
    budget_tokens: Annotated[int, Field(ge=0)] | None = None


class Metadata(Strict):
    user_id: str | None = None


class MessagesRequest(Body):
    """Anthropic's Messages request; `model` is any unigate endpoint string or an Anthropic model id. Fields
    beyond these pass through to Anthropic-format endpoints and are dropped (and listed) for others."""

    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        examples=["echo@echo", "claude-sonnet-4-5", "gpt-4o@openai"])
    max_tokens: Annotated[int, Field(ge=1)]
    messages: Annotated[list[Message], Field(max_length=4096)]
    system: str | list[Block] | None = None
    stream: bool = False
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    stop_sequences: list[str] | None = None
    tools: list[ToolDefinition | Block] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    metadata: Metadata | None = None


class CountTokensRequest(Body):
    """Anthropic's count_tokens request: the Messages request's prompt, without max_tokens."""

    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    messages: Annotated[list[Message], Field(max_length=4096)]
    system: str | list[Block] | None = None
    tools: list[ToolDefinition | Block] | None = None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text")


def _image_url(source: dict[str, Any]) -> str | None:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if source.get("type") == "url":
        return str(source.get("url", ""))
    return None


def _document(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    if kind == "content":
        return {"type": "text", "text": _text(source.get("content"))}
    if kind == "base64":
        data = f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}"
        return {"type": "file", "file": {"file_data": data, "filename": str(block.get("title") or "document.pdf")}}
    if kind == "url":
        return {"type": "text", "text": f"[document: {source.get('url', '')}]"}
    return None


def _tool_result_text(block: dict[str, Any]) -> str:
    """A tool_result's content as one text (results coalesced: text blocks joined, others noted)."""
    content = block.get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        parts = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text":
                parts.append(str(item.get("text", "")))
            elif isinstance(item, dict):
                parts.append(f"[{item.get('type', 'content')}]")
        text = "\n".join(parts)
    return f"Error: {text}" if block.get("is_error") else text


class _Notes:
    def __init__(self) -> None:
        self.dropped: set[str] = set()


def _user(content: Any, notes: _Notes) -> list[dict[str, Any]]:
    """A user turn as chat messages: its tool results first (one `tool` message each), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            url = _image_url(block.get("source") or {})
            if url is not None:
                parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "document":
            part = _document(block)
            if part is not None:
                parts.append(part)
        elif kind == "tool_result":
            results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")),
                            "content": _tool_result_text(block)})
        else:
            notes.dropped.add(f"messages.content.{kind}")
    out = results
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant(content: Any, notes: _Notes) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}]
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({"id": str(block.get("id", "")), "type": "function",
                          "function": {"name": str(block.get("name", "")),
                                       "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
        else:  # thinking and redacted_thinking (a foreign model cannot check their signatures), server tools
            notes.dropped.add(f"messages.content.{kind}")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tools(tools: list[dict[str, Any]], notes: _Notes) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if "input_schema" not in tool or tool.get("type") not in (None, "custom"):
            notes.dropped.add(f"tools.{tool.get('type') or tool.get('name')}")  # server tools: Anthropic's own
            continue
        function: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {}}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: dict[str, Any]) -> tuple[Any, bool | None]:
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind == "any":
        return "required", parallel
    if kind == "tool":
        return {"type": "function", "function": {"name": str(choice.get("name", ""))}}, parallel
    if kind == "none":
        return "none", None
    return "auto", parallel


def reasoning_effort(thinking: dict[str, Any] | None) -> str | None:
    if not thinking or thinking.get("type") == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        return next((effort for limit, effort in _EFFORT if budget < limit), "high")
    return "medium"


def prompt_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The request's system and messages as chat messages (system entries where they appear), and what of
    them was dropped."""
    notes = _Notes()
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text(system)})
    for message in body.get("messages") or []:
        role, content = message.get("role"), message.get("content")
        if role == "user":
            messages.extend(_user(content, notes))
        elif role == "assistant":
            messages.extend(_assistant(content, notes))
        else:
            messages.append({"role": "system", "content": _text(content)})
    return messages, sorted(notes.dropped)


def _chat_tools(body: dict[str, Any], notes: _Notes) -> dict[str, Any]:
    tools = _tools(body.get("tools") or [], notes)
    if not tools:
        return {}
    out: dict[str, Any] = {"tools": tools}
    if body.get("tool_choice"):
        out["tool_choice"], parallel = _tool_choice(body["tool_choice"])
        if parallel is not None:
            out["parallel_tool_calls"] = parallel
    return out


def to_chat(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A checked Messages request in the chat form, and the names of what a foreign model does not get."""
    messages, dropped = prompt_messages(body)
    notes = _Notes()
    chat: dict[str, Any] = {"model": body["model"], "messages": messages, "max_tokens": body["max_tokens"]}
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    chat.update(_chat_tools(body, notes))
    user_id = (body.get("metadata") or {}).get("user_id")
    if user_id:
        chat["user"] = str(user_id)
    effort = reasoning_effort(body.get("thinking"))
    if effort is not None:
        chat["reasoning_effort"] = effort
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    for name in EXTRAS:
        if name in body:
            chat[name] = body[name]
    unknown = [key for key in body if key not in TRANSLATED and key not in EXTRAS]
    if chat.get("tools") is None and body.get("tool_choice"):
        unknown.append("tool_choice")
    return chat, sorted({*dropped, *notes.dropped, *unknown})


# ------------------------------------------------------------------------------------------ response
def message_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def usage(prompt_tokens: int, completion_tokens: int, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Anthropic's usage from the chat form's: cached prompt tokens are cache reads, not input."""
    details = details or {}
    cached = int((details.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    read = int(details.get("cache_read_input_tokens") or cached)
    written = int(details.get("cache_creation_input_tokens") or 0)
    return {"input_tokens": max(prompt_tokens - read - written, 0), "output_tokens": completion_tokens,
            "cache_creation_input_tokens": written, "cache_read_input_tokens": read}


def _arguments(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def from_chat(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat completion as a Messages response (its first choice)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    if message.get("refusal"):
        content.append({"type": "text", "text": str(message["refusal"])})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": str(call.get("id") or "toolu_" + uuid.uuid4().hex[:24]),
                        "name": str(function.get("name", "")), "input": _arguments(function.get("arguments"))})
    raw_usage = completion.get("usage") or {}
    reason = STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn")
    if reason == "end_turn" and message.get("refusal"):
        reason = "refusal"
    return {"id": message_id(), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": reason, "stop_sequence": None,
            "usage": usage(int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0),
                           raw_usage)}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error" if status >= 500 else
                                                               "invalid_request_error"), "message": message}}


# -------------------------------------------------------------------------------------------- stream
def event(name: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps({"type": name, **payload}, separators=(",", ":"), ensure_ascii=False)
    return f"event: {name}\ndata: {data}\n\n".encode()


class StreamTranslator:
    """Chat completion chunks in, Anthropic's stream events out, in its grammar: message_start, then per
    content block content_block_start / content_block_delta... / content_block_stop (one block open at a
    time, indices in order), message_delta with the stop reason and usage, message_stop."""

    def __init__(self, model: str, input_tokens: int) -> None:
        self.model = model
        self.input_tokens = input_tokens
        self.index = -1
        self.open: str | None = None  # the kind of the open block
        self.tools: dict[int, int] = {}  # chat tool call index -> block index
        self.stop_reason = "end_turn"
        self.started = False

    def start(self) -> bytes:
        self.started = True
        return event("message_start", {"message": {
            "id": message_id(), "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}})

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        self.open = None
        return [event("content_block_stop", {"index": self.index})]

    def _begin(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.index += 1
        self.open = kind
        out.append(event("content_block_start", {"index": self.index, "content_block": block}))
        return out

    def chunk(self, item: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        for choice in item.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                if self.open != "thinking":
                    out += self._begin("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out.append(event("content_block_delta", {"index": self.index,
                                                         "delta": {"type": "thinking_delta", "thinking": reasoning}}))
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.open != "text":
                    out += self._begin("text", {"type": "text", "text": ""})
                out.append(event("content_block_delta", {"index": self.index,
                                                         "delta": {"type": "text_delta", "text": text}}))
            for call in delta.get("tool_calls") or []:
                out += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def _tool_delta(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        position = int(call.get("index") or 0)
        function = call.get("function") or {}
        if position not in self.tools:
            out += self._begin("tool_use", {"type": "tool_use",
                                            "id": str(call.get("id") or "toolu_" + uuid.uuid4().hex[:24]),
                                            "name": str(function.get("name") or ""), "input": {}})
            self.tools[position] = self.index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(event("content_block_delta", {"index": self.tools[position], "delta": {
                "type": "input_json_delta", "partial_json": arguments}}))
        return out

    def finish(self, output_tokens: int, details: dict[str, Any] | None = None) -> list[bytes]:
        out = self._close()
        final = usage(self.input_tokens, output_tokens, details)
        out.append(event("message_delta", {"delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                                           "usage": {"output_tokens": output_tokens,
                                                     "input_tokens": final["input_tokens"],
                                                     "cache_creation_input_tokens":
                                                         final["cache_creation_input_tokens"],
                                                     "cache_read_input_tokens": final["cache_read_input_tokens"]}}))
        out.append(event("message_stop", {}))
        return out

    def error(self, status: int, message: str) -> list[bytes]:
        """An upstream failure mid-stream: Anthropic's `event: error` (the stream ends there)."""
        return [event("error", {"error": error_body(status, message)["error"]})]


def count_estimate_input(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """What unigate's own token estimate counts for count_tokens: the chat-form messages and the tools."""
    messages, _ = prompt_messages(body)
    return messages, body.get("tools")
