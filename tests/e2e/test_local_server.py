"""The local server over HTTP, as a user meets it after `make dev`."""

import httpx

from tests.e2e.conftest import LocalServer
from unigate.domain import keys


def _get(server: LocalServer, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers or {}, timeout=30)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_demo_key_sees_its_credits(server: LocalServer) -> None:
    for path in ("/v0/credits", "/v0/get_credits"):
        response = _get(server, path, _auth(server.key))
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == "acct_demo"
        assert body["credits"] > 0  # other tests on this server may have spent some
        assert response.headers["x-request-id"]
    # The demo account starts with exactly 10 credits: the ledger's first entry says so.
    first = server.cli_json("credits", "ledger", "--account", "acct_demo", "--limit", "1")["entries"][0]
    assert (first["entry_id"], first["credits"]) == ("grant#dev-seed", "10.0")


def test_a_wrong_key_is_401(server: LocalServer) -> None:
    # The demo key with its last character changed (to "x", unless it already is one: then it is the key).
    one_off = server.key[:-1] + ("y" if server.key.endswith("x") else "x")
    for key in (keys.generate_key(), "ug_wrong", one_off):
        response = _get(server, "/v0/credits", _auth(key))
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid API key"}


def test_malformed_headers_are_401(server: LocalServer) -> None:
    for value in ("Bearer", f"Basic {server.key}", "Bearer " + "a" * 16_000, "Bearer ' OR '1'='1"):
        response = _get(server, "/v0/credits", {"Authorization": value})
        assert response.status_code == 401, value
        assert response.json() == {"error": "Invalid API key"}


def test_no_credentials_is_403(server: LocalServer) -> None:
    for headers in ({}, {"Authorization": ""}, {"X-Api-Key": ""}, {"Proxy-Authorization": f"Bearer {server.key}"}):
        response = _get(server, "/v0/credits", headers)
        assert response.status_code == 403
        assert response.json() == {"detail": "Not authenticated"}


def test_a_key_in_x_api_key_or_api_key_is_credentials(server: LocalServer) -> None:
    for header in ("X-Api-Key", "Api-Key"):
        assert _get(server, "/v0/credits", {header: server.key}).status_code == 200
        refused = _get(server, "/v0/credits", {header: keys.generate_key()})
        assert (refused.status_code, refused.json()) == (401, {"error": "Invalid API key"})
    # Authorization comes first when it is there.
    both = _get(server, "/v0/credits", {"Authorization": "Bearer ug_wrong", "X-Api-Key": server.key})
    assert both.status_code == 401


def test_authorizer_refusals_answer_in_each_surfaces_envelope(server: LocalServer) -> None:
    bad = {"Authorization": f"Bearer {keys.generate_key()}"}
    assert _get(server, "/v0/credits", bad).json() == {"error": "Invalid API key"}
    openai = _get(server, "/v1/models", bad)
    assert (openai.status_code, openai.json()["error"]["type"], openai.json()["error"]["code"]) == (
        401, "authentication_error", "invalid_api_key")
    missing = _get(server, "/v1/models", {})
    assert (missing.status_code, missing.json()["error"]["type"]) == (403, "authentication_error")
    anthropic_models = _get(server, "/v1/models", {**bad, "anthropic-version": "2023-06-01"})
    assert (anthropic_models.status_code, anthropic_models.json()) == (401, {
        "type": "error", "error": {"type": "authentication_error", "message": "Invalid API key"}})


def test_unknown_routes_are_404(server: LocalServer) -> None:
    response = _get(server, "/v0/nope", _auth(server.key))
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_cli_manages_the_running_servers_store(server: LocalServer) -> None:
    before = _get(server, "/v0/credits", _auth(server.key)).json()["credits"]
    for _ in range(2):
        done = server.cli("credits", "grant", "--account", "acct_demo", "--amount", "1.25", "--idempotency-key", "e2e")
        assert done.returncode == 0, done.stderr
    after = _get(server, "/v0/credits", _auth(server.key)).json()["credits"]
    assert round(after - before, 6) == 1.25

    new_key = server.cli_json("keys", "create", "--account", "acct_demo", "--name", "e2e")["key"]
    assert _get(server, "/v0/credits", _auth(new_key)).json()["id"] == "acct_demo"


def test_authorizer_decisions_are_cached_per_header_like_api_gateway(server: LocalServer) -> None:
    """API Gateway caches the authorizer's decision for the TTL (300 s): a key revoked meanwhile keeps
    working until its entry expires. The local server must behave the same, or it would hide that."""
    created = server.cli_json("keys", "create", "--account", "acct_demo")
    assert _get(server, "/v0/credits", _auth(created["key"])).status_code == 200
    assert server.cli("keys", "revoke", created["key_id"]).returncode == 0
    assert _get(server, "/v0/credits", _auth(created["key"])).status_code == 200

    # A key revoked before its first use is refused at once.
    fresh = server.cli_json("keys", "create", "--account", "acct_demo")
    assert server.cli("keys", "revoke", fresh["key_id"]).returncode == 0
    assert _get(server, "/v0/credits", _auth(fresh["key"])).status_code == 401


def test_concurrent_requests(server: LocalServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: _get(server, "/v0/credits", _auth(server.key)).status_code, range(64)))
    assert statuses == [200] * 64
