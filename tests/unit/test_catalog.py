import json
import re
from decimal import Decimal
from importlib import resources

import pytest

from unigate.catalog.entries import build
from unigate.domain.errors import NotFound


def _builtin() -> dict:
    doc = json.loads(resources.files("unigate.catalog").joinpath("data/catalog.json").read_text())
    return {"providers": doc["providers"], "endpoints": doc["endpoints"]}


def test_the_built_in_catalog_is_broad_current_and_priced() -> None:
    catalog = build(_builtin())
    real = [e for e in catalog.endpoints.values() if e.provider != "echo"]
    assert len(real) >= 1500
    assert len({e.provider for e in real}) >= 30
    for endpoint in real:
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", endpoint.as_of), endpoint.name
        assert endpoint.priced, endpoint.name
        assert endpoint.free or (endpoint.input or 0) + (endpoint.output or 0) > 0, endpoint.name
        assert endpoint.max_output <= endpoint.context, endpoint.name
    families = {p.family for p in catalog.providers.values()}
    assert families == {"openai", "anthropic", "vertex-anthropic", "bedrock", "gemini", "azure-openai", "azure-ai",
                        "echo"}
    # The current generations the pinned source lists.
    for name in ("gpt-5@openai", "gpt-5-mini@openai", "o3@openai", "o4-mini@openai", "claude-sonnet-4.5@anthropic",
                 "claude-opus-4.5@anthropic", "gemini-2.5-pro@gemini", "gemini-3-flash-preview@gemini",
                 "llama-4-scout-17b-16e-chat@together-ai", "deepseek-r1@deepseek", "qwen-3-32b@cerebras"):
        assert name in catalog.endpoints, name


def test_one_model_has_one_name_at_every_provider() -> None:
    catalog = build(_builtin())
    hosts = {e.provider for e in catalog.endpoints_of("llama-3.3-70b-chat")}
    assert {"together-ai", "fireworks-ai", "deepinfra", "aws-bedrock", "cerebras", "nebius"} <= hosts
    assert {"anthropic", "aws-bedrock"} <= {e.provider for e in catalog.endpoints_of("claude-sonnet-4.5")}
    assert {"openai", "azure-openai"} <= {e.provider for e in catalog.endpoints_of("gpt-5-mini")}
    # 2024 seed names still answer where the provider still offers the model.
    for seed in ("gpt-4o@openai", "gpt-4o-mini@openai", "llama-3.1-70b-chat@together-ai",
                 "llama-3.1-70b-chat@aws-bedrock", "mistral-large@mistral-ai", "mistral-nemo@mistral-ai",
                 "text-embedding-3-small@openai", "titan-embed-text-v2@aws-bedrock",
                 "cohere-embed-english-v3@aws-bedrock", "claude-3.5-haiku@aws-bedrock"):
        assert seed in catalog.endpoints, seed


def test_bedrock_ids_are_converse_model_ids() -> None:
    catalog = build(_builtin())
    for endpoint in catalog.endpoints.values():
        if endpoint.provider == "aws-bedrock":
            assert "/" not in endpoint.upstream, endpoint.name  # no region or commitment path
    # A model reached only through inference profiles is called through the global one.
    assert catalog.endpoint("claude-sonnet-4.5", "aws-bedrock").upstream.startswith("global.anthropic.")


def test_prices_per_class_and_tiers_come_through() -> None:
    catalog = build(_builtin())
    sonnet = catalog.endpoint("claude-sonnet-4.5", "anthropic")
    assert (sonnet.input, sonnet.cache_read, sonnet.cache_write, sonnet.cache_write_1h, sonnet.output) == (
        Decimal(3), Decimal("0.3"), Decimal("3.75"), Decimal(6), Decimal(15))
    pro = catalog.endpoint("gemini-2.5-pro", "gemini")
    assert (pro.tiers[0].above, pro.tiers[0].input) == (200_000, Decimal("2.5"))
    assert catalog.native(catalog.endpoint("gpt-5", "openai")) == ("responses",)
    assert catalog.native(sonnet) == ("messages",)


def test_costs_are_exact_micro_credits_rounded_up() -> None:
    endpoint = build(_builtin()).endpoint("gpt-4o", "openai")
    assert endpoint.input == Decimal("2.50")
    assert endpoint.cost_micros(1_000, 500) == 2_500 + 5_000
    assert endpoint.cost_micros(1, 0) == 3  # 2.5 rounds up
    assert endpoint.cost_micros(-5, -5) == 0


def test_an_operator_file_adds_overrides_and_removes() -> None:
    operator = {
        "providers": {"my-vllm": {"family": "openai", "base_url": "http://127.0.0.1:8000/v1", "params": ["stream"]}},
        "endpoints": {
            "llama-3.1-8b@my-vllm": {"upstream": "meta-llama/Llama-3.1-8B-Instruct", "input": "0", "output": "0.01",
                                     "context": 8192, "max_output": 2048},
            "gpt-4o@openai": {"upstream": "gpt-4o", "input": "1.00", "output": "2.00", "context": 128000,
                              "max_output": 16384},
            "gpt-3.5-turbo@openai": None,
        },
    }
    catalog = build(_builtin(), operator)
    assert catalog.endpoint("llama-3.1-8b", "my-vllm").upstream == "meta-llama/Llama-3.1-8B-Instruct"
    assert catalog.endpoint("gpt-4o", "openai").input == Decimal("1.00")
    with pytest.raises(NotFound):
        catalog.endpoint("gpt-3.5-turbo", "openai")


@pytest.mark.parametrize(
    "broken",
    [
        {"providers": {}, "endpoints": {"x@nowhere": {"upstream": "x", "input": "1", "output": "1", "context": 1,
                                                      "max_output": 1}}},
        {"providers": {"p": {"family": "smoke-signals"}}, "endpoints": {}},
        {"providers": {}, "endpoints": {"gpt-4o@openai": {"upstream": "x", "input": "-1", "output": "1",
                                                          "context": 1, "max_output": 1}}},
    ],
)
def test_invalid_operator_files_are_refused_with_a_reason(broken: dict) -> None:
    with pytest.raises(ValueError, match="invalid catalog"):
        build(_builtin(), broken)


def test_unknown_provider_and_endpoint_are_404() -> None:
    catalog = build(_builtin())
    with pytest.raises(NotFound, match="provider"):
        catalog.endpoint("gpt-4o", "nope")
    with pytest.raises(NotFound, match="endpoint"):
        catalog.endpoint("gpt-9", "openai")
