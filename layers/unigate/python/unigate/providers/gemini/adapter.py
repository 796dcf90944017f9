"""Gemini's generateContent, streamGenerateContent and batchEmbedContents over the shared transport; the
stream's candidates become chat chunks as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.base import Embedded, UpstreamCall, UpstreamFailure
from unigate.providers.extras import merged
from unigate.providers.gemini.transformation import (
    TASK_TYPES,
    finish_of,
    from_gemini,
    message_of,
    thoughts_of,
    to_gemini,
    usage_of,
)
from unigate.providers.openai_format import chunk, completion_id, vector
from unigate.providers.upstream import open_stream, parse_json, post_json, sse_data


class Gemini:
    def request_body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return to_gemini(call)

    def _url(self, call: UpstreamCall, method: str) -> str:
        return f"{call.base_url()}/models/{call.endpoint.upstream}:{method}"

    def _headers(self, call: UpstreamCall) -> dict[str, str]:
        return {"x-goog-api-key": str(call.credentials.get("api_key", ""))}

    def embedding_body(self, call: UpstreamCall) -> dict[str, Any]:
        task = TASK_TYPES.get(str(call.body.get("input_type")))
        requests = []
        for text in call.body["input"]:
            request: dict[str, Any] = {"model": f"models/{call.endpoint.upstream}",
                                       "content": {"parts": [{"text": text}]}}
            if call.body.get("dimensions") is not None:
                request["outputDimensionality"] = call.body["dimensions"]
            if task:
                request["taskType"] = task
            requests.append(merged(request, call.extra))
        return {"requests": requests}

    async def embed(self, call: UpstreamCall) -> Embedded:
        """batchEmbedContents: one request per input; Gemini reports no token counts."""
        payload = self.embedding_body(call)
        requests = payload["requests"]
        body = await post_json(self._url(call, "batchEmbedContents"), payload, self._headers(call), call.timeout)
        embeddings = body.get("embeddings") if isinstance(body, dict) else None
        if not isinstance(embeddings, list) or len(embeddings) != len(requests):
            raise UpstreamFailure(None, "Gemini returned the wrong number of embeddings.", kind="protocol")
        return Embedded([vector(e.get("values") if isinstance(e, dict) else None) for e in embeddings])

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        body = await post_json(self._url(call, "generateContent"), to_gemini(call), self._headers(call), call.timeout)
        return from_gemini(body, call.endpoint.upstream)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        url = self._url(call, "streamGenerateContent") + "?alt=sse"
        async with open_stream(url, to_gemini(call), self._headers(call), call.timeout) as response:
            chunk_id, model, started, finished, last_usage = completion_id(), call.endpoint.upstream, False, False, None
            calls_seen = 0
            async for _, data in sse_data(response):
                payload = parse_json(data)
                if not isinstance(payload, dict):
                    raise UpstreamFailure(None, "Gemini sent an event that is not an object.", kind="protocol")
                if "error" in payload:
                    raise UpstreamFailure(None, f"Gemini error mid-stream: {payload['error']}", kind="protocol")
                if not started:
                    started = True
                    yield chunk(chunk_id, model, {"role": "assistant", "content": ""})
                last_usage = usage_of(payload) or last_usage
                for index, candidate in enumerate(payload.get("candidates") or []):
                    text, calls = message_of(candidate, calls_seen)
                    delta: dict[str, Any] = {}
                    thoughts = thoughts_of(candidate)
                    if thoughts:
                        delta["reasoning_content"] = thoughts
                    if text:
                        delta["content"] = text
                    if calls:
                        delta["tool_calls"] = [{**c, "index": calls_seen + i} for i, c in enumerate(calls)]
                        calls_seen += len(calls)
                    finish = finish_of(candidate, calls_seen > 0)
                    if delta or finish:
                        yield chunk(chunk_id, model, delta, finish_reason=finish, index=candidate.get("index", index))
                    finished = finished or finish is not None
            if not finished:
                raise UpstreamFailure(None, "The Gemini stream ended without a finish reason.", kind="protocol")
            if last_usage:
                yield chunk(chunk_id, model, usage=last_usage)
