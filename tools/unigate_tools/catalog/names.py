"""Normalised model names shared across providers, in Unify's style (`llama-3.3-70b-chat`,
`claude-sonnet-4.5`, `gpt-5-mini`), from each provider's own model id.

The same model served by several providers gets one name, so it is one model with several endpoints
and the meta-providers choose among them. Dated snapshots fold into the undated name (the provider's
alias, or the newest snapshot when it has none); versions written with dashes or `p` become dotted.
"""

from __future__ import annotations

import re

# Prefixes that name the publisher rather than the model (Hugging Face organisations, Bedrock vendors).
_BEDROCK_VENDOR = re.compile(
    r"^(anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|openai|writer|moonshotai|moonshot|minimax|"
    r"nvidia|google|zai|xai|twelvelabs|stability|luma|kimi)\.")
_BEDROCK_PROFILE = re.compile(r"^(us-gov|us|eu|apac|global|jp|au|ca|in)\.")
_DATE_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"-20\d{6}$"),  # claude-sonnet-4-5-20250929
    re.compile(r"@20\d{6}$"),  # Vertex's claude-...@20241022
    re.compile(r"@default$"),  # Vertex's claude-...@default, the model's default version
)
_LLAMA = re.compile(r"^(?:meta-)?llama-?v?(\d+)(?:[.-](\d+))?(?=-|$)")


def strip_bedrock(model_id: str, kind: str = "chat") -> str:
    """Bedrock's model id without its inference profile, vendor and API version (`-v1:0`, `:0`); an
    embedding model's `-v2` is its own version (titan-embed-text-v2:0) and stays."""
    name = _BEDROCK_PROFILE.sub("", model_id)
    vendor = name.split(".", 1)[0]
    name = _BEDROCK_VENDOR.sub("", name)
    if vendor == "deepseek":
        name = "deepseek-" + name  # deepseek.r1-v1:0 -> deepseek-r1
    if kind == "chat":
        name = re.sub(r"-v\d+:\d+(:\d+k)?$", "", name)
        name = re.sub(r"-\d+:\d+$", "", name)  # openai.gpt-oss-120b-1:0
        name = re.sub(r"^(claude-[a-z]+-[\d-]+)-v\d+$", r"\1", name)  # anthropic.claude-opus-4-6-v1
    return re.sub(r":\d+$", "", name)


def _claude(name: str) -> str:
    # claude-3-5-haiku -> claude-3.5-haiku; claude-sonnet-4-5 -> claude-sonnet-4.5; claude-opus-4 stays.
    name = re.sub(r"^claude-(\d)-(\d)(?=-|$)", r"claude-\1.\2", name)
    return re.sub(r"^(claude-[a-z]+-\d+)-(\d)(?=-|$)", r"\1.\2", name)


def _llama(name: str) -> str:
    match = _LLAMA.match(name)
    if not match:
        return name
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    rest = name[match.end():]
    rest = re.sub(r"-(instruct|chat|turbo|versatile|instant|hf|fp8|fast)(?=-|$)", "", rest)
    # Llama 4's expert count, which some hosts leave out of the id.
    rest = re.sub(r"^-maverick-17b(?!-128e)", "-maverick-17b-128e", rest)
    rest = re.sub(r"^-scout-17b(?!-16e)", "-scout-17b-16e", rest)
    return f"llama-{version}{rest}-chat"


def normalise(model_id: str, *, provider: str = "", kind: str = "chat") -> str:
    """The shared name of one provider model id (already without LiteLLM's `provider/` prefix)."""
    name = model_id.strip()
    if provider == "aws-bedrock":
        name = strip_bedrock(name, kind)
    if provider == "cloudflare":
        name = name.removeprefix("@cf/").removeprefix("@hf/")
    name = name.rsplit("/", 1)[-1].lower()
    if provider == "fireworks-ai":
        name = re.sub(r"(\d)p(\d)", r"\1.\2", name)  # llama-v3p1-70b -> llama-v3.1-70b
    name = name.replace("_", "-")
    for suffix in _DATE_SUFFIXES:
        name = suffix.sub("", name)
    name = re.sub(r"-latest$", "", name)
    if provider in ("gemini", "vertex-ai"):
        name = re.sub(r"-00\d$", "", name)  # gemini-1.5-pro-002 -> gemini-1.5-pro
    if provider == "mistral-ai":
        name = name.removeprefix("open-")  # open-mistral-nemo -> mistral-nemo
    name = _families(name, kind)
    if name.startswith("embed-") and provider in ("aws-bedrock", "cohere"):
        name = "cohere-" + name
    if name.startswith("cohere-embed"):
        name = re.sub(r"-v(\d)\.0(?=-|$)", r"-v\1", name)
    name = re.sub(r"[^a-z0-9.\-]+", "-", name).strip("-.")
    return re.sub(r"-{2,}", "-", name)


def _families(name: str, kind: str) -> str:
    """The spelling of the families that hosts write in several ways."""
    if name.startswith("claude"):
        name = _claude(name)
    elif re.match(r"^(meta-)?llama-?v?\d", name):
        name = _llama(name) if kind == "chat" else name
    elif name.startswith("qwen") and not name.startswith("qwen-"):
        name = re.sub(r"^qwen(\d)", r"qwen-\1", name)  # qwen3-32b -> qwen-3-32b, qwen2.5 -> qwen-2.5
    elif re.match(r"^gemma\d", name):
        name = re.sub(r"^gemma(\d)", r"gemma-\1", name)
    if re.match(r"^qwen-\d", name):
        name = re.sub(r"-turbo$", "", name)
    return name
