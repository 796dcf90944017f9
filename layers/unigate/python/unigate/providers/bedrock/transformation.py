"""Amazon Bedrock's Converse request and response shapes, InvokeModel embedding bodies in each model
family's own format, to and from OpenAI's shapes, and InvokeModel's Anthropic Messages body for Claude (the
Messages surface's pass-through). Pure: no boto3, no I/O.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from unigate.domain.errors import BadRequest
from unigate.domain.usage import from_bedrock as from_bedrock_usage
from unigate.providers.base import UpstreamCall
from unigate.providers.extras import merged, without_generation_keys
from unigate.providers.messages import chosen_tool, merge_turn, stop_sequences
from unigate.providers.openai_format import completion_id

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
          "model_context_window_exceeded": "length"}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _content(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            mime, _, data = url[5:].partition(";base64,") if url.startswith("data:") else ("", "", "")
            if mime in IMAGE_FORMATS:
                try:
                    image = base64.b64decode(data, validate=True)
                except ValueError:
                    raise BadRequest("An image_url data URL is not valid base64.", param="messages") from None
                blocks.append({"image": {"format": IMAGE_FORMATS[mime], "source": {"bytes": image}}})
    return blocks


def to_converse(call: UpstreamCall) -> dict[str, Any]:
    body = call.body
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []


    for message in body["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            system.extend(b for b in _content(message.get("content")) if "text" in b)
        elif role == "user":
            merge_turn(messages, "user", _content(message.get("content")))
        elif role == "assistant":
            blocks = _content(message.get("content"))
            for tool_call in message.get("tool_calls") or []:
                function = tool_call.get("function") or {}
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                blocks.append({"toolUse": {"toolUseId": tool_call.get("id", ""), "name": function.get("name", ""),
                                           "input": arguments}})
            merge_turn(messages, "assistant", blocks)
        elif role in ("tool", "function"):
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            result = {"toolUseId": message.get("tool_call_id", ""), "content": [{"text": text}]}
            merge_turn(messages, "user", [{"toolResult": result}])

    inference: dict[str, Any] = {"maxTokens": call.max_tokens}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            inference[theirs] = body[ours]
    if stop_sequences(body):
        inference["stopSequences"] = stop_sequences(body)
    request: dict[str, Any] = {"modelId": call.endpoint.upstream, "messages": messages, "inferenceConfig": inference}
    if system:
        request["system"] = system
    if body.get("tools") and body.get("tool_choice") != "none":
        tool_config: dict[str, Any] = {"tools": [
            {"toolSpec": {"name": t["function"]["name"], "description": t["function"].get("description") or
                          t["function"]["name"],
                          "inputSchema": {"json": t["function"].get("parameters") or {"type": "object"}}}}
            for t in body["tools"] if t.get("type", "function") == "function"]}
        choice = body.get("tool_choice")
        if choice == "required":
            tool_config["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict):
            tool_config["toolChoice"] = {"tool": {"name": chosen_tool(choice)}}
        elif choice == "auto":
            tool_config["toolChoice"] = {"auto": {}}
        request["toolConfig"] = tool_config
    if call.extra:
        # Converse's own pass-through for what the model takes beyond its common parameters.
        request["additionalModelRequestFields"] = without_generation_keys(call.extra)
    return request


def usage_of(raw: Any) -> dict[str, Any] | None:
    """OpenAI's usage; Converse reports cache reads and writes beside inputTokens."""
    if not raw or not isinstance(raw, dict):
        return None
    return from_bedrock_usage(raw).to_chat()


def from_converse(response: dict[str, Any], model: str) -> dict[str, Any]:
    text, calls = [], []
    for block in ((response.get("output") or {}).get("message") or {}).get("content") or []:
        if "text" in block:
            text.append(block["text"])
        elif "toolUse" in block:
            tool = block["toolUse"]
            calls.append({"id": tool.get("toolUseId"), "type": "function",
                          "function": {"name": tool.get("name"), "arguments": json.dumps(tool.get("input", {}))}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    out: dict[str, Any] = {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": FINISH.get(response.get("stopReason") or "", "stop")}],
    }
    found = usage_of(response.get("usage"))
    if found:
        out["usage"] = found
    return out
# Cohere's embed models take up to 96 texts per call; Titan's take one input per call, sent in parallel.
COHERE_BATCH = 96
COHERE_INPUT_TYPES = {"query": "search_query", "document": "search_document", "text": "search_document"}


def embedding_requests(call: UpstreamCall) -> list[dict[str, Any]]:
    """InvokeModel bodies for an embeddings call, in the model family's own format."""
    model, body = call.endpoint.upstream, call.body
    size = body.get("dimensions")
    if model.startswith("cohere."):
        kind = COHERE_INPUT_TYPES.get(str(body.get("input_type")), "search_document")
        texts = body["input"]
        return [merged({"texts": texts[i:i + COHERE_BATCH], "input_type": kind}, call.extra)
                for i in range(0, len(texts), COHERE_BATCH)]
    if body.get("images"):
        requests = []
        for item in body["input"]:
            request: dict[str, Any] = {"inputImage": item["image"].partition(";base64,")[2]}
            if item.get("text"):
                request["inputText"] = item["text"]
            if size is not None:
                request["embeddingConfig"] = {"outputEmbeddingLength": size}
            requests.append(merged(request, call.extra))
        return requests
    if "image" in model:  # Titan multimodal, text only
        return [merged({"inputText": text, **({"embeddingConfig": {"outputEmbeddingLength": size}} if size else {})},
                       call.extra) for text in body["input"]]
    return [merged({"inputText": text, **({"dimensions": size} if size else {}), "normalize": True}, call.extra)
            for text in body["input"]]


# ------------------------------------------------------------------ InvokeModel with Anthropic's Messages body
# Claude on Bedrock takes Anthropic's body, without `model` (the model id is in the URL) and `stream` (the
# operation says it), with Bedrock's anthropic_version and the betas as a list in the body.
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
# The invocation metrics Bedrock adds to a stream's message_stop, in Anthropic's usage names.
_METRICS = {"inputTokenCount": "input_tokens", "outputTokenCount": "output_tokens",
            "cacheReadInputTokenCount": "cache_read_input_tokens",
            "cacheWriteInputTokenCount": "cache_creation_input_tokens"}
# The same counts in InvokeModel's response headers.
_HEADERS = {"x-amzn-bedrock-input-token-count": "input_tokens", "x-amzn-bedrock-output-token-count": "output_tokens",
            "x-amzn-bedrock-cache-read-input-token-count": "cache_read_input_tokens",
            "x-amzn-bedrock-cache-write-input-token-count": "cache_creation_input_tokens"}


def to_invoke_messages(body: dict[str, Any], forwarded: dict[str, str]) -> dict[str, Any]:
    out = {key: value for key, value in body.items() if key not in ("model", "stream")}
    out["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    betas = [beta.strip() for beta in forwarded.get("anthropic-beta", "").split(",") if beta.strip()]
    if betas:
        out["anthropic_beta"] = betas
    return out


def invocation_usage(payload: dict[str, Any]) -> dict[str, Any]:
    """The usage in a stream event's `amazon-bedrock-invocationMetrics` (Bedrock's final message_stop)."""
    metrics = payload.get("amazon-bedrock-invocationMetrics")
    if not isinstance(metrics, dict):
        return {}
    return {ours: metrics[theirs] for theirs, ours in _METRICS.items() if theirs in metrics}


def header_usage(headers: dict[str, Any]) -> dict[str, Any]:
    """The usage InvokeModel's response headers report, for an answer whose body has none."""
    return {ours: int(headers[theirs]) for theirs, ours in _HEADERS.items() if str(headers.get(theirs, "")).isdigit()}
