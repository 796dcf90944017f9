"""The provider and endpoint catalog: the built-in data/catalog.json, merged with the operator's file.

An operator adds a self-hosted vLLM, Ollama or TGI server, or overrides a price or base URL, with a
JSON file of the same shape named by UNIGATE_CATALOG_PATH. Entries there replace built-in entries of
the same name whole; an entry set to null removes it. Operator configuration may use any URL (a
self-hosted server on 127.0.0.1 included); URLs never come from requests.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unigate.domain.errors import NotFound

Family = Literal["openai", "anthropic", "bedrock", "gemini", "azure-openai", "azure-ai", "echo", "custom"]


class ProviderSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    family: Family
    base_url: str | None = None
    # Name of the provider's key under the secrets prefix (None: no key, e.g. Bedrock uses IAM).
    secret: str | None = None
    # Environment variable the local server seeds the secret from.
    env: str | None = None
    api_version: str | None = None
    # The OpenAI request parameters this provider accepts; others are dropped (see drop_params).
    params: frozenset[str] = frozenset()
    # The client dialects this provider serves natively ("messages", "responses", "completions"): those
    # requests are passed through as sent instead of translated through the chat form.
    native: frozenset[str] = frozenset()


class EndpointSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    upstream: str = Field(description="the provider's own model id (or Azure deployment name)")
    input: Decimal = Field(ge=0, description="USD per 1M input tokens")
    output: Decimal = Field(ge=0, description="USD per 1M output tokens")
    context: int = Field(gt=0)
    max_output: int = Field(gt=0)
    type: Literal["chat", "embedding"] = "chat"
    as_of: str = ""
    # Embedding models: the native vector size, which other sizes `dimensions` may ask for (any size up
    # to the native one, or only the listed ones), and whether images are accepted (priced per image).
    dimensions: int | None = Field(default=None, gt=0)
    any_dimensions: bool = False
    dimension_choices: tuple[int, ...] = ()
    image_input: bool = False
    image: Decimal = Field(default=Decimal(0), ge=0, description="USD per input image")

    @property
    def model(self) -> str:
        return self.name.split("@", 1)[0]

    @property
    def provider(self) -> str:
        return self.name.split("@", 1)[1]

    def cost_micros(self, input_tokens: int, output_tokens: int, images: int = 0) -> int:
        """Exact cost in micro-credits, rounded up: USD per 1M tokens is micro-credits per token."""
        return math.ceil(self.input * max(input_tokens, 0) + self.output * max(output_tokens, 0)
                         + self.image * 1_000_000 * max(images, 0))

    def accepts_dimensions(self, size: int) -> bool:
        if size == self.dimensions or size in self.dimension_choices:
            return True
        return self.any_dimensions and self.dimensions is not None and 1 <= size <= self.dimensions


class Catalog:
    def __init__(self, providers: dict[str, ProviderSpec], endpoints: dict[str, EndpointSpec]) -> None:
        self.providers = providers
        self.endpoints = endpoints

    def endpoint(self, model: str, provider: str) -> EndpointSpec:
        if provider not in self.providers:
            raise NotFound(f"Unknown provider: {provider}", param="model")
        found = self.endpoints.get(f"{model}@{provider}")
        if found is None:
            raise NotFound(f"Unknown endpoint: {model}@{provider}", param="model")
        return found

    def provider(self, name: str) -> ProviderSpec:
        return self.providers[name]

    def endpoints_of(self, model: str) -> list[EndpointSpec]:
        return [e for e in self.endpoints.values() if e.model == model]


def _read(text: str, origin: str) -> dict[str, dict[str, object]]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{origin}: not valid JSON ({exc})") from None
    return {"providers": doc.get("providers") or {}, "endpoints": doc.get("endpoints") or {}}


def build(*docs: dict[str, dict[str, object]]) -> Catalog:
    merged: dict[str, dict[str, object]] = {"providers": {}, "endpoints": {}}
    for doc in docs:
        for section in ("providers", "endpoints"):
            for name, entry in doc[section].items():
                if entry is None:
                    merged[section].pop(name, None)
                else:
                    merged[section][name] = entry
    try:
        providers = {n: ProviderSpec.model_validate({**e, "name": n}) for n, e in merged["providers"].items()}  # type: ignore[dict-item]
        endpoints = {n: EndpointSpec.model_validate({**e, "name": n}) for n, e in merged["endpoints"].items()}  # type: ignore[dict-item]
    except ValidationError as exc:
        raise ValueError(f"invalid catalog: {exc}") from None
    for name in endpoints:
        if "@" not in name or name.split("@", 1)[1] not in providers:
            raise ValueError(f"invalid catalog: endpoint {name!r} names no known provider")
    return Catalog(providers, endpoints)


@lru_cache(maxsize=1)
def get_catalog() -> Catalog:
    """The catalog, parsed once per process on first use (never at import time)."""
    from unigate.infra.config import get_settings

    builtin = resources.files("unigate.catalog").joinpath("data/catalog.json").read_text()
    docs = [_read(builtin, "built-in catalog")]
    override = get_settings().catalog_path
    if override:
        docs.append(_read(Path(override).read_text(), override))
    return build(*docs)
