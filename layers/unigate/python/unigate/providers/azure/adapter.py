"""Azure: Azure OpenAI (one URL per deployment, `api-version`, `api-key` header) and the Azure AI model
inference API (one endpoint for many models, routed by `model`). Both speak OpenAI's shapes.

The resource URL is the catalog's base_url or, to keep it out of the catalog, the secret's
"base_url" field.
"""

from __future__ import annotations

from typing import Any

from unigate.providers.base import UpstreamCall
from unigate.providers.openai.adapter import OpenAICompatible


class _AzureKey(OpenAICompatible):
    """Both Azure APIs take the key in an `api-key` header."""

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        return {"api-key": str(call.credentials.get("api_key", ""))}


def _version(call: UpstreamCall, default: str) -> str:
    return str(call.credentials.get("api_version") or call.provider.api_version or default)


# The first api-version with the Responses API; the dated route takes it, or a later one.
RESPONSES_SINCE = "2025-03-01"


class AzureOpenAI(_AzureKey):
    def url(self, call: UpstreamCall, path: str = "chat/completions") -> str:
        deployment = f"{call.base_url()}/openai/deployments/{call.endpoint.upstream}"
        return f"{deployment}/{path}?api-version={_version(call, '2024-10-21')}"

    def embeddings_url(self, call: UpstreamCall) -> str:
        return self.url(call, "embeddings")

    def completions_url(self, call: UpstreamCall) -> str:
        return self.url(call, "completions")

    def responses_url(self, call: UpstreamCall) -> str:
        """The Responses API is per resource, not per deployment (the deployment is the body's `model`). With
        the api-version chat uses, when it has the Responses API, the dated route; otherwise (the GA chat
        versions, 2024-10-21, predate it) Azure's v1 route, which takes no api-version."""
        version = _version(call, "")
        if version[:10] >= RESPONSES_SINCE:
            return f"{call.base_url()}/openai/responses?api-version={version}"
        return f"{call.base_url()}/openai/v1/responses"

    # The deployment in the URL names the model.
    def payload(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        body = super().payload(call, stream=stream)
        body.pop("model", None)
        return body

    def embeddings_payload(self, call: UpstreamCall) -> dict[str, Any]:
        body = super().embeddings_payload(call)
        body.pop("model", None)
        return body


class AzureAIInference(_AzureKey):
    def url(self, call: UpstreamCall, path: str = "chat/completions") -> str:
        return f"{call.base_url()}/{path}?api-version={_version(call, '2024-05-01-preview')}"

    def embeddings_url(self, call: UpstreamCall) -> str:
        return self.url(call, "images/embeddings" if call.body.get("images") else "embeddings")

    def embeddings_payload(self, call: UpstreamCall) -> dict[str, Any]:
        payload = super().embeddings_payload(call)
        if call.body.get("input_type"):
            payload["input_type"] = call.body["input_type"]
        return payload
