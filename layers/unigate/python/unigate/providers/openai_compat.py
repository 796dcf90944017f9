"""The OpenAI-compatible family: openai, mistral-ai, together-ai, groq, fireworks-ai, deepinfra,
perplexity-ai and any operator-defined self-hosted server (vLLM, Ollama, TGI). Azure variants
subclass this with their URL and header conventions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.httpclient import get_client
from unigate.providers.base import (
    UpstreamCall,
    UpstreamFailure,
    parse_json,
    raise_for_status,
    sse_data,
    transport_failure,
)


class OpenAICompatible:
    def url(self, call: UpstreamCall) -> str:
        return f"{call.base_url()}/chat/completions"

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        key = call.credentials.get("api_key")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def payload(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        body = {**call.body, "model": call.endpoint.upstream, "stream": stream}
        if stream:
            body.pop("stream_options", None)
            if "stream_options" in call.provider.params:
                # Ask for the usage chunk: it is what billing settles on.
                body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        return body

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        import httpx

        try:
            response = await get_client().post(
                self.url(call), json=self.payload(call, stream=False), headers=self.headers(call), timeout=call.timeout
            )
        except httpx.HTTPError as exc:
            raise transport_failure(exc) from None
        await raise_for_status(response)
        try:
            body = response.json()
        except ValueError:
            raise UpstreamFailure(None, "The upstream sent a malformed response.", kind="protocol") from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamFailure(None, "The upstream response has no choices.", kind="protocol")
        return body

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        import httpx

        client = get_client()
        request = client.build_request(
            "POST", self.url(call), json=self.payload(call, stream=True), headers=self.headers(call),
            timeout=call.timeout,
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_failure(exc) from None
        try:
            await raise_for_status(response)
            finished = False
            async for _, data in sse_data(response):
                if data.strip() == "[DONE]":
                    finished = True
                    break
                parsed = parse_json(data)
                if isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed:
                    raise UpstreamFailure(None, f"Upstream error mid-stream: {parsed['error']}", kind="protocol")
                yield parsed
            if not finished:
                raise UpstreamFailure(None, "The upstream stream ended before [DONE].", kind="protocol")
        except httpx.HTTPError as exc:
            raise transport_failure(exc) from None
        finally:
            await response.aclose()
