"""Adversarial inputs through the local server: each gets a precise 4xx in the contract's shape, with no
hold, no upstream call and nothing written."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LocalServer

GOOD = {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}]}


def _credits(server: LocalServer) -> Decimal:
    body = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {server.key}"}).json()
    return Decimal(str(body["credits"]))


def _ledger_size(server: LocalServer) -> int:
    return len(server.cli_json("credits", "ledger", "--account", "acct_demo", "--limit", "1000")["entries"])


@pytest.fixture(scope="module")
def before(server: LocalServer, fake_upstream: Any) -> Any:
    """What must not change: the balance, the ledger and the upstream's request count."""
    state = {"credits": _credits(server), "ledger": _ledger_size(server), "upstream": len(fake_upstream.received)}
    yield state
    assert _credits(server) == state["credits"]
    assert _ledger_size(server) == state["ledger"]
    assert len(fake_upstream.received) == state["upstream"]


def _post(server: LocalServer, content: bytes | str, *, path: str = "/v1/chat/completions",
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=content, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json",
                               **(headers or {})})


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _chain(length: int) -> str:
    return "->".join(["gpt-4o@openai"] * length)


BODIES: list[tuple[str, Any, int]] = [
    # 1. routing and credential fields, at any depth
    ("api_base", {**GOOD, "api_base": "http://169.254.169.254/latest"}, 400),
    ("base_url", {**GOOD, "base_url": "http://127.0.0.1:9"}, 400),
    ("api_key", {**GOOD, "api_key": "sk-mine"}, 400),
    ("azure_endpoint", {**GOOD, "azure_endpoint": "https://evil.openai.azure.com"}, 400),
    ("aws credentials", {**GOOD, "aws_access_key_id": "AKIAXXXXXXXXXXXXXXXX", "aws_secret_access_key": "x"}, 400),
    ("in extra_body", {**GOOD, "extra_body": {"api_base": "http://x"}}, 400),
    ("in metadata", {**GOOD, "metadata": {"nested": {"base_url": "http://x"}}}, 400),
    ("in a message", {**GOOD, "messages": [{"role": "user", "content": "x", "api_key": "k"}]}, 400),
    ("in a fallback request", [GOOD, {**GOOD, "api_base": "http://x"}], 400),
    # 2. malformed bodies
    ("malformed JSON", '{"model": "gpt-4o@openai", "messages": [', 400),
    ("array of non-objects", "[1, 2, 3]", 400),
    ("empty array", "[]", 400),
    ("NaN", '{"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}', 400),
    ("Infinity", '{"model": "gpt-4o@openai", "messages": [], "top_p": Infinity}', 400),
    ("invalid UTF-8", b'{"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
    ("10,000-deep nesting", '{"model": "gpt-4o@openai", "messages": ' + _deep(10_000) + "}", 400),
    ("over the size limit", {**GOOD, "messages": [{"role": "user", "content": "x" * 1_100_000}]}, 413),
    ("100,000 messages", {**GOOD, "messages": [{"role": "user", "content": "x"}] * 100_000}, 413),
    ("3,000 messages", {**GOOD, "messages": [{"role": "user", "content": "x"}] * 3_000}, 400),
    # 3. parameters
    ("max_tokens negative", {**GOOD, "max_tokens": -1}, 400),
    ("max_tokens zero", {**GOOD, "max_tokens": 0}, 400),
    ("max_tokens beyond the limit", {**GOOD, "max_tokens": 10_000_000}, 400),
    ("max_tokens not an integer", {**GOOD, "max_tokens": "lots"}, 400),
    ("n above the limit", {**GOOD, "n": 100}, 400),
    ("unknown role", {**GOOD, "messages": [{"role": "wizard", "content": "x"}]}, 400),
    ("role not a string", {**GOOD, "messages": [{"role": {"x": 1}, "content": "x"}]}, 400),
    ("empty messages", {**GOOD, "messages": []}, 400),
    ("messages not a list", {**GOOD, "messages": "hello"}, 400),
    ("stream not a boolean", {**GOOD, "stream": "yes"}, 400),
    # 4. model strings
    ("unknown provider", {**GOOD, "model": "gpt-4o@nope"}, 404),
    ("unknown model", {**GOOD, "model": "gpt-9@openai"}, 404),
    ("@@", {**GOOD, "model": "gpt-4o@@openai"}, 400),
    ("trailing ->", {**GOOD, "model": "gpt-4o@openai->"}, 400),
    ("50-level chain", {**GOOD, "model": _chain(50)}, 400),
    ("path-like", {**GOOD, "model": "../../etc/passwd@openai"}, 400),
    ("URL-like", {**GOOD, "model": "http://169.254.169.254/v1@openai"}, 400),
    ("very long", {**GOOD, "model": "a" * 5000 + "@openai"}, 400),
    ("not a string", {**GOOD, "model": ["gpt-4o@openai"]}, 400),
    ("missing", {"messages": GOOD["messages"]}, 400),
]


@pytest.mark.parametrize(("case", "body", "status"), BODIES, ids=[c for c, _, _ in BODIES])
@pytest.mark.parametrize("path", ["/v0/chat/completions", "/v1/chat/completions"])
def test_bad_bodies(server: LocalServer, before: Any, case: str, body: Any, status: int, path: str) -> None:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    response = _post(server, content, path=path)
    assert response.status_code == status, (case, response.text[:300])
    error = response.json()["error"]
    if path.startswith("/v1/"):
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] in ("invalid_request_error", "not_found_error")
    else:
        assert isinstance(error, str)


@pytest.mark.parametrize("header", ["X-Api-Base", "X-Base-URL", "Azure-Endpoint", "X-Aws-Secret-Access-Key",
                                    "Aws-Session-Token"])
def test_steering_headers(server: LocalServer, before: Any, header: str) -> None:
    response = _post(server, json.dumps(GOOD), headers={header: "http://169.254.169.254"})
    assert response.status_code == 400
    assert header.lower() in response.json()["error"]["message"].lower()


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + "A" * 16_000, "Bearer ' OR '1'='1' --",
     'Bearer {"$gt": ""}', "Bearer ug_" + "0" * 38, "bearer\tug_abc"],
)
def test_bad_authorization_headers(server: LocalServer, before: Any, authorization: str) -> None:
    response = httpx.post(f"{server.url}/v1/chat/completions", json=GOOD, headers={"Authorization": authorization},
                          timeout=30)
    error = response.json()["error"]
    if authorization.strip() == "":
        assert (response.status_code, error["type"], error["code"]) == (403, "authentication_error",
                                                                       "not_authenticated")
    else:
        assert (response.status_code, error) == (401, {"message": "Invalid API key", "type": "authentication_error",
                                                       "param": None, "code": "invalid_api_key"})


def test_a_valid_key_in_another_header_is_not_credentials(server: LocalServer, before: Any) -> None:
    for header in ("Proxy-Authorization", "X-Auth-Token", "Cookie"):
        response = httpx.post(f"{server.url}/v1/chat/completions", json=GOOD, headers={header: f"Bearer {server.key}"},
                              timeout=30)
        assert response.status_code == 403
    # x-api-key and api-key take the key itself, not a Bearer header value.
    for header in ("X-Api-Key", "Api-Key"):
        response = httpx.post(f"{server.url}/v1/chat/completions", json=GOOD, headers={header: f"Bearer {server.key}"},
                              timeout=30)
        assert response.status_code == 401


def test_another_accounts_key_sees_only_its_account(server: LocalServer) -> None:
    account = server.cli_json("accounts", "create")["account_id"]
    other = server.cli_json("keys", "create", "--account", account)["key"]
    body = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {other}"}).json()
    assert body == {"id": account, "credits": 0.0}


EMBEDDING_BODIES: list[tuple[str, str, Any, int]] = [
    ("/v1/embeddings", "api_base", {"model": "echo-embed@echo", "input": "x", "api_base": "http://x"}, 400),
    ("/v1/embeddings", "input object", {"model": "echo-embed@echo", "input": {"text": "x"}}, 400),
    ("/v1/embeddings", "negative tokens", {"model": "echo-embed@echo", "input": [[-1, 2]]}, 400),
    ("/v1/embeddings", "boolean dimensions", {"model": "echo-embed@echo", "input": "x", "dimensions": True}, 400),
    ("/v1/embeddings", "huge dimensions", {"model": "echo-embed@echo", "input": "x", "dimensions": 10**9}, 400),
    ("/v0/embeddings", "not an object", ["echo-embed@echo"], 400),
    ("/v0/images/embeddings", "file URL", {"model": "echo-embed@echo", "input": [{"image": "file:///etc/passwd"}]},
     400),
    ("/v0/images/embeddings", "bad base64", {"model": "echo-embed@echo",
                                            "input": [{"image": "data:image/png;base64,@@@"}]}, 400),
    ("/v0/inference", "arguments with api_key", {"model": "echo", "provider": "echo",
                                                 "arguments": {"messages": [], "api_key": "sk"}}, 400),
    ("/v0/inference", "model with @", {"model": "echo@echo", "provider": "echo", "arguments": {"input": "x"}}, 400),
    ("/v0/inference", "chained provider", {"model": "echo", "provider": "echo->openai", "arguments": {}}, 400),
    ("/v0/inference", "model inside arguments", {"model": "echo", "provider": "echo",
                                                 "arguments": {"model": "gpt-4o@openai", "messages": []}}, 400),
    ("/v0/inference", "arguments a list", {"model": "echo", "provider": "echo", "arguments": []}, 422),
    ("/v0/custom_endpoint?name=x&url=https://169.254.169.254/&key_name=k", "metadata URL", {}, 400),
    ("/v0/custom_endpoint?name=x&url=https://[::ffff:7f00:1]/&key_name=k", "mapped loopback", {}, 400),
]


@pytest.mark.parametrize(("path", "case", "body", "status"), EMBEDDING_BODIES,
                         ids=[c for _, c, _, _ in EMBEDDING_BODIES])
def test_bad_bodies_on_the_other_paid_routes(server: LocalServer, before: Any, path: str, case: str, body: Any,
                                             status: int) -> None:
    response = _post(server, json.dumps(body), path=path)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str if path.startswith("/v0") else dict)
