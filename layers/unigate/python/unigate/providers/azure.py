"""Azure: Azure OpenAI (one URL per deployment, `api-version`, `api-key` header) and the Azure AI model
inference API (one endpoint for many models, routed by `model`). Both speak OpenAI's shapes.

The resource URL is the catalog's base_url or, to keep it out of the catalog, the secret's
"base_url" field.
"""

from __future__ import annotations

from typing import Any

from unigate.providers.base import UpstreamCall
from unigate.providers.openai_compat import OpenAICompatible


class _AzureKey(OpenAICompatible):
    """Both Azure APIs take the key in an `api-key` header."""

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        return {"api-key": str(call.credentials.get("api_key", ""))}


class AzureOpenAI(_AzureKey):
    def url(self, call: UpstreamCall) -> str:
        version = call.credentials.get("api_version") or call.provider.api_version or "2024-10-21"
        return f"{call.base_url()}/openai/deployments/{call.endpoint.upstream}/chat/completions?api-version={version}"

    def payload(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        body = super().payload(call, stream=stream)
        body.pop("model", None)  # the deployment in the URL names the model
        return body


class AzureAIInference(_AzureKey):
    def url(self, call: UpstreamCall) -> str:
        version = call.credentials.get("api_version") or call.provider.api_version or "2024-05-01-preview"
        return f"{call.base_url()}/chat/completions?api-version={version}"
