"""OpenAI's Responses API as the chat form: a request becomes a chat completion body, a chat completion
becomes a Response, and a chat stream becomes the Responses event grammar. Pure: no I/O.

- Input items (`message`, `function_call`, `function_call_output`, `custom_tool_call(_output)`,
  `reasoning`) become chat messages; reasoning items (and their `encrypted_content`) are kept in the
  conversation but never sent to a translated upstream, which could not read them.
- Function and custom tools are sent as chat function tools; `namespace` groups are flattened to
  `<namespace>__<name>` and mapped back on the way out. Built-in tools a chat upstream cannot run
  (`web_search`, `file_search`, ...) are dropped and listed, never refused: Codex sends them on every request.
- Fields the gateway keeps for itself (`store`, `previous_response_id`, `metadata`, `include`,
  `prompt_cache_key`, `client_metadata`, ...) are never forwarded.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StringConstraints, Tag

from unigate.domain.errors import BadRequest
from unigate.domain.request_models import MAX_MESSAGES, MAX_TOOLS, Body, NonEmpty, Strict

NAMESPACE_SEPARATOR = "__"
# Built-in tools and tool choices only OpenAI's own servers run.
CHAT_TOOL_TYPES = frozenset({"function", "custom", "namespace"})
# What the gateway reads itself and never forwards to a translated upstream.
GATEWAY_FIELDS = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
    "temperature", "top_p", "reasoning", "text", "metadata", "store", "previous_response_id", "include",
    "stream", "stream_options", "prompt_cache_key", "client_metadata", "truncation", "user", "service_tier",
    "safety_identifier", "max_tool_calls", "top_logprobs", "background", "prompt_cache_retention",
})


# ----------------------------------------------------------------------------------- request models
class InputText(Strict):
    type: Literal["input_text", "output_text", "text", "summary_text", "reasoning_text"]
    text: str


class InputImage(Strict):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] | None = None


class InputFile(Strict):
    type: Literal["input_file"]
    file_data: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None


class Refusal(Strict):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[InputText | InputImage | InputFile | Refusal, Field(discriminator="type")]


class MessageItem(Strict):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | None = None
    status: str | None = None


class FunctionCallItem(Strict):
    type: Literal["function_call"]
    call_id: NonEmpty
    name: NonEmpty
    arguments: str
    namespace: str | None = None
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output", "custom_tool_call_output"]
    call_id: NonEmpty
    output: str | list[ContentPart]
    id: str | None = None
    status: str | None = None


class CustomToolCallItem(Strict):
    type: Literal["custom_tool_call"]
    call_id: NonEmpty
    name: NonEmpty
    input: str
    namespace: str | None = None
    id: str | None = None


class ReasoningItem(Strict):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[InputText] = Field(default_factory=list)
    content: list[InputText] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class ItemReference(Strict):
    """An item of one of the caller's stored responses, by its id (resolved by unigate.gateway.responses)."""

    type: Literal["item_reference"] = "item_reference"
    id: NonEmpty


def _item_tag(value: Any) -> str:
    # An "easy" message ({"role": ..., "content": ...}) has no type, nor has a bare reference ({"id": ...}).
    if isinstance(value, dict):
        if "type" not in value and "role" not in value and "id" in value:
            return "item_reference"
        return str(value.get("type", "message"))
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")] | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[FunctionCallOutputItem, Tag("custom_tool_call_output")]
    | Annotated[CustomToolCallItem, Tag("custom_tool_call")] | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ItemReference, Tag("item_reference")],
    Discriminator(_item_tag),
]

ToolName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class FunctionTool(Strict):
    type: Literal["function"]
    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CustomTool(Strict):
    type: Literal["custom"]
    name: ToolName
    description: str | None = None
    format: dict[str, Any] | None = None


class NamespaceTool(Strict):
    type: Literal["namespace"]
    name: ToolName
    description: str | None = None
    tools: Annotated[list[Annotated[FunctionTool | CustomTool, Field(discriminator="type")]],
                     Field(max_length=MAX_TOOLS)]


class BuiltInTool(Strict):
    """A tool only OpenAI's servers run (web_search, file_search, computer_use, ...): dropped."""

    type: str


def _tool_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in CHAT_TOOL_TYPES else "built-in"


ToolSpec = Annotated[
    Annotated[FunctionTool, Tag("function")] | Annotated[CustomTool, Tag("custom")]
    | Annotated[NamespaceTool, Tag("namespace")] | Annotated[BuiltInTool, Tag("built-in")],
    Discriminator(_tool_tag),
]


class Reasoning(Strict):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(Strict):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(Body):
    """POST /v1/responses: OpenAI's Responses request, with Codex's fields (prompt_cache_key, client_metadata)."""

    model: NonEmpty = Field(examples=["gpt-4o@openai", "echo@echo"])
    input: NonEmpty | Annotated[list[InputItem], Field(max_length=MAX_MESSAGES)]
    instructions: str | None = None
    tools: Annotated[list[ToolSpec], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    metadata: Annotated[dict[str, Annotated[str, StringConstraints(max_length=512)]],
                        Field(max_length=16)] | None = None
    # null is OpenAI's default, true.
    store: bool | None = None
    previous_response_id: NonEmpty | None = None
    include: list[str] | None = None
    stream: bool = False
    prompt_cache_key: str | None = None
    client_metadata: dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    user: str | None = None
    service_tier: str | None = None
    background: bool | None = None

    @property
    def stored(self) -> bool:
        return self.store is not False


class InputTokensRequest(Body):
    """POST /v1/responses/input_tokens: what a Responses request's input would count."""

    model: NonEmpty | None = None
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[ToolSpec] | None = None
    previous_response_id: NonEmpty | None = None


def parse(body: Any) -> tuple[ResponsesRequest, dict[str, Any]]:
    """The request, validated, and as the client sent it (with each input item's type made explicit)."""
    from unigate.domain.request_models import parse as parse_model

    request = parse_model(ResponsesRequest, body)
    if request.background:
        raise BadRequest("Background responses are not supported: unigate answers each response while the request is "
                         "open; send it without background.", param="background")
    for name in ("conversation", "prompt"):
        if isinstance(body, dict) and body.get(name) is not None:
            raise BadRequest(f"'{name}' is not supported; send the input (or previous_response_id) instead.",
                             param=name)
    return request, body


# ----------------------------------------------------------------------------------- ids
def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


RESPONSE_HEX = 32


def item_id(prefix: str, response_id: str) -> str:
    """An id for an item of `response_id` (its output, or an input item without an id of its own) that
    names the response, so an `item_reference` to it finds the stored response in one read."""
    return f"{prefix}_{response_id.removeprefix('resp_')}{uuid.uuid4().hex[:16]}"


def response_of(reference: str) -> str | None:
    """The response whose item `reference` is, when unigate made the id (see item_id)."""
    tail = reference.partition("_")[2]
    if len(tail) != RESPONSE_HEX + 16 or any(c not in "0123456789abcdef" for c in tail):
        return None
    return f"resp_{tail[:RESPONSE_HEX]}"


def input_items(value: str | list[Any] | None, response_id: str = "") -> list[dict[str, Any]]:
    """A request's input as items, each with an id (what GET .../input_items lists and a continuation
    replays); `item_reference` items are left for the gateway to resolve."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[dict[str, Any]] = [{"type": "message", "role": "user",
                                         "content": [{"type": "input_text", "text": value}]}]
    else:
        items = [item.model_dump(by_alias=True, exclude_none=True) for item in value]
    out = []
    for item in items:
        if item["type"] == "item_reference":
            out.append(item)
            continue
        if item["type"] == "message" and isinstance(item.get("content"), str):
            kind = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = [{"type": kind, "text": item["content"]}]
        prefix = {"message": "msg", "function_call": "fc", "reasoning": "rs", "custom_tool_call": "ctc"}.get(
            item["type"], "fco")
        item.setdefault("id", item_id(prefix, response_id) if response_id else new_id(prefix))
        if item["type"] in ("message", "function_call", "function_call_output", "custom_tool_call_output"):
            item.setdefault("status", "completed")
        out.append(item)
    return out


# ----------------------------------------------------------------------------------- request
@dataclass
class ToolNames:
    """The chat function names tools were sent under, and what each stands for."""

    kinds: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)  # flat -> (name, namespace, kind)

    def flat(self, name: str, namespace: str | None) -> str:
        return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name

    def original(self, flat: str) -> tuple[str, str | None, str]:
        return self.kinds.get(flat, (flat, None, "function"))


@dataclass
class Translated:
    body: dict[str, Any]
    dropped: list[str]
    names: ToolNames


def _text(parts: str | list[dict[str, Any]]) -> str:
    if isinstance(parts, str):
        return parts
    return "".join(str(p.get("text") or p.get("refusal") or "") for p in parts)


def _content(parts: list[dict[str, Any]], where: str) -> str | list[dict[str, Any]]:
    """A message's content parts as chat content: a string when it is only text."""
    out: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        kind = part["type"]
        if kind == "input_image":
            if not part.get("image_url"):
                raise BadRequest("Images are sent as image_url (a URL or a data URL); file ids are not supported.",
                                 param=f"{where}[{index}].image_url")
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail") in ("auto", "low", "high"):
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            if not (part.get("file_data") or part.get("file_id")):
                raise BadRequest("Files are sent as file_data (a data URL).", param=f"{where}[{index}].file_data")
            out.append({"type": "file", "file": {k: part[k] for k in ("file_data", "file_id", "filename")
                                                 if part.get(k)}})
        else:
            out.append({"type": "text", "text": str(part.get("text") if kind != "refusal" else part.get("refusal"))})
    if all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out)
    return out


def to_messages(items: list[dict[str, Any]], names: ToolNames, *, instructions: str | None = None,
                stored: int = 0) -> list[dict[str, Any]]:
    """Input items (the first `stored` of them a stored conversation's, then the request's) as chat
    messages."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})

    def assistant() -> dict[str, Any]:
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            return last
        messages.append({"role": "assistant", "content": None})
        return messages[-1]

    for index, item in enumerate(items):
        kind = item["type"]
        where = f"input[{index - stored}].content"
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            content = _content(item["content"], where) if isinstance(item["content"], list) else item["content"]
            if role == "assistant":
                target = assistant()
                if target.get("tool_calls"):  # text after a tool call starts a new turn
                    messages.append({"role": "assistant", "content": None})
                    target = messages[-1]
                previous = target.get("content")
                target["content"] = (previous or "") + _text(content)
            else:
                messages.append({"role": role, "content": content})
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item["arguments"] if kind == "function_call" else json.dumps({"input": item["input"]})
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": names.flat(item["name"], item.get("namespace")), "arguments": arguments}}
            assistant().setdefault("tool_calls", []).append(call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item["output"]
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": output if isinstance(output, str) else _text(output)})
        # reasoning items: kept in the conversation, not readable by a translated upstream
    return messages


def tools_of(tools: list[Any], names: ToolNames, dropped: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(tool: FunctionTool | CustomTool, namespace: str | None) -> None:
        flat = names.flat(tool.name, namespace)
        names.kinds[flat] = (tool.name, namespace, tool.type)
        description = tool.description
        if namespace and description is None:
            description = f"{tool.name} ({namespace})"
        if isinstance(tool, FunctionTool):
            function: dict[str, Any] = {"name": flat, "parameters": tool.parameters or {"type": "object",
                                                                                        "properties": {}}}
            if tool.strict is not None:
                function["strict"] = tool.strict
        else:  # a free-form tool: its input is one string
            function = {"name": flat, "parameters": {
                "type": "object", "properties": {"input": {"type": "string", "description": "The tool's input."}},
                "required": ["input"]}}
        if description:
            function["description"] = description
        out.append({"type": "function", "function": function})

    for tool in tools:
        if isinstance(tool, NamespaceTool):
            for member in tool.tools:
                add(member, tool.name)
        elif isinstance(tool, FunctionTool | CustomTool):
            add(tool, None)
        else:
            dropped.append(f"tools.{tool.type}")
    for entry in out:
        if len(entry["function"]["name"]) > 64:
            raise BadRequest(f"The tool name '{entry['function']['name']}' is longer than 64 characters.",
                             param="tools")
    return out


def _tool_choice(choice: Any, names: ToolNames, dropped: list[str]) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    kind = choice.get("type")
    if kind in ("function", "custom") and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": names.flat(choice["name"], choice.get("namespace"))}}
    if kind == "allowed_tools" and choice.get("mode") in ("auto", "required"):
        return choice["mode"]
    dropped.append("tool_choice")
    return None


def _response_format(fmt: TextFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.schema_ is None or fmt.name is None:
        raise BadRequest("A json_schema format needs a name and a schema.", param="text.format")
    schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    if fmt.description:
        schema["description"] = fmt.description
    return {"type": "json_schema", "json_schema": schema}


def to_chat(request: ResponsesRequest, sent: dict[str, Any], history: list[dict[str, Any]],
            items: list[dict[str, Any]]) -> Translated:
    """The chat completion body for a request whose input `items` continue `history` (the stored
    conversation's items)."""
    names = ToolNames()
    dropped: list[str] = []
    tools = tools_of(request.tools or [], names, dropped)
    body: dict[str, Any] = {"model": request.model, "messages": to_messages(
        [*history, *items], names, instructions=request.instructions, stored=len(history))}
    if not body["messages"]:
        raise BadRequest("The input has no message to answer.", param="input")
    if tools:
        body["tools"] = tools
        choice = _tool_choice(request.tool_choice, names, dropped)
        if choice is not None:
            body["tool_choice"] = choice
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    for name in ("temperature", "top_p", "user", "service_tier"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.reasoning is not None and request.reasoning.effort is not None:
        body["reasoning_effort"] = request.reasoning.effort
    fmt = request.text.format if request.text is not None else None
    if fmt is not None and fmt.type != "text":
        body["response_format"] = _response_format(fmt)
    body["stream"] = request.stream
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    dropped += [key for key, value in sent.items() if key not in GATEWAY_FIELDS and value is not None]
    return Translated(body, dropped, names)


# ----------------------------------------------------------------------------------- response
def usage(chat_usage: Any) -> dict[str, Any] | None:
    """A chat usage record (with unigate's cost) as the Responses usage."""
    if not isinstance(chat_usage, dict):
        return None
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    prompt_details = chat_usage.get("prompt_tokens_details") or {}
    completion_details = chat_usage.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens") or chat_usage.get("cache_read_input_tokens") or 0
    written = chat_usage.get("cache_creation_input_tokens") or prompt_details.get("cache_write_tokens") or 0
    out: dict[str, Any] = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(cached), "cache_write_tokens": int(written)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": prompt + completion,
    }
    if "cost" in chat_usage:
        out["cost"] = chat_usage["cost"]
    return out


def _tool_call_item(call: dict[str, Any], names: ToolNames, response_id: str, status: str = "completed"
                    ) -> dict[str, Any]:
    function = call.get("function") or {}
    name, namespace, kind = names.original(str(function.get("name") or ""))
    arguments = str(function.get("arguments") or "")
    call_id = str(call.get("id") or new_id("call"))
    if kind == "custom":
        try:
            parsed = json.loads(arguments or "{}")
            text = parsed.get("input") if isinstance(parsed, dict) else None
        except ValueError:
            text = None
        item: dict[str, Any] = {"type": "custom_tool_call", "id": item_id("ctc", response_id), "call_id": call_id,
                                "name": name, "input": text if isinstance(text, str) else arguments,
                                "status": status}
    else:
        item = {"type": "function_call", "id": item_id("fc", response_id), "call_id": call_id, "name": name,
                "arguments": arguments, "status": status}
    if namespace:
        item["namespace"] = namespace
    return item


def _reasoning_text(source: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        if isinstance(source.get(key), str) and source[key]:
            return str(source[key])
    return ""


def summarized(request: ResponsesRequest) -> bool:
    """The request asked for reasoning summaries: a model's thinking is then relayed as the summary text; without,
    a reasoning item says only that it reasoned (as OpenAI's do)."""
    reasoning = request.reasoning
    return reasoning is not None and (reasoning.summary or reasoning.generate_summary) is not None


def reasoning_item(text: str, response_id: str, *, summary: bool, status: str = "completed") -> dict[str, Any]:
    return {"type": "reasoning", "id": item_id("rs", response_id),
            "summary": [{"type": "summary_text", "text": text}] if summary else [], "status": status}


def message_item(text: str, response_id: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id("msg", response_id), "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def status_of(finish_reason: Any) -> tuple[str, dict[str, Any] | None]:
    reason = INCOMPLETE.get(str(finish_reason))
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def output_of(completion: dict[str, Any], names: ToolNames, response_id: str, *, summary: bool = False
              ) -> tuple[list[dict[str, Any]], Any]:
    """A chat completion's first choice as output items, and its finish reason."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    item_status = "incomplete" if finish in INCOMPLETE else "completed"
    output: list[dict[str, Any]] = []
    thought = _reasoning_text(message)
    if thought:
        output.append(reasoning_item(thought, response_id, summary=summary))
    content = message.get("content")
    text = content if isinstance(content, str) else _text(content) if isinstance(content, list) else ""
    if text or not message.get("tool_calls"):
        output.append(message_item(text, response_id, item_status))
    output += [_tool_call_item(call, names, response_id) for call in message.get("tool_calls") or []
               if isinstance(call, dict)]
    return output, finish


def response_object(request: ResponsesRequest, *, response_id: str, model: str, created_at: int,
                    status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
                    incomplete: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                    ) -> dict[str, Any]:
    """A Response object echoing the request's settings, as OpenAI's does."""
    fmt: dict[str, Any] = {"type": "text"}
    if request.text is not None and request.text.format is not None:
        fmt = request.text.format.model_dump(by_alias=True, exclude_none=True)
    reasoning = request.reasoning.model_dump(exclude_none=True) if request.reasoning is not None else {}
    tools = [t.model_dump(by_alias=True, exclude_none=True) for t in request.tools or []]
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "background": False, "error": error, "incomplete_details": incomplete,
        "instructions": request.instructions, "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None, "model": model, "output": output,
        "parallel_tool_calls": request.parallel_tool_calls if request.parallel_tool_calls is not None else True,
        "previous_response_id": request.previous_response_id,
        "prompt_cache_key": request.prompt_cache_key,
        "reasoning": {"effort": reasoning.get("effort"),
                      "summary": reasoning.get("summary") or reasoning.get("generate_summary")},
        "safety_identifier": None, "service_tier": request.service_tier or "default", "store": request.stored,
        "temperature": request.temperature if request.temperature is not None else 1.0,
        "text": {"format": fmt, "verbosity": (request.text.verbosity if request.text else None) or "medium"},
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "tools": tools, "top_logprobs": 0, "top_p": request.top_p if request.top_p is not None else 1.0,
        "truncation": request.truncation or "disabled", "usage": usage, "user": request.user,
        "metadata": request.metadata or {},
    }


def output_text(output: list[dict[str, Any]]) -> str:
    return "".join(part.get("text", "") for item in output if item.get("type") == "message"
                   for part in item.get("content", []))


# ----------------------------------------------------------------------------------- stream
class EventStream:
    """A chat stream's chunks as the Responses event grammar: `response.created` and `.in_progress`, then
    for each output item `output_item.added`, its parts' and deltas' events, `output_item.done`, and
    exactly one terminal event (`response.completed`, `.incomplete` or `.failed`). Sequence numbers
    increase by one from 0."""

    def __init__(self, request: ResponsesRequest, names: ToolNames, *, response_id: str, model: str) -> None:
        self.request = request
        self.names = names
        self.summary = summarized(request)
        self.response_id = response_id
        self.model = model
        self.created_at = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.finish: Any = None
        self.usage: dict[str, Any] | None = None
        self.response: dict[str, Any] | None = None  # the final Response, once a terminal event was made
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._text: list[str] = []
        self._call_index: int | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self.request, response_id=self.response_id, model=self.model,
                               created_at=self.created_at, status=status, output=list(self.output), **extra)

    def start(self) -> list[dict[str, Any]]:
        response = self._snapshot("in_progress")
        return [self._event("response.created", response=response),
                self._event("response.in_progress", response=response)]

    def _index(self) -> int:
        return len(self.output) - 1

    def _add(self, item: dict[str, Any]) -> dict[str, Any]:
        self.output.append(item)
        self._open = item
        self._text = []
        return self._event("response.output_item.added", output_index=self._index(), item=dict(item))

    def _close(self, status: str = "completed") -> list[dict[str, Any]]:
        item = self._open
        if item is None:
            return []
        self._open, index, text = None, self._index(), "".join(self._text)
        events: list[dict[str, Any]] = []
        if item["type"] == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            item["content"] = [part]
            events += [self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                   content_index=0, text=text, logprobs=[]),
                       self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                   content_index=0, part=part)]
        elif item["type"] == "reasoning":
            if self.summary:  # without, the item says only that the model reasoned
                part = {"type": "summary_text", "text": text}
                item["summary"] = [part]
                events += [self._event("response.reasoning_summary_text.done", item_id=item["id"],
                                       output_index=index, summary_index=0, text=text),
                           self._event("response.reasoning_summary_part.done", item_id=item["id"],
                                       output_index=index, summary_index=0, part=part)]
        elif item["type"] == "function_call":
            item["arguments"] = text
            events.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                      output_index=index, name=item["name"], arguments=text))
        else:  # a custom tool call: its input is known once its JSON arguments are whole
            finished = _tool_call_item({"id": item["call_id"], "function": {
                "name": self.names.flat(item["name"], item.get("namespace")), "arguments": text}}, self.names,
                self.response_id)
            item["input"] = finished["input"]
            events += [self._event("response.custom_tool_call_input.delta", item_id=item["id"], output_index=index,
                                   delta=item["input"]),
                       self._event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index,
                                   input=item["input"])]
        item["status"] = status
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The events one chat chunk makes."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = usage(chunk["usage"])
        events: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            thought = _reasoning_text(delta)
            if thought:
                if self._open is None or self._open["type"] != "reasoning":
                    events += self._close()
                    item = reasoning_item("", self.response_id, summary=False, status="in_progress")
                    events.append(self._add(item))
                    if self.summary:
                        events.append(self._event("response.reasoning_summary_part.added", item_id=item["id"],
                                                  output_index=self._index(), summary_index=0,
                                                  part={"type": "summary_text", "text": ""}))
                self._text.append(thought)
                if self.summary:
                    events.append(self._event("response.reasoning_summary_text.delta", item_id=self._open_id(),
                                              output_index=self._index(), summary_index=0, delta=thought))
            content = delta.get("content")
            if isinstance(content, str) and content:
                if self._open is None or self._open["type"] != "message":
                    events += self._close()
                    item = message_item("", self.response_id, "in_progress")
                    item["content"] = []
                    events.append(self._add(item))
                    events.append(self._event("response.content_part.added", item_id=item["id"],
                                              output_index=self._index(), content_index=0,
                                              part={"type": "output_text", "text": "", "annotations": [],
                                                    "logprobs": []}))
                self._text.append(content)
                events.append(self._event("response.output_text.delta", item_id=self._open_id(),
                                          output_index=self._index(), content_index=0, delta=content, logprobs=[]))
            for call in delta.get("tool_calls") or []:
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return events

    def _open_id(self) -> str:
        return str(self._open["id"]) if self._open is not None else ""

    def _tool_delta(self, call: Any) -> list[dict[str, Any]]:
        if not isinstance(call, dict):
            return []
        events: list[dict[str, Any]] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        if index != self._call_index or self._open is None or self._open["type"] not in (
                "function_call", "custom_tool_call"):
            events += self._close()
            self._call_index = index
            item = _tool_call_item({"id": call.get("id"), "function": {"name": function.get("name"),
                                                                        "arguments": ""}},
                                   self.names, self.response_id, status="in_progress")
            if item["type"] == "custom_tool_call":
                item["input"] = ""
            events.append(self._add(item))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._text.append(arguments)
            if self._open is not None and self._open["type"] == "function_call":
                events.append(self._event("response.function_call_arguments.delta", item_id=self._open_id(),
                                          output_index=self._index(), delta=arguments))
        return events

    def finished(self, final_usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The end of a stream that ended well: the open item closed, then response.completed or
        response.incomplete."""
        status, incomplete = status_of(self.finish)
        events = self._close("incomplete" if incomplete else "completed")
        if not self.output:  # nothing at all was produced: still one (empty) message, as OpenAI answers
            self.output.append(message_item("", self.response_id))
        self.response = self._snapshot(status, usage=final_usage or self.usage, incomplete=incomplete)
        return [*events, self._event(f"response.{status}", response=self.response)]

    def failed(self, message: str, code: str = "server_error", final_usage: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
        """The end of a stream the upstream broke: what was produced, then response.failed."""
        events = self._close("incomplete")
        self.response = self._snapshot("failed", usage=final_usage or self.usage,
                                       error={"code": code, "message": message})
        return [*events, self._event("response.failed", response=self.response)]


def sse(event: dict[str, Any]) -> bytes:
    return (f"event: {event['type']}\ndata: ".encode()
            + json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n")
