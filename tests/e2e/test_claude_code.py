"""Claude Code itself (`@anthropic-ai/claude-code`, pinned in tests/clients/package.json) run non-interactively
against the local server through a recording proxy, with both of its ways of sending a key."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import ROOT
from tests.e2e.conftest import LocalServer
from unigate_tools.emulator import free_port

CLAUDE = ROOT / "tests" / "clients" / "node_modules" / ".bin" / "claude"
# What Claude Code needs to run with no outside network: no telemetry, error reports, update checks or
# other non-essential traffic, and no silent fallback to a non-streamed request when a stream breaks.
OFFLINE_ENV = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
}
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}

pytestmark = pytest.mark.skipif(not CLAUDE.exists(), reason="Claude Code is not installed: run `make clients` "
                                                            "(needs node and npm)")


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class Recorder:
    """A proxy in front of the local server that keeps every request it passes on."""

    target: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)

    def app(self) -> Starlette:
        async def forward(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            recorded = Recorded(request.method, request.url.path, request.url.query, dict(request.headers), body)
            self.requests.append(recorded)
            client = httpx.AsyncClient(timeout=60)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            upstream = await client.send(client.build_request(
                request.method, f"{self.target}{request.url.path}", params=request.url.query, headers=headers,
                content=raw), stream=True)
            recorded.status = upstream.status_code

            async def body_chunks() -> Any:
                try:
                    async for chunk in upstream.aiter_raw():
                        yield chunk
                finally:
                    await upstream.aclose()
                    await client.aclose()

            return StreamingResponse(body_chunks(), status_code=upstream.status_code,
                                     headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP})

        methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@pytest.fixture
def recorder(server: LocalServer) -> Iterator[Recorder]:
    recording = Recorder(server.url)
    port = free_port()
    config = uvicorn.Config(recording.app(), host="127.0.0.1", port=port, log_level="error", lifespan="off")
    proxy = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(proxy.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not proxy.started and time.monotonic() < deadline:
        time.sleep(0.02)
    recording.url = f"http://127.0.0.1:{port}"
    yield recording
    proxy.should_exit = True
    thread.join(timeout=5)


def _claude(recorder: Recorder, home: Path, prompt: str,
            credentials: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ANTHROPIC_BASE_URL": recorder.url,
           "ANTHROPIC_MODEL": "echo@echo", "ANTHROPIC_SMALL_FAST_MODEL": "echo@echo",
           "ANTHROPIC_DEFAULT_HAIKU_MODEL": "echo@echo", **OFFLINE_ENV, **credentials}
    return subprocess.run([str(CLAUDE), "-p", prompt], env=env, cwd=home, capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.mark.parametrize("variable", ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"])
def test_claude_code_answers_through_echo(server: LocalServer, recorder: Recorder, tmp_path: Path,
                                          variable: str) -> None:
    before = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {server.key}"}).json()
    done = _claude(recorder, tmp_path, "Reply with pong", {variable: server.key})
    assert done.returncode == 0, done.stderr
    assert "Reply with pong" in done.stdout  # echo answers the last user turn
    after = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {server.key}"}).json()
    assert after["credits"] < before["credits"]
    inference = [r for r in recorder.requests if r.method == "POST" and r.path == "/v1/messages"]
    assert inference, [(r.method, r.path) for r in recorder.requests]
    main = max(inference, key=lambda r: len(r.body.get("tools") or []))
    assert main.query == "beta=true"
    assert main.body["stream"] is True
    assert main.body["model"] == "echo@echo"
    assert main.headers["anthropic-version"]
    assert len(main.headers["anthropic-beta"].split(",")) >= 2
    assert len(main.body["tools"]) >= 10
    assert main.body["max_tokens"] >= 4096  # above echo's own limit: lowered, not refused
    # Streamed although it says it accepts JSON; fields a foreign model does not take are dropped, not refused.
    assert main.headers["accept"] == "application/json"
    assert main.body["thinking"]["type"] == "adaptive"
    assert {"output_config", "context_management"} <= set(main.body)
    assert main.body["messages"][-1]["role"] == "system"  # a system entry after the last user turn
    if variable == "ANTHROPIC_API_KEY":
        assert main.headers["x-api-key"] == server.key
    else:
        assert main.headers["authorization"] == f"Bearer {server.key}"
    # A HEAD / checking the base URL (sent first by versions and settings that check connectivity; not with
    # nonessential traffic off) is answered 200, as on the deployed API.
    heads = [r for r in recorder.requests if r.method == "HEAD" and r.path == "/"]
    assert all(r.status == 200 for r in heads), [(r.method, r.path, r.status) for r in recorder.requests]
    # Every request it made was answered, none refused.
    assert not [r for r in recorder.requests if r.path.startswith("/v1/messages") and r.body is None]
