"""The local server's store survives a restart, a killed server too; `--fresh` starts clean."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import LocalServer, start_server, stop_server


def _demo_key(state_dir: Path) -> str:
    """The demo key as the newest banner in the server's log prints it."""
    return re.findall(r"demo key\s+(ug_\w+)", (state_dir / "server.log").read_text())[-1]


def _post(server: LocalServer, path: str, key: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _get(server: LocalServer, path: str, key: str) -> httpx.Response:
    return httpx.get(server.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path


def test_what_make_dev_holds_survives_a_killed_server(state_dir: Path) -> None:
    first = start_server(state_dir, {})
    demo_key = _demo_key(state_dir)
    try:
        first.cli_json("accounts", "create", "--id", "acct_team", "--name", "team")
        first.cli_json("credits", "grant", "--account", "acct_team", "--amount", "3", "--idempotency-key", "g1")
        team_key = first.cli_json("keys", "create", "--account", "acct_team", "--name", "ci")["key"]
        first.cli_json("deployments", "create", "Team-Echo", "--endpoint", "echo@echo")
        answer = _post(first, "/v0/chat/completions", team_key,
                       {"model": "team-echo", "messages": [{"role": "user", "content": "kept"}], "tags": ["restart"]})
        assert answer.status_code == 200, answer.text
        cost = answer.json()["usage"]["cost"]
        assert cost > 0
        assert _post(first, "/v0/custom_api_key?name=my-openai&value=sk-kept-across-restarts", team_key,
                     {}).status_code == 200
        balance = _get(first, "/v0/credits", team_key).json()["credits"]
    finally:
        first.process.kill()  # no shutdown: every write must already be on disk
        first.process.wait()

    second = start_server(state_dir, {})
    try:
        assert _demo_key(state_dir) == demo_key
        assert _get(second, "/v0/credits", demo_key).status_code == 200
        assert _get(second, "/v0/credits", team_key).json() == {"id": "acct_team", "credits": balance}
        queries = _get(second, "/v0/queries?tags=restart", team_key).json()
        assert [q["tags"] for q in queries["queries"]] == [["restart"]]
        listed = _get(second, "/v0/custom_api_key/list", team_key).json()
        assert [entry["name"] for entry in listed] == ["my-openai"]
        again = _post(second, "/v0/chat/completions", team_key,
                      {"model": "team-echo", "messages": [{"role": "user", "content": "kept"}]})
        assert again.status_code == 200, again.text
    finally:
        stop_server(second)

    fresh = start_server(state_dir, {}, argv=("--fresh",))
    try:
        assert _demo_key(state_dir) != demo_key
        assert _get(fresh, "/v0/credits", team_key).status_code == 401
        assert _get(fresh, "/v0/credits", _demo_key(state_dir)).json()["credits"] == 10
    finally:
        stop_server(fresh)
