"""The OpenAI-compatible family: openai, mistral-ai, together-ai, groq, fireworks-ai, deepinfra,
perplexity-ai and any operator-defined self-hosted server (vLLM, Ollama, TGI). Azure variants
subclass this with their URL and header conventions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from unigate.providers.base import Embedded, UpstreamCall, UpstreamFailure
from unigate.providers.extras import merged
from unigate.providers.openai_format import openai_embeddings
from unigate.providers.upstream import open_stream, parse_json, post_json, sse_data


def _choices_ok(choices: Any) -> bool:
    """A list of choice objects whose message or delta, when present, is an object."""
    return isinstance(choices, list) and all(
        isinstance(c, dict) and isinstance(c.get("message", {}), dict) and isinstance(c.get("delta", {}), dict)
        for c in choices)


class OpenAICompatible:
    def url(self, call: UpstreamCall) -> str:
        return f"{call.base_url()}/chat/completions"

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        key = call.credentials.get("api_key")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def payload(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        body = merged({**call.body, "model": call.endpoint.upstream, "stream": stream}, call.extra)
        if stream:
            body.pop("stream_options", None)
            if "stream_options" in call.provider.params:
                # Ask for the usage chunk: it is what billing settles on.
                body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        return body

    def request_body(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        """The body this adapter sends for `call` (what the hold is computed from)."""
        return self.payload(call, stream=stream)

    def embedding_body(self, call: UpstreamCall) -> dict[str, Any]:
        return self.embeddings_payload(call)

    def embeddings_url(self, call: UpstreamCall) -> str:
        return f"{call.base_url()}/embeddings"

    def embeddings_payload(self, call: UpstreamCall) -> dict[str, Any]:
        # Floats always: unigate encodes base64 itself, so every provider answers the same way.
        payload = {"model": call.endpoint.upstream, "input": call.body["input"], "encoding_format": "float"}
        for name in ("dimensions", "user"):
            if call.body.get(name) is not None:
                payload[name] = call.body[name]
        return merged(payload, call.extra)

    async def embed(self, call: UpstreamCall) -> Embedded:
        body = await post_json(self.embeddings_url(call), self.embeddings_payload(call), self.headers(call),
                               call.timeout)
        return openai_embeddings(body, len(call.body["input"]))

    def request_options(self, call: UpstreamCall) -> dict[str, Any]:
        """Extra arguments of the upstream request (custom endpoints pin their TLS server name)."""
        return {}

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        body = await post_json(self.url(call), self.payload(call, stream=False), self.headers(call), call.timeout,
                               **self.request_options(call))
        if not isinstance(body, dict) or not _choices_ok(body.get("choices")):
            raise UpstreamFailure(None, "The upstream response has no choices.", kind="protocol")
        return body

    def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        return self._events(self.url(call), self.payload(call, stream=True), call)

    # The Responses API, for upstreams that serve it natively (unigate.providers.openai.responses).
    def responses_url(self, call: UpstreamCall) -> str:
        return f"{call.base_url()}/responses"

    # Legacy completions (/completions), for upstreams that serve them natively (catalog `native`): the
    # request is OpenAI's completions body, the answers are OpenAI's text_completion objects as they are.
    def completions_url(self, call: UpstreamCall) -> str:
        return f"{call.base_url()}/completions"

    def completions_payload(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        return self.payload(call, stream=stream)

    async def text_complete(self, call: UpstreamCall) -> dict[str, Any]:
        body = await post_json(self.completions_url(call), self.completions_payload(call, stream=False),
                               self.headers(call), call.timeout, **self.request_options(call))
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamFailure(None, "The upstream response has no choices.", kind="protocol")
        return body

    def text_stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        return self._events(self.completions_url(call), self.completions_payload(call, stream=True), call)

    async def _events(self, url: str, payload: dict[str, Any], call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        async with open_stream(url, payload, self.headers(call), call.timeout,
                               **self.request_options(call)) as response:
            finished = False
            async for _, data in sse_data(response):
                if data.strip() == "[DONE]":
                    finished = True
                    break
                parsed = parse_json(data)
                if isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed:
                    raise UpstreamFailure(None, f"Upstream error mid-stream: {parsed['error']}", kind="protocol")
                if not isinstance(parsed, dict) or not _choices_ok(parsed.get("choices") or []):
                    raise UpstreamFailure(None, "The upstream sent a chunk whose choices are not objects.",
                                          kind="protocol")
                yield parsed
            if not finished:
                raise UpstreamFailure(None, "The upstream stream ended before [DONE].", kind="protocol")
