"""Azure OpenAI's URLs: chat per deployment with the api-version, the Responses API per resource (the dated route
when the configured api-version has it, Azure's v1 route otherwise), the key in `api-key`."""

from __future__ import annotations

import pytest

from unigate.catalog.entries import get_catalog
from unigate.providers.azure.adapter import AzureOpenAI
from unigate.providers.base import UpstreamCall

BASE = "https://team.openai.azure.com"


def _call(api_version: str | None, *, in_secret: bool = False) -> UpstreamCall:
    catalog = get_catalog()
    endpoint = next(e for e in catalog.endpoints.values() if e.provider == "azure-openai")
    provider = catalog.providers["azure-openai"].model_copy(
        update={"base_url": BASE, "api_version": None if in_secret else api_version})
    credentials = {"api_key": "az-key-0123456789", **({"api_version": api_version} if in_secret else {})}
    return UpstreamCall(endpoint=endpoint, provider=provider, body={}, credentials=credentials)


@pytest.mark.parametrize("in_secret", [False, True])
@pytest.mark.parametrize(("version", "url"), [
    ("2024-10-21", f"{BASE}/openai/v1/responses"),
    ("2025-01-01-preview", f"{BASE}/openai/v1/responses"),
    ("2025-03-01-preview", f"{BASE}/openai/responses?api-version=2025-03-01-preview"),
    ("2025-04-01-preview", f"{BASE}/openai/responses?api-version=2025-04-01-preview"),
])
def test_the_responses_url_follows_the_api_version_chat_uses(version: str, url: str, in_secret: bool) -> None:
    call = _call(version, in_secret=in_secret)
    adapter = AzureOpenAI()
    assert adapter.responses_url(call) == url
    deployment = f"{BASE}/openai/deployments/{call.endpoint.upstream}"
    assert adapter.url(call) == f"{deployment}/chat/completions?api-version={version}"
    assert adapter.headers(call) == {"api-key": "az-key-0123456789"}


def test_without_any_api_version_the_v1_route_is_used() -> None:
    call = _call(None)
    assert AzureOpenAI().responses_url(call) == f"{BASE}/openai/v1/responses"
