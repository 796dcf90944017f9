"""Generates unigate's built-in catalog (unigate/catalog/data/catalog.json) from LiteLLM's price and
context map: every chat and embedding model of every provider an adapter family serves, with its
prices per token class, limits, capabilities and deprecation date.

Deterministic: the same source version always gives the same bytes (the drift test relies on it).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from unigate_tools.catalog.names import normalise
from unigate_tools.catalog.providers import PROVIDERS, REASONING, SCHEMA, TOOLS, Provider
from unigate_tools.catalog.source import ROOT, Source

DATA = ROOT / "layers" / "unigate" / "python" / "unigate" / "catalog" / "data"
CATALOG = DATA / "catalog.json"
NOTICE = DATA / "LICENSE-litellm.txt"

# LiteLLM's per-token prices -> unigate's per-1M-token classes.
CLASSES = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    "reasoning": "output_cost_per_reasoning_token",
}
_TIER = re.compile(r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|"
                   r"cache_creation_input_token_cost|cache_creation_input_token_cost_above_1hr)_above_(\d+)k_tokens$")
_TIER_CLASS = {"input_cost_per_token": "input", "output_cost_per_token": "output",
               "cache_read_input_token_cost": "cache_read", "cache_creation_input_token_cost": "cache_write",
               "cache_creation_input_token_cost_above_1hr": "cache_write_1h"}
CAPABILITIES = {
    "supports_function_calling": "tools", "supports_parallel_function_calling": "parallel_tools",
    "supports_vision": "vision", "supports_response_schema": "json_schema", "supports_reasoning": "reasoning",
    "supports_prompt_caching": "prompt_caching", "supports_pdf_input": "pdf", "supports_audio_input": "audio_input",
    "supports_audio_output": "audio_output", "supports_web_search": "web_search",
    "supports_computer_use": "computer_use",
}
_BEDROCK_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# Newer Bedrock models take on-demand requests only through an inference profile: the global one first.
_PROFILE_RANK = {"global.": 0, "": 1, "us.": 2}
_DATED = re.compile(r"(\d{4}-\d{2}-\d{2}|20\d{6}|-\d{4}$|-\d{3}$|preview)")

# Embedding sizes the source leaves out, from the providers' model cards (native size; `any`: any smaller
# size on request; or the only other sizes offered), keyed by the shared name.
EMBEDDING_SIZES: dict[str, tuple[int, bool, tuple[int, ...]]] = {
    "text-embedding-3-small": (1536, True, ()), "text-embedding-3-large": (3072, True, ()),
    "text-embedding-ada-002": (1536, False, ()), "text-embedding-ada-002-v2": (1536, False, ()),
    "ada": (1536, False, ()), "titan-embed-text-v2": (1024, False, (256, 512)),
    "titan-embed-image-v1": (1024, False, (256, 384)), "mistral-embed": (1024, False, ()),
    "codestral-embed": (1536, True, ()), "cohere-embed-english-v3": (1024, False, ()),
    "cohere-embed-multilingual-v3": (1024, False, ()), "cohere-embed-english-light-v3": (384, False, ()),
    "cohere-embed-multilingual-light-v3": (384, False, ()), "bge-m3": (1024, False, ()),
    "bge-en-icl": (4096, False, ()), "bge-multilingual-gemma2": (3584, False, ()), "gte-base": (768, False, ()),
    "gte-large": (1024, False, ()), "nomic-embed-text-v1.5": (768, True, ()), "nomic-embed-text-v1": (768, False, ()),
    "e5-mistral-7b-instruct": (4096, False, ()), "qwen-3-embedding-8b": (4096, True, ()),
    "qwen-3-embedding-0.6b": (1024, True, ()), "uae-large-v1": (1024, False, ()),
}

ECHO: dict[str, Any] = {
    "providers": {
        "echo": {"family": "echo", "params": ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop",
                                              "n", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
                                              "top_logprobs", "seed", "user", "tools", "tool_choice",
                                              "parallel_tool_calls", "response_format", "stream", "stream_options"]},
    },
    "endpoints": {
        "echo@echo": {"upstream": "echo", "input": "1", "output": "2", "cache_read": "0.5", "cache_write": "1.25",
                      "cache_write_1h": "2", "context": 1000000, "max_output": 4096, "as_of": "2024-11-01"},
        "fail@echo": {"upstream": "fail", "input": "1", "output": "2", "context": 1000000, "max_output": 4096,
                      "as_of": "2024-11-01"},
        "echo-embed@echo": {"upstream": "echo-embed", "input": "0.02", "output": "0", "context": 1000000,
                            "max_output": 1, "type": "embedding", "dimensions": 256, "any_dimensions": True,
                            "image_input": True, "image": "0.0001", "as_of": "2024-11-01"},
    },
}


@dataclass
class Report:
    version: str
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    folded: int = 0
    disagreements: list[str] = field(default_factory=list)
    compared: int = 0
    second_version: str = ""


def per_million(value: Any) -> str | None:
    """USD per token (a JSON float) as exact USD per 1M tokens, without float noise."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    amount = (Decimal(repr(float(value))) * 1_000_000).quantize(Decimal("1e-9")).normalize()
    return "0" if amount == 0 else f"{amount:f}"


def _strip_prefix(key: str, provider: Provider) -> str:
    prefixes = {*provider.litellm, *(p.split("-")[0] for p in provider.litellm), "vertex_ai", "cohere"}
    for prefix in sorted(prefixes, key=len, reverse=True):
        if key.startswith(prefix + "/"):
            return key[len(prefix) + 1:]
    return key


def _upstream(key: str, entry: dict[str, Any], provider: Provider, report: Report) -> tuple[str, int] | None:
    """The provider's model id for one source entry and a rank among ids of the same model (lower wins),
    or None when unigate cannot call it as listed."""
    model = _strip_prefix(key, provider)
    if model.startswith("ft:") or "*" in model:
        report.skipped["fine-tune or wildcard"] += 1
        return None
    if provider.name == "aws-bedrock":
        parts = model.split("/")
        if len(parts) > 1:
            if any("commitment" in p for p in parts) or not (_BEDROCK_REGION.match(parts[0]) or parts[0] == "*"):
                report.skipped["bedrock provisioned or other API"] += 1
                return None
            model = parts[-1]  # a region's price key: the Converse id is the same
            rank = 10
        else:
            rank = 0
        profile = next((p for p in ("global.", "us.", "eu.", "apac.", "jp.", "au.", "us-gov.", "ca.", "in.")
                        if model.startswith(p)), "")
        return model, rank + _PROFILE_RANK.get(profile, 5)
    skip = ("regional or routed duplicate" if "/" in model and provider.family in ("azure-openai", "azure-ai", "gemini")
            else "size-class price rule" if provider.name == "together-ai" and model.startswith("together-ai-")
            else None)
    if skip:
        report.skipped[skip] += 1
        return None
    return model, 0


def _family_embeds(provider: Provider, model: str) -> bool:
    if not provider.embeddings:
        return False
    if provider.family == "bedrock":
        return model.split(".", 1)[-1].startswith(("titan-embed", "embed-")) or ".titan-embed" in model or \
            "cohere.embed" in model
    return provider.family in ("openai", "azure-openai", "azure-ai", "gemini")


def _refusal(model: str, entry: dict[str, Any], provider: Provider, prices: dict[str, str | None],
             free: bool) -> str | None:
    """Why unigate cannot list a source entry as an endpoint, or None."""
    kind = entry.get("mode")
    endpoints = entry.get("supported_endpoints")
    context = entry.get("max_input_tokens") or entry.get("max_tokens")
    reasons = (
        (kind == "chat" and isinstance(endpoints, list) and "/v1/chat/completions" not in endpoints,
         "no chat completions API (responses only)"),
        (kind == "embedding" and not _family_embeds(provider, model), "embeddings the family cannot call"),
        (not free and (prices["input"] is None or (kind == "chat" and prices["output"] is None)),
         "no per-token price"),
        # A hosted model listed at $0 is a price the source does not know, not a free model.
        (not free and prices["input"] == "0" and prices["output"] in (None, "0"), "zero price at a hosted provider"),
        (not isinstance(context, int) or context <= 0, "no context length"),
    )
    return next((reason for refused, reason in reasons if refused), None)


def _endpoint(model: str, entry: dict[str, Any], provider: Provider, as_of: str,
              report: Report) -> dict[str, Any] | None:
    prices = {name: per_million(entry.get(key)) for name, key in CLASSES.items()}
    # A self-hosted server costs nothing per token.
    free = provider.self_hosted and prices["input"] in (None, "0")
    refusal = _refusal(model, entry, provider, prices, free)
    if refusal:
        report.skipped[refusal] += 1
        return None
    context = int(entry.get("max_input_tokens") or entry.get("max_tokens") or 0)
    out: dict[str, Any] = {"upstream": model}
    if free:
        out.update(input="0", output="0", free=True)
    else:
        out.update({name: value for name, value in prices.items() if value is not None})
        out.setdefault("output", "0")
        if out.get("reasoning") == out["output"]:
            del out["reasoning"]  # billed as output anyway
    tiers = _tiers(entry)
    if tiers and not free:
        out["tiers"] = tiers
    out["context"] = context
    out.update(_limits(model, entry, context))
    capabilities = sorted({name for flag, name in CAPABILITIES.items() if entry.get(flag) is True})
    if capabilities:
        out["capabilities"] = capabilities
    if provider.family == "bedrock" and ".anthropic.claude" in f".{model}":
        # Claude on Bedrock also takes Anthropic's own body (InvokeModel): the Messages surface passes it through.
        out["native"] = ["messages"]
    deprecated = entry.get("deprecation_date")
    if isinstance(deprecated, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", deprecated):
        out["deprecation_date"] = deprecated
    out["as_of"] = as_of
    return out


def _tiers(entry: dict[str, Any]) -> list[dict[str, Any]]:
    tiers: dict[int, dict[str, str]] = defaultdict(dict)
    for key, value in entry.items():
        match = _TIER.match(key)
        price = per_million(value)
        if match and price is not None:
            tiers[int(match.group(2)) * 1000][_TIER_CLASS[match.group(1)]] = price
    return [{"above": above, **dict(sorted(classes.items()))} for above, classes in sorted(tiers.items())]


def _limits(model: str, entry: dict[str, Any], context: int) -> dict[str, Any]:
    if entry.get("mode") != "embedding":
        max_output = entry.get("max_output_tokens") or entry.get("max_tokens") or min(context, 4096)
        return {"max_output": max(1, min(int(max_output), context))}
    out: dict[str, Any] = {"type": "embedding", "max_output": 1}
    if entry.get("supports_embedding_image_input") is True and per_million(entry.get("input_cost_per_image")):
        out["image_input"] = True
        out["image"] = f"{Decimal(repr(float(entry['input_cost_per_image']))).normalize():f}"
    size = entry.get("output_vector_size")
    if isinstance(size, int) and size > 0:
        out["dimensions"] = size
        if re.search(r"text-embedding-3|gemini-embedding|embed-v4", model):
            out["any_dimensions"] = True
    return out


def _sized(name: str, built: dict[str, Any]) -> bool:
    base = re.sub(r"-\d{4}$", "", name)  # mistral-embed-2312 -> mistral-embed
    known = EMBEDDING_SIZES.get(name) or EMBEDDING_SIZES.get(base)
    if known:
        size, any_size, choices = known
        built.pop("any_dimensions", None)
        built["dimensions"] = built.get("dimensions") or size
        if any_size:
            built["any_dimensions"] = True
        if choices:
            built["dimension_choices"] = list(choices)
    return bool(built.get("dimensions"))


def _provider_entry(provider: Provider, entries: list[dict[str, Any]]) -> dict[str, Any]:
    params = set(provider.params)
    flags = {flag for entry in entries for flag, value in entry.items() if value is True}
    if provider.family != "echo" and "supports_function_calling" in flags:
        params.update(TOOLS if "supports_parallel_function_calling" in flags else TOOLS[:2])
    if "supports_response_schema" in flags and provider.family not in ("anthropic", "vertex-anthropic", "bedrock"):
        params.update(SCHEMA)
    if "supports_reasoning" in flags and provider.family in ("openai", "azure-openai"):
        params.update(REASONING)
    out: dict[str, Any] = {"family": provider.family}
    if provider.base_url:
        out["base_url"] = provider.base_url
    if provider.secret:
        out.update(secret=provider.secret, env=provider.env)
    if provider.api_version:
        out["api_version"] = provider.api_version
    out["params"] = sorted(params)
    if provider.native:
        out["native"] = sorted(provider.native)
    return out


def _choice_rank(upstream: str, rank: int, name: str, entry: dict[str, Any]) -> tuple[Any, ...]:
    # An id that is the model's own alias beats dated snapshots; then the newest snapshot.
    deprecated = 1 if entry.get("deprecation_date") else 0
    alias = 0 if normalise(upstream) == upstream.rsplit("/", 1)[-1].lower() else 1
    return (rank, deprecated, alias, "~" if not _DATED.search(upstream) else "", upstream)


def generate(source: Source) -> tuple[dict[str, Any], Report]:
    raw: dict[str, Any] = json.loads(source.text)
    report = Report(source.version)
    providers: dict[str, Any] = {}
    endpoints: dict[str, Any] = {}
    by_litellm: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for key, entry in raw.items():
        if isinstance(entry, dict) and entry.get("mode") in ("chat", "embedding"):
            by_litellm[str(entry.get("litellm_provider"))].append((key, entry))
    for provider in PROVIDERS:
        candidates: dict[str, list[tuple[tuple[Any, ...], str, dict[str, Any]]]] = defaultdict(list)
        used: list[dict[str, Any]] = []
        for litellm in provider.litellm:
            for key, entry in by_litellm.get(litellm, []):
                found = _upstream(key, entry, provider, report)
                if found is None:
                    continue
                upstream, rank = found
                built = _endpoint(upstream, entry, provider, source.as_of, report)
                if built is None:
                    continue
                name = normalise(upstream, provider=provider.name, kind=str(entry.get("mode")))
                if not name or len(name) > 128:
                    report.skipped["no usable name"] += 1
                    continue
                if built.get("type") == "embedding" and not _sized(name, built):
                    report.skipped["embedding of unknown vector size"] += 1
                    continue
                candidates[name].append((_choice_rank(upstream, rank, name, entry), upstream, built))
                used.append(entry)
        for name, options in candidates.items():
            options.sort(key=lambda option: option[0])
            report.folded += len(options) - 1
            endpoints[f"{name}@{provider.name}"] = options[0][2]
        providers[provider.name] = _provider_entry(provider, used)
    providers.update(ECHO["providers"])
    endpoints.update(ECHO["endpoints"])
    real = [n for n in endpoints if not n.endswith("@echo")]
    doc = {
        "_comment": "Generated by `make catalog` from LiteLLM's model price and context map (MIT, see "
                    "LICENSE-litellm.txt); do not edit. Prices are USD per 1M tokens per token class. Operators "
                    "extend or override it with UNIGATE_CATALOG_PATH (docs/operations.md).",
        "source": {"package": "litellm", "version": source.version, "as_of": source.as_of,
                   "file": "litellm/model_prices_and_context_window_backup.json", "sha256": source.sha256,
                   "licence": "MIT", "notice": "LICENSE-litellm.txt"},
        "counts": {
            "endpoints": len(real),
            "chat": sum(1 for n in real if endpoints[n].get("type", "chat") == "chat"),
            "embedding": sum(1 for n in real if endpoints[n].get("type") == "embedding"),
            "providers": len({n.split("@", 1)[1] for n in real}),
            "models": len({n.split("@", 1)[0] for n in real}),
        },
        "providers": dict(sorted(providers.items())),
        "endpoints": dict(sorted(endpoints.items())),
    }
    return doc, report


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def notice(source: Source) -> str:
    return (f"unigate's built-in catalog (catalog.json) is generated from "
            f"litellm/model_prices_and_context_window_backup.json in litellm {source.version} (PyPI), "
            f"distributed under the following licence:\n\n{source.licence}")


def diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Endpoints added, removed, and repriced (any class's price changed) between two catalogs."""
    before, after = old.get("endpoints") or {}, new.get("endpoints") or {}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    repriced = []
    for name in sorted(set(before) & set(after)):
        changes = [f"{c} {before[name].get(c)} -> {after[name].get(c)}" for c in (*CLASSES, "tiers")
                   if before[name].get(c) != after[name].get(c)]
        if changes:
            repriced.append(f"{name}: " + ", ".join(changes))
    return added, removed, repriced


def write(doc: dict[str, Any], source: Source, *, catalog: Path = CATALOG) -> None:
    catalog.write_text(render(doc), encoding="utf-8")
    (catalog.parent / "LICENSE-litellm.txt").write_text(notice(source), encoding="utf-8")
