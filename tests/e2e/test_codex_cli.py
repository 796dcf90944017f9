"""OpenAI's Codex CLI (@openai/codex, pinned in tests/clients) as the client of the local server: `codex exec`
with a custom model provider speaking the Responses API (wire_api = "responses"), answered by echo@echo.

Codex streams every turn with `store: false` and replays its history, sends nine tools (a `namespace` group
and `web_search` among them), `reasoning.summary`, `include: ["reasoning.encrypted_content"]`,
`prompt_cache_key` and `client_metadata`. The config is the one docs/api.md gives, offline: analytics and
plugins off."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import LocalServer, credits_of

CODEX = ROOT / "tests/clients/node_modules/.bin/codex"

pytestmark = pytest.mark.skipif(not CODEX.exists(), reason="Codex is not installed: `make clients` needs npm")


def _config(server: LocalServer) -> str:
    return f"""\
model = "echo@echo"
model_provider = "unigate"

[model_providers.unigate]
name = "unigate"
base_url = "{server.url}/v1"
env_key = "UNIGATE_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[features]
plugins = false
"""


def _key(server: LocalServer) -> str:
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", "1", "--idempotency-key", "codex")
    return str(server.cli_json("keys", "create", "--account", account)["key"])


def _codex(server: LocalServer, tmp_path: Path, key: str, prompt: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(_config(server))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home), "UNIGATE_API_KEY": key}
    return subprocess.run([str(CODEX), "exec", "--strict-config", "--skip-git-repo-check", prompt],
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=180, check=False)


def _queries(server: LocalServer, key: str) -> list[dict[str, object]]:
    listing = httpx.get(f"{server.url}/v0/queries", headers={"Authorization": f"Bearer {key}"}).json()
    return list(listing["queries"])


def test_codex_exec_answers_through_echo(server: LocalServer, tmp_path: Path) -> None:
    key = _key(server)
    done = _codex(server, tmp_path, key, "Hello from Codex")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "Hello from Codex"
    (query,) = _queries(server, key)
    assert query["endpoint"] == "echo@echo"
    assert query["outcome"] == "ok"
    assert Decimal("1") - credits_of(server, key) == Decimal(str(query["cost"])) > 0


def test_codex_runs_a_tool_and_sends_its_output_back(server: LocalServer, tmp_path: Path) -> None:
    """echo calls the tool the prompt names (get_goal, which only reads Codex's own state); Codex runs it
    and sends a function_call_output on a second request, which echo answers with that output."""
    key = _key(server)
    done = _codex(server, tmp_path, key, "get_goal")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith('{"goal":null')
    assert len(_queries(server, key)) == 2
