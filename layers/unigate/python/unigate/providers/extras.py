"""Pass-through extras (`extra-parameters: pass-through`) merged into a translated request: they add
fields, and never replace what unigate translated, nor set the output cap or the number of choices that
the hold priced."""

from __future__ import annotations

from typing import Any

# The output caps and choice counts of every wire format unigate speaks (and common self-hosted servers):
# the hold prices exactly one of each, set by unigate.
GENERATION_KEYS = frozenset({
    "max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens", "maxTokens",
    "max_new_tokens", "num_predict", "n", "candidateCount", "candidate_count", "best_of", "num_return_sequences",
})
# Where those keys live in each format's own request (Gemini's generationConfig, Bedrock's inferenceConfig,
# Ollama's options, TGI's parameters).
CONFIG_KEYS = frozenset({"generationConfig", "generation_config", "inferenceConfig", "options", "parameters"})


def without_generation_keys(extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if key in GENERATION_KEYS:
            continue
        if key in CONFIG_KEYS and isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if k not in GENERATION_KEYS}
        else:
            out[key] = value
    return out


def merged(translated: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`translated` with the extras' fields added where it has none, objects merged key by key."""
    if not extra:
        return translated
    out = dict(translated)
    for key, value in without_generation_keys(extra).items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merged(out[key], value)
    return out
