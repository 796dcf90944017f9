"""Provider adapters. Each family translates OpenAI-shaped chat requests to its provider's wire format
and back; adding a provider is one folder (`<family>/transformation.py` for the pure request and response
shapes, `<family>/adapter.py` for the `Adapter` over the shared transport) plus catalog entries.
"""

from __future__ import annotations

from importlib import import_module

from unigate.providers.base import Adapter

# family -> "module:attribute"; imported on first use so a function loads only what it calls.
_ADAPTERS = {
    "openai": "unigate.providers.openai.adapter:OpenAICompatible",
    "azure-openai": "unigate.providers.azure.adapter:AzureOpenAI",
    "azure-ai": "unigate.providers.azure.adapter:AzureAIInference",
    "anthropic": "unigate.providers.anthropic.adapter:Anthropic",
    "vertex-anthropic": "unigate.providers.vertex_anthropic.adapter:VertexAnthropic",
    "gemini": "unigate.providers.gemini.adapter:Gemini",
    "bedrock": "unigate.providers.bedrock.adapter:Bedrock",
    "echo": "unigate.providers.echo.adapter:Echo",
    "custom": "unigate.providers.custom.adapter:CustomEndpoint",
}
_instances: dict[str, Adapter] = {}


def adapter_for(family: str) -> Adapter:
    if family not in _instances:
        module, _, attribute = _ADAPTERS[family].partition(":")
        _instances[family] = getattr(import_module(module), attribute)()
    return _instances[family]
