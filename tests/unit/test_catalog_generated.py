"""The built-in catalog is exactly what `make catalog` generates from the pinned LiteLLM release.

The source is the pinned litellm wheel's price map, downloaded once with `pip download --no-deps` into
.tools/catalog-source/ (3.5 MB kept; CI caches the directory) and read from there afterwards."""

from __future__ import annotations

import pytest

from unigate_tools.catalog import docs, generate, source
from unigate_tools.catalog.names import normalise


@pytest.fixture(scope="module")
def pinned() -> source.Source:
    try:
        return source.load(source.LITELLM_VERSION)
    except source.SourceUnavailable as exc:
        pytest.skip(f"litellm {source.LITELLM_VERSION} is not cached and PyPI is unreachable: {exc}")


def test_the_committed_catalog_is_what_the_pinned_source_generates(pinned: source.Source) -> None:
    doc, _ = generate.generate(pinned)
    committed = generate.CATALOG.read_text(encoding="utf-8")
    assert committed == generate.render(doc), "catalog.json drifted from its source: run `make catalog`"
    assert generate.NOTICE.read_text(encoding="utf-8") == generate.notice(pinned)
    assert doc["source"]["version"] == source.LITELLM_VERSION


def test_the_documented_counts_are_the_generated_ones(pinned: source.Source) -> None:
    doc, _ = generate.generate(pinned)
    for path in docs.COUNTED:
        text = path.read_text(encoding="utf-8")
        assert docs.counts_text(doc) in text, f"{path.name}: run `make catalog`"


def test_the_diff_names_what_was_added_removed_and_repriced() -> None:
    old = {"endpoints": {"a@p": {"input": "1", "output": "2"}, "b@p": {"input": "1", "output": "2"}}}
    new = {"endpoints": {"a@p": {"input": "1", "output": "3"}, "c@p": {"input": "1", "output": "2"}}}
    assert generate.diff(old, new) == (["c@p"], ["b@p"], ["a@p: output 2 -> 3"])


def test_per_million_is_exact() -> None:
    assert generate.per_million(2.5e-06) == "2.5"
    assert generate.per_million(3.0000000000000004e-06) == "3"
    assert generate.per_million(1.25e-07) == "0.125"
    assert generate.per_million(None) is None


@pytest.mark.parametrize(("upstream", "provider", "name"), [
    ("meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", "together-ai", "llama-3.1-70b-chat"),
    ("accounts/fireworks/models/llama-v3p3-70b-instruct", "fireworks-ai", "llama-3.3-70b-chat"),
    ("meta.llama3-1-70b-instruct-v1:0", "aws-bedrock", "llama-3.1-70b-chat"),
    ("llama-3.3-70b", "cerebras", "llama-3.3-70b-chat"),
    ("claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4.5"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws-bedrock", "claude-sonnet-4.5"),
    ("claude-3-5-haiku-20241022", "anthropic", "claude-3.5-haiku"),
    ("gpt-4o-2024-08-06", "openai", "gpt-4o"),
    ("Qwen/Qwen3-235B-A22B-Instruct-2507", "together-ai", "qwen-3-235b-a22b-instruct-2507"),
    ("gemini-1.5-pro-002", "gemini", "gemini-1.5-pro"),
    ("amazon.titan-embed-text-v2:0", "aws-bedrock", "titan-embed-text-v2"),
    ("cohere.embed-english-v3", "aws-bedrock", "cohere-embed-english-v3"),
    ("deepseek.r1-v1:0", "aws-bedrock", "deepseek-r1"),
    ("open-mistral-nemo", "mistral-ai", "mistral-nemo"),
])
def test_names_are_shared_across_providers(upstream: str, provider: str, name: str) -> None:
    kind = "embedding" if "embed" in upstream else "chat"
    assert normalise(upstream, provider=provider, kind=kind) == name
