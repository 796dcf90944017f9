"""Starts the real local server (`unigate dev`) on a free port for the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ROOT
from tests.fakes.upstream import CANARY_KEYS, ENV_KEYS, catalog_override
from unigate.domain import keys
from unigate_tools.emulator import free_port


@dataclass
class LocalServer:
    url: str
    key: str
    state_dir: Path
    process: subprocess.Popen[str]

    def cli_json(self, *argv: str) -> Any:
        done = self.cli(*argv, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "UNIGATE_STATE_DIR": str(self.state_dir)}
        return subprocess.run(
            [sys.executable, "-m", "unigate_tools.cli", "--local", *argv],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
        )


def openai_client(server: LocalServer, key: str | None = None, **options: Any) -> openai.OpenAI:
    """The official openai SDK on the server's /v1, with the demo key unless another is given, never retrying."""
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key or server.key, max_retries=0, timeout=30, **options)


def credits_of(server: LocalServer, key: str | None = None) -> Decimal:
    """The balance of the key's account (the demo key's unless another is given), as /v0/credits says."""
    body = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {key or server.key}"}).json()
    return Decimal(str(body["credits"]))


def cost_of(usage: object) -> Decimal:
    return Decimal(str(getattr(usage, "cost")))  # noqa: B009 - a field unigate adds to OpenAI's usage


def start_server(state_dir: Path, env: dict[str, str], *, argv: tuple[str, ...] = ()) -> LocalServer:
    """Starts `unigate dev` with `env` on a free port, its state (and log) in `state_dir`, and waits until it
    answers."""
    port = free_port()
    # Provider keys only as the test gives them: a developer's own never reach a test's server.
    inherited = {name: value for name, value in os.environ.items()
                 if not name.endswith(("_API_KEY", "_API_TOKEN", "_ACCESS_TOKEN"))}
    env = {**inherited, **env, "UNIGATE_STATE_DIR": str(state_dir), "PORT": str(port)}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    with (state_dir / "server.log").open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "unigate_tools.cli", "dev", *argv],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/v0/credits", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("local server did not start:\n" + (state_dir / "server.log").read_text()) from None
            time.sleep(0.2)
    return LocalServer(url=url, key=env.get("UNIGATE_DEV_KEY", ""), state_dir=state_dir, process=process)


def stop_server(server: LocalServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, fake_upstream: Any, fake_bedrock: Any) -> Iterator[LocalServer]:
    """`unigate dev` with the fake upstream added through UNIGATE_CATALOG_PATH and provider keys in the
    usual environment variables, exactly as an operator would configure a self-hosted upstream; Bedrock's
    runtime is the fake one, through botocore's own endpoint setting."""
    state_dir = tmp_path_factory.mktemp("state")
    catalog = state_dir / "catalog.json"
    catalog.write_text(json.dumps(catalog_override(fake_upstream.url)))
    local = start_server(state_dir, {
        "UNIGATE_DEV_KEY": keys.generate_key(), "UNIGATE_CATALOG_PATH": str(catalog),
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake_bedrock[0],
        **{variable: CANARY_KEYS[provider] for variable, provider in ENV_KEYS.items()}})
    yield local
    stop_server(local)
