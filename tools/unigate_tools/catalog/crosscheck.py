"""Cross-checks the generated prices against a second MIT source, pydantic's `genai-prices` (a pinned
wheel, downloaded like LiteLLM's and imported from the cache, never installed): every endpoint it
covers whose input or output price differs by more than 5% is listed in the generation report."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from unigate_tools.catalog.source import _pip, cache_dir

GENAI_PRICES_VERSION = "0.2.3"
THRESHOLD = Decimal("0.05")
# unigate provider -> genai-prices provider id
PROVIDERS = {
    "openai": "openai", "anthropic": "anthropic", "aws-bedrock": "aws", "azure-openai": "azure",
    "gemini": "google", "vertex-ai": "google", "groq": "groq", "cerebras": "cerebras", "deepseek": "deepseek",
    "fireworks-ai": "fireworks", "mistral-ai": "mistral", "together-ai": "together", "xai": "x-ai",
    "novita": "novita", "ovhcloud": "ovhcloud", "perplexity-ai": "perplexity", "moonshot": "moonshotai",
    "zai": "zai", "minimax": "minimax", "cohere": "cohere", "baseten": "baseten",
}


def _load() -> Any:
    folder = cache_dir() / f"genai-prices-{GENAI_PRICES_VERSION}"
    if not (folder / "genai_prices" / "data.py").exists():
        with tempfile.TemporaryDirectory() as scratch:
            done = subprocess.run([*_pip(), "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", scratch,
                                   f"genai-prices=={GENAI_PRICES_VERSION}"],
                                  capture_output=True, text=True, timeout=300, check=False)
            wheels = list(Path(scratch).glob("genai_prices-*.whl"))
            if done.returncode != 0 or not wheels:
                return None
            with zipfile.ZipFile(wheels[0]) as wheel:
                wheel.extractall(folder)
    sys.path.insert(0, str(folder))
    try:
        from genai_prices import data
    except ImportError:
        return None
    finally:
        sys.path.remove(str(folder))
    return data


def _price(value: Any) -> Decimal | None:
    value = getattr(value, "base", value)  # a tiered price: its base tier
    return value if isinstance(value, Decimal) else None


def _prices(info: Any) -> Any:
    prices = info.prices
    if isinstance(prices, list):  # prices over time: the latest
        prices = prices[-1].prices if prices else None
    return prices


def compare(doc: dict[str, Any], report: Any) -> None:
    data = _load()
    if data is None:
        return
    report.second_version = GENAI_PRICES_VERSION
    providers = {p.id: p for p in data.providers}
    for name, endpoint in doc["endpoints"].items():
        provider = providers.get(PROVIDERS.get(name.split("@", 1)[1], ""))
        if provider is None or endpoint.get("free"):
            continue
        upstream = endpoint["upstream"]
        for candidate in (upstream, upstream.rsplit("/", 1)[-1], upstream.split(".", 1)[-1]):
            info = provider.find_model(candidate)
            if info is not None:
                break
        else:
            continue
        prices = _prices(info)
        if prices is None:
            continue
        report.compared += 1
        for klass, attribute in (("input", "input_mtok"), ("output", "output_mtok")):
            theirs, ours = _price(getattr(prices, attribute, None)), endpoint.get(klass)
            if theirs is None or ours is None or (klass == "output" and endpoint.get("type") == "embedding"):
                continue
            mine = Decimal(ours)
            top = max(mine, theirs)
            if top and abs(mine - theirs) / top > THRESHOLD:
                report.disagreements.append(f"| {name} | {klass} | {mine} | {theirs.normalize():f} |")
