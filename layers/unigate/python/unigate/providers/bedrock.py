"""Amazon Bedrock's Converse and ConverseStream APIs through boto3, with the function's IAM role (no
secret). boto3 is blocking: calls run in a worker thread, and stream events cross into the event loop
through a queue. The SDK's own retries are off (the routing layer owns retries).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from unigate.domain.errors import BadRequest
from unigate.providers.base import Embedded, UpstreamCall, UpstreamFailure
from unigate.providers.extras import merged, without_generation_keys
from unigate.providers.messages import chosen_tool, merge_turn, stop_sequences
from unigate.providers.openai_format import chunk, completion_id, tokens_sum, usage, vector

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
          "model_context_window_exceeded": "length"}
STATUS = {"ThrottlingException": 429, "ServiceQuotaExceededException": 429, "ValidationException": 400,
          "AccessDeniedException": 403, "ResourceNotFoundException": 404, "ModelTimeoutException": 408,
          "ServiceUnavailableException": 503, "ModelNotReadyException": 503, "InternalServerException": 500,
          "ModelErrorException": 502, "ModelStreamErrorException": 502}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


@lru_cache(maxsize=1)
def runtime_client() -> Any:
    from botocore.config import Config

    from unigate.infra import aws
    from unigate.infra.config import get_settings

    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5,
                    read_timeout=get_settings().upstream_timeout_seconds)
    return aws.new_client("bedrock-runtime", config)


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


def _usage(raw: Any) -> dict[str, Any] | None:
    if not raw or not isinstance(raw, dict):
        return None
    return usage(tokens_sum(raw.get("inputTokens")), tokens_sum(raw.get("outputTokens")))


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
    found = _usage(response.get("usage"))
    if found:
        out["usage"] = found
    return out


def failure(exc: Exception) -> UpstreamFailure:
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
    )

    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return UpstreamFailure(None, "Bedrock did not answer in time.", kind="timeout")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        code = code[:1].upper() + code[1:]  # in-stream exceptions arrive lower-camel (throttlingException)
        status = STATUS.get(code) or int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502)
        return UpstreamFailure(status, f"Bedrock {code}: {error.get('Message', '')}")
    if isinstance(exc, ConnectionError):
        return UpstreamFailure(None, "Could not reach Bedrock.", kind="connect")
    return UpstreamFailure(None, f"Bedrock call failed ({type(exc).__name__}).", kind="connect")


_DONE = object()
# Cohere's embed models take up to 96 texts per call; Titan's take one input per call, sent in parallel.
COHERE_BATCH = 96
PARALLEL_INVOCATIONS = 8
COHERE_INPUT_TYPES = {"query": "search_query", "document": "search_document", "text": "search_document"}


def _embedding_requests(call: UpstreamCall) -> list[dict[str, Any]]:
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


def _invoke(model: str, request: dict[str, Any]) -> tuple[list[list[float]], int | None]:
    response = runtime_client().invoke_model(modelId=model, body=json.dumps(request),
                                             contentType="application/json", accept="application/json")
    try:
        payload = json.loads(response["body"].read())
    except ValueError:
        raise UpstreamFailure(None, "Bedrock sent a malformed embeddings response.", kind="protocol") from None
    counted = (response.get("ResponseMetadata") or {}).get("HTTPHeaders", {}).get("x-amzn-bedrock-input-token-count")
    tokens = payload.get("inputTextTokenCount")
    if tokens is None and counted is not None and str(counted).isdigit():
        tokens = int(counted)
    if "embeddings" in payload:
        return [vector(v) for v in payload["embeddings"]], tokens
    return [vector(payload.get("embedding"))], tokens


class Bedrock:
    def embedding_body(self, call: UpstreamCall) -> list[dict[str, Any]]:
        return _embedding_requests(call)

    def request_body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return to_converse(call)

    async def embed(self, call: UpstreamCall) -> Embedded:
        gate = asyncio.Semaphore(PARALLEL_INVOCATIONS)

        async def invoke(request: dict[str, Any]) -> tuple[list[list[float]], int | None]:
            async with gate:
                try:
                    return await asyncio.to_thread(_invoke, call.endpoint.upstream, request)
                except UpstreamFailure:
                    raise
                except Exception as exc:
                    raise failure(exc) from None

        results = await asyncio.gather(*(invoke(r) for r in _embedding_requests(call)))
        vectors = [v for found, _ in results for v in found]
        if len(vectors) != len(call.body["input"]):
            raise UpstreamFailure(None, "Bedrock returned the wrong number of embeddings.", kind="protocol")
        counts = [tokens for _, tokens in results]
        known = all(c is not None for c in counts)
        return Embedded(vectors, sum(c for c in counts if c is not None) if known else None)

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        request = to_converse(call)
        try:
            # The call's deadline, not only boto3's per-read timeout.
            response = await asyncio.wait_for(asyncio.to_thread(runtime_client().converse, **request), call.timeout)
        except Exception as exc:
            raise failure(exc) from None
        return from_converse(response, call.endpoint.upstream)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        request = to_converse(call)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def pump() -> None:
            try:
                events = runtime_client().converse_stream(**request)["stream"]
                for event in events:
                    if cancelled.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except Exception as exc:  # handed to the consumer, which maps it
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = loop.run_in_executor(None, pump)
        chunk_id, model = completion_id(), call.endpoint.upstream
        tool_index: dict[int, int] = {}
        stopped = False
        deadline = loop.time() + call.timeout
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), max(deadline - loop.time(), 0))
                except TimeoutError:
                    raise UpstreamFailure(None, "Bedrock did not finish by the call's deadline.",
                                          kind="timeout") from None
                if event is _DONE:
                    break
                if isinstance(event, Exception):
                    raise failure(event)
                if "messageStart" in event:
                    yield chunk(chunk_id, model, {"role": "assistant", "content": ""})
                elif "contentBlockStart" in event:
                    start = event["contentBlockStart"]
                    tool = (start.get("start") or {}).get("toolUse")
                    if tool:
                        position = tool_index.setdefault(start.get("contentBlockIndex", 0), len(tool_index))
                        yield chunk(chunk_id, model, {"tool_calls": [{"index": position, "id": tool.get("toolUseId"),
                                    "type": "function", "function": {"name": tool.get("name"), "arguments": ""}}]})
                elif "contentBlockDelta" in event:
                    block = event["contentBlockDelta"]
                    delta = block.get("delta") or {}
                    if "text" in delta:
                        yield chunk(chunk_id, model, {"content": delta["text"]})
                    elif "toolUse" in delta:
                        position = tool_index.get(block.get("contentBlockIndex", 0), 0)
                        yield chunk(chunk_id, model, {"tool_calls": [{"index": position, "function": {
                            "arguments": delta["toolUse"].get("input", "")}}]})
                elif "messageStop" in event:
                    stopped = True
                    reason = event["messageStop"].get("stopReason") or ""
                    yield chunk(chunk_id, model, {}, finish_reason=FINISH.get(reason, "stop"))
                elif "metadata" in event:
                    found = _usage(event["metadata"].get("usage"))
                    if found:
                        yield chunk(chunk_id, model, usage=found)
            if not stopped:
                raise UpstreamFailure(None, "The Bedrock stream ended before messageStop.", kind="protocol")
        finally:
            cancelled.set()
            await asyncio.wait([worker], timeout=0)
