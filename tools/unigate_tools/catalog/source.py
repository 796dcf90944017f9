"""LiteLLM's model price and context map, read from a pinned `litellm` wheel that is downloaded with
`pip download --no-deps` and never installed or shipped. Only the map and the licence are kept, in a
cache directory (.tools/catalog-source by default), so later runs and the drift test work offline."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# The pinned source: `make catalog LITELLM_VERSION=X` or `unigate catalog update --litellm-version X` moves it.
LITELLM_VERSION = "1.110.2"
# The day the pin was set: every generated endpoint's `as_of` (when its prices were taken). Another
# version read with --litellm-version is dated the day it is read.
LITELLM_PINNED_ON = "2026-12-02"
MAP = "litellm/model_prices_and_context_window_backup.json"
ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CACHE = ROOT / ".tools" / "catalog-source"


class SourceUnavailable(RuntimeError):
    """The wheel could not be downloaded (no network, no such version) and is not in the cache."""


@dataclass(frozen=True)
class Source:
    version: str
    text: str
    licence: str

    @property
    def as_of(self) -> str:
        if self.version == LITELLM_VERSION:
            return LITELLM_PINNED_ON
        return datetime.now(UTC).date().isoformat()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _pip() -> list[str]:
    """pip from the tools venv `make` creates, else the one beside this Python, else the one on PATH."""
    tools_pip = ROOT / ".tools" / "bin" / "pip"
    if tools_pip.exists():
        return [str(tools_pip)]
    if shutil.which("pip") is None:
        return [sys.executable, "-m", "pip"]
    return ["pip"]


def cache_dir() -> Path:
    return Path(os.environ.get("UNIGATE_CATALOG_CACHE") or DEFAULT_CACHE)


def load(version: str = LITELLM_VERSION, *, cache: Path | None = None) -> Source:
    """The map and licence of litellm==version, from the cache or downloaded into it."""
    folder = (cache or cache_dir()) / f"litellm-{version}"
    data, licence = folder / "model_prices_and_context_window_backup.json", folder / "LICENSE"
    if not data.exists():
        _download(version, folder)
    return Source(version, data.read_text(encoding="utf-8"), licence.read_text(encoding="utf-8"))


def _download(version: str, folder: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        command = [*_pip(), "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                   "--quiet", "-d", scratch, f"litellm=={version}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheels = list(Path(scratch).glob("litellm-*.whl"))
        if done.returncode != 0 or not wheels:
            raise SourceUnavailable(f"could not download litellm=={version} from PyPI: "
                                    f"{(done.stderr or done.stdout).strip()[-400:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            licence = next((n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")
                            or n.endswith(".dist-info/LICENSE")), None)
            if licence is None:
                raise SourceUnavailable(f"litellm=={version} has no licence file")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "LICENSE").write_bytes(wheel.read(licence))
            # Written last: its presence marks a complete cache entry.
            (folder / "model_prices_and_context_window_backup.json").write_bytes(wheel.read(MAP))
