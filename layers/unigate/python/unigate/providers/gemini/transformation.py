"""Google's generateContent and streamGenerateContent (Gemini API and Vertex AI), to and from OpenAI's
chat shapes. The key travels in the x-goog-api-key header, never in the URL (URLs end up in logs).
reasoning_effort becomes generationConfig.thinkingConfig (unigate.providers.reasoning), and thought parts
come back as reasoning_content.
"""

from __future__ import annotations

import json
import time
from typing import Any

from unigate.domain.usage import from_gemini as from_gemini_usage
from unigate.providers.base import UpstreamCall, UpstreamFailure
from unigate.providers.extras import merged
from unigate.providers.messages import chosen_tool, merge_turn, stop_sequences, tool_arguments
from unigate.providers.openai_format import completion_id
from unigate.providers.reasoning import gemini_thinking

TASK_TYPES = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter"}


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                mime, _, data = url[5:].partition(";base64,")
                parts.append({"inlineData": {"mimeType": mime, "data": data}})
            else:
                parts.append({"fileData": {"mimeType": "image/*", "fileUri": url}})
    return parts


def to_gemini(call: UpstreamCall) -> dict[str, Any]:
    body = call.body
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}


    for message in body["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content")))
        elif role == "user":
            merge_turn(contents, "user", _parts(message.get("content")), field="parts")
        elif role == "assistant":
            parts = _parts(message.get("content"))
            for tool_call in message.get("tool_calls") or []:
                name = (tool_call.get("function") or {}).get("name", "")
                tool_names[tool_call.get("id", "")] = name
                parts.append({"functionCall": {"name": name, "args": tool_arguments(tool_call)}})
            merge_turn(contents, "model", parts, field="parts")
        elif role in ("tool", "function"):
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            try:
                response = json.loads(text)
            except ValueError:
                response = {"content": text}
            name = tool_names.get(message.get("tool_call_id", ""), message.get("name", ""))
            result = response if isinstance(response, dict) else {"content": response}
            merge_turn(contents, "user", [{"functionResponse": {"name": name, "response": result}}], field="parts")

    config: dict[str, Any] = {"maxOutputTokens": call.max_tokens}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("n", "candidateCount"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty"),
                         ("seed", "seed")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if stop_sequences(body):
        config["stopSequences"] = stop_sequences(body)
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    thinking = gemini_thinking(body, call.max_tokens)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    out: dict[str, Any] = {"contents": contents, "generationConfig": config}
    if system:
        out["systemInstruction"] = {"parts": system}
    if body.get("tools"):
        out["tools"] = [{"functionDeclarations": [
            {k: v for k, v in (("name", t["function"]["name"]), ("description", t["function"].get("description")),
                               ("parameters", t["function"].get("parameters"))) if v}
            for t in body["tools"] if t.get("type", "function") == "function"]}]
        choice = body.get("tool_choice")
        if choice is not None:
            if isinstance(choice, dict):
                mode = {"mode": "ANY", "allowedFunctionNames": [chosen_tool(choice)]}
            else:
                mode = {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}.get(str(choice), "AUTO")}
            out["toolConfig"] = {"functionCallingConfig": mode}
    return merged(out, call.extra)


def message_of(candidate: dict[str, Any], call_offset: int = 0) -> tuple[str, list[dict[str, Any]]]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "text" in part and not part.get("thought"):
            text.append(part["text"])
        elif "functionCall" in part:
            function = part["functionCall"]
            calls.append({"id": f"call_{call_offset + len(calls)}", "type": "function",
                          "function": {"name": function.get("name"),
                                       "arguments": json.dumps(function.get("args", {}))}})
    return "".join(text), calls


def thoughts_of(candidate: dict[str, Any]) -> str:
    """The thought summaries of a candidate (parts marked `thought`, sent when includeThoughts is on)."""
    return "".join(str(part.get("text") or "") for part in (candidate.get("content") or {}).get("parts") or []
                   if isinstance(part, dict) and part.get("thought"))


def finish_of(candidate: dict[str, Any], has_calls: bool) -> str | None:
    reason = candidate.get("finishReason")
    if not reason:
        return None
    return "tool_calls" if has_calls and reason == "STOP" else FINISH.get(reason, "stop")


def usage_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI's usage: promptTokenCount includes the cached content, and the thoughts (billed as
    reasoning) come beside candidatesTokenCount."""
    meta = body.get("usageMetadata")
    if not meta or not isinstance(meta, dict):
        return None
    return from_gemini_usage(meta).to_chat()


def from_gemini(body: dict[str, Any], model: str) -> dict[str, Any]:
    candidates = body.get("candidates") or []
    if not candidates:
        blocked = (body.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            candidates = [{"finishReason": "SAFETY", "content": {"parts": []}}]
        else:
            raise UpstreamFailure(None, "Gemini returned no candidates.", kind="protocol")
    choices = []
    for index, candidate in enumerate(candidates):
        text, calls = message_of(candidate)
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        thoughts = thoughts_of(candidate)
        if thoughts:
            message["reasoning_content"] = thoughts
        choices.append({"index": candidate.get("index", index), "message": message,
                        "finish_reason": finish_of(candidate, bool(calls)) or "stop", "logprobs": None})
    out = {"id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
           "choices": choices}
    found = usage_of(body)
    if found:
        out["usage"] = found
    return out
