"""Amazon Bedrock's Converse, ConverseStream and InvokeModel (embeddings, and Claude's Anthropic Messages
body with InvokeModelWithResponseStream for the Messages surface) through boto3, with the function's IAM
role (no secret). boto3 is blocking: calls run in a worker thread, and stream events
cross into the event loop through a queue. The SDK's own retries are off (the routing layer owns retries).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import aclosing
from functools import lru_cache
from typing import Any

from unigate.providers.anthropic.native import checked_message
from unigate.providers.base import Embedded, NativeEvent, UpstreamCall, UpstreamFailure
from unigate.providers.bedrock.transformation import (
    FINISH,
    embedding_requests,
    from_converse,
    header_usage,
    invocation_usage,
    to_converse,
    to_invoke_messages,
    usage_of,
)
from unigate.providers.openai_format import chunk, completion_id, vector

STATUS = {"ThrottlingException": 429, "ServiceQuotaExceededException": 429, "ValidationException": 400,
          "AccessDeniedException": 403, "ResourceNotFoundException": 404, "ModelTimeoutException": 408,
          "ServiceUnavailableException": 503, "ModelNotReadyException": 503, "InternalServerException": 500,
          "ModelErrorException": 502, "ModelStreamErrorException": 502}


@lru_cache(maxsize=1)
def runtime_client() -> Any:
    from botocore.config import Config

    from unigate.infra import aws
    from unigate.infra.config import get_settings

    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5,
                    read_timeout=get_settings().upstream_timeout_seconds)
    return aws.new_client("bedrock-runtime", config)


def failure(exc: Exception) -> UpstreamFailure:
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
    )

    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        # Only a connection never made provably kept the request from Bedrock.
        return UpstreamFailure(None, "Bedrock did not answer in time.", kind="timeout",
                               started=not isinstance(exc, ConnectTimeoutError))
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
PARALLEL_INVOCATIONS = 8


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
        return embedding_requests(call)

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

        results = await asyncio.gather(*(invoke(r) for r in embedding_requests(call)))
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
        chunk_id, model = completion_id(), call.endpoint.upstream
        tool_index: dict[int, int] = {}
        stopped = False
        async with aclosing(_streamed(lambda: runtime_client().converse_stream(**request)["stream"],
                                      call.timeout)) as events:
            async for event in events:
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
                    found = usage_of(event["metadata"].get("usage"))
                    if found:
                        yield chunk(chunk_id, model, usage=found)
        if not stopped:
            raise UpstreamFailure(None, "The Bedrock stream ended before messageStop.", kind="protocol")

    # The Messages surface's pass-through (unigate.providers.base.MessagesNative): InvokeModel and
    # InvokeModelWithResponseStream with Anthropic's body, for Claude.
    async def messages_complete(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                beta: bool = False) -> dict[str, Any]:
        request = json.dumps(to_invoke_messages(body, forwarded))

        def invoke() -> tuple[Any, dict[str, Any]]:
            response = runtime_client().invoke_model(modelId=body["model"], body=request,
                                                     contentType="application/json", accept="application/json")
            return response["body"].read(), (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}

        try:
            raw, headers = await asyncio.wait_for(asyncio.to_thread(invoke), call.timeout)
        except Exception as exc:
            raise failure(exc) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise UpstreamFailure(None, "Bedrock sent a malformed message.", kind="protocol") from None
        message = checked_message(answer, "Bedrock")
        if not isinstance(message.get("usage"), dict) and header_usage(headers):
            message["usage"] = header_usage(headers)
        return message

    async def messages_stream(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                              beta: bool = False) -> AsyncIterator[NativeEvent]:
        request = json.dumps(to_invoke_messages(body, forwarded))

        def events() -> Iterable[Any]:
            return runtime_client().invoke_model_with_response_stream(
                modelId=body["model"], body=request, contentType="application/json", accept="application/json")["body"]

        async with aclosing(_streamed(events, call.timeout)) as stream:
            async for event in stream:
                found = _native_event(event)
                if found is not None:
                    yield found

    async def messages_count_tokens(self, call: UpstreamCall, body: dict[str, Any], forwarded: dict[str, str], *,
                                    beta: bool = False) -> int | None:
        return None  # unigate's estimate answers


def _native_event(event: Any) -> NativeEvent | None:
    """One event of InvokeModelWithResponseStream (an Anthropic event, JSON in `chunk.bytes`) as the relay takes it."""
    raw = (event.get("chunk") or {}).get("bytes") if isinstance(event, dict) else None
    if raw is None:
        return None
    data = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise UpstreamFailure(None, "The Bedrock stream sent an event that is not an object.", kind="protocol")
    name = str(payload.get("type") or "")
    if name == "message_stop" and invocation_usage(payload):
        # Read by the relay for what message_start and message_delta left out; the client gets `data`.
        payload = {**payload, "usage": invocation_usage(payload)}
    return name, data, payload


async def _streamed(open_events: Callable[[], Iterable[Any]], timeout: float) -> AsyncGenerator[Any, None]:
    """The events of one of boto3's (blocking) event streams, read in a worker thread, as they arrive, within
    `timeout` for the whole stream; its failures mapped. Closing this stops the reader."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancelled = threading.Event()

    def pump() -> None:
        try:
            for event in open_events():
                if cancelled.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except Exception as exc:  # handed to the consumer, which maps it
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    worker = loop.run_in_executor(None, pump)
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise UpstreamFailure(None, "Bedrock did not finish by the call's deadline.", kind="timeout") from None
            if event is _DONE:
                return
            if isinstance(event, Exception):
                raise failure(event)
            yield event
    finally:
        cancelled.set()
        await asyncio.wait([worker], timeout=0)
