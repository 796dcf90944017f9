"""Provider adapters. Each family translates OpenAI-shaped chat requests to its provider's wire format
and back; adding a provider is one module implementing `Adapter` plus catalog entries.
"""

from __future__ import annotations

from importlib import import_module

from unigate.providers.base import Adapter

# family -> "module:attribute"; imported on first use so a function loads only what it calls.
_ADAPTERS = {
    "openai": "unigate.providers.openai_compat:OpenAICompatible",
    "azure-openai": "unigate.providers.azure:AzureOpenAI",
    "azure-ai": "unigate.providers.azure:AzureAIInference",
    "anthropic": "unigate.providers.anthropic:Anthropic",
    "gemini": "unigate.providers.gemini:Gemini",
    "bedrock": "unigate.providers.bedrock:Bedrock",
    "echo": "unigate.providers.echo:Echo",
    "custom": "unigate.providers.custom:CustomEndpoint",
}
_instances: dict[str, Adapter] = {}


def adapter_for(family: str) -> Adapter:
    if family not in _instances:
        module, _, attribute = _ADAPTERS[family].partition(":")
        _instances[family] = getattr(import_module(module), attribute)()
    return _instances[family]
