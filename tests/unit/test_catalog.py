import json
from decimal import Decimal
from importlib import resources

import pytest

from unigate.catalog.entries import build
from unigate.domain.errors import NotFound


def _builtin() -> dict:
    doc = json.loads(resources.files("unigate.catalog").joinpath("data/catalog.json").read_text())
    return {"providers": doc["providers"], "endpoints": doc["endpoints"]}


def test_the_built_in_catalog_is_broad_and_priced() -> None:
    catalog = build(_builtin())
    assert len(catalog.endpoints) >= 30
    assert len({e.provider for e in catalog.endpoints.values()}) >= 8
    hosts = {e.provider for e in catalog.endpoints_of("llama-3.1-70b-chat")}
    assert {"together-ai", "groq", "fireworks-ai", "deepinfra", "aws-bedrock"} <= hosts
    for endpoint in catalog.endpoints.values():
        assert endpoint.as_of, endpoint.name
        assert endpoint.input > 0 or endpoint.provider == "echo", endpoint.name
        assert endpoint.max_output <= endpoint.context, endpoint.name
    families = {p.family for p in catalog.providers.values()}
    assert families == {"openai", "anthropic", "bedrock", "gemini", "azure-openai", "azure-ai", "echo"}


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
