"""The admin API through the local server: SigV4-signed requests (as API Gateway's AWS_IAM authorization
requires) manage accounts, keys, credits, plans and deployments; unigate keys are refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import LocalServer
from unigate_tools.emulator import FAKE_CREDENTIALS

CREDENTIALS = Credentials(FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                          FAKE_CREDENTIALS["AWS_SESSION_TOKEN"])


def signed(server: LocalServer, method: str, path: str, body: Any = None, *,
           credentials: Credentials = CREDENTIALS) -> httpx.Response:
    url = f"{server.url}{path}"
    data = json.dumps(body).encode() if body is not None else None
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    return httpx.request(method, url, content=data, headers=dict(request.headers.items()), timeout=30)


def chat(server: LocalServer, key: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v0/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": "echo@echo", "messages": [{"role": "user", "content": "hi"}]})


def test_admin_routes_refuse_unigate_keys_and_unsigned_or_badly_signed_requests(server: LocalServer) -> None:
    with_key = httpx.post(f"{server.url}/admin/accounts", json={}, headers={"Authorization": f"Bearer {server.key}"})
    assert (with_key.status_code, with_key.json()) == (403, {
        "error": "Admin routes need AWS IAM (SigV4) authorization; unigate keys are not accepted."})
    assert httpx.post(f"{server.url}/admin/accounts", json={}).status_code == 404  # as API Gateway: no such route
    forged = signed(server, "POST", "/admin/accounts", {}, credentials=Credentials("testing", "wrong-secret"))
    assert (forged.status_code, forged.json()) == (403, {"error": "The request signature does not match."})


def test_accounts_keys_credits_and_ledger_through_the_admin_api(server: LocalServer) -> None:
    account = signed(server, "POST", "/admin/accounts", {"name": "Team B"}).json()["account_id"]
    created = signed(server, "POST", f"/admin/accounts/{account}/keys",
                     {"name": "ci", "allowed_models": ["echo"], "rpm": 100}).json()
    key = created["key"]
    assert (created["rpm"], created["allowed_models"]) == (100, ["echo"])
    listed = signed(server, "GET", f"/admin/accounts/{account}/keys").json()
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert key not in json.dumps(listed)
    for n in range(3):
        granted = signed(server, "POST", f"/admin/accounts/{account}/credits",
                         {"amount": "2.5", "idempotency_key": f"invoice-{n}"})
        assert granted.status_code == 200, granted.text
    replay = signed(server, "POST", f"/admin/accounts/{account}/credits",
                    {"amount": "9", "idempotency_key": "invoice-0"})
    assert replay.status_code == 409
    assert signed(server, "GET", f"/admin/accounts/{account}").json()["credits"] == "7.5"
    page = signed(server, "GET", f"/admin/accounts/{account}/ledger?limit=2").json()
    rest = signed(server, "GET", f"/admin/accounts/{account}/ledger?limit=2&cursor={page['next_cursor']}").json()
    assert len(page["entries"]) + len(rest["entries"]) == 3
    assert chat(server, key).status_code == 200

    plan = signed(server, "POST", f"/admin/accounts/{account}/plans", {"kind": "periodic", "period": "week",
                                                                     "amount": "1"}).json()
    assert [p["plan_id"] for p in signed(server, "GET", f"/admin/accounts/{account}/plans").json()] == [plan["plan_id"]]
    assert signed(server, "DELETE", f"/admin/accounts/{account}/plans/{plan['plan_id']}").json()["deleted"] is True


def test_rotate_revoke_and_suspend_take_effect(server: LocalServer) -> None:
    account = signed(server, "POST", "/admin/accounts", {}).json()["account_id"]
    signed(server, "POST", f"/admin/accounts/{account}/credits", {"amount": "1", "idempotency_key": "start"})
    old = signed(server, "POST", f"/admin/accounts/{account}/keys", {"name": "svc", "tpm": 5000}).json()
    rotated = signed(server, "POST", f"/admin/keys/{old['key_id']}/rotate", {}).json()
    assert (rotated["name"], rotated["tpm"], rotated["replaces"]["status"]) == ("svc", 5000, "revoked")
    assert chat(server, old["key"]).status_code == 401
    assert chat(server, rotated["key"]).status_code == 200
    spare = signed(server, "POST", f"/admin/accounts/{account}/keys", {}).json()
    assert signed(server, "POST", f"/admin/keys/{spare['key_id']}/revoke").json()["status"] == "revoked"
    assert chat(server, spare["key"]).status_code == 401
    other = signed(server, "POST", f"/admin/accounts/{account}/keys", {}).json()
    assert signed(server, "POST", f"/admin/accounts/{account}/suspend").json()["status"] == "suspended"
    assert chat(server, other["key"]).status_code == 401
    limits = signed(server, "PUT", f"/admin/keys/{other['key_id']}/limits", {"rpm": 3}).json()
    assert (limits["rpm"], limits["tpm"]) == (3, None)


def test_deployments_through_the_admin_api(server: LocalServer) -> None:
    made = signed(server, "POST", "/admin/deployments", {"name": "Admin-Echo", "endpoint": "echo@echo", "rpm": 50,
                                                         "content_filter": {"x": {"terms": ["forbidden"]}}})
    assert made.status_code == 200, made.text
    assert made.json()["content_filter"] == {"x": {"terms": ["forbidden"], "patterns": [], "input": True,
                                                   "output": True}}
    answer = httpx.post(f"{server.url}/v0/chat/completions", headers={"Authorization": f"Bearer {server.key}"},
                        json={"model": "admin-echo", "messages": [{"role": "user", "content": "hello"}]}, timeout=30)
    assert answer.json()["choices"][0]["message"]["content"] == "hello"
    assert "Admin-Echo" in [d["name"] for d in signed(server, "GET", "/admin/deployments").json()]
    assert signed(server, "DELETE", "/admin/deployments/Admin-Echo").json() == {"name": "Admin-Echo", "deleted": True}
    assert signed(server, "POST", "/admin/deployments", {"name": "x", "endpoint": "nope@echo"}).status_code == 404


def test_key_budgets_and_spend_through_the_admin_api(server: LocalServer) -> None:
    account = signed(server, "POST", "/admin/accounts", {"name": "Team D"}).json()["account_id"]
    signed(server, "POST", f"/admin/accounts/{account}/credits", {"amount": "1", "idempotency_key": "start"})
    created = signed(server, "POST", f"/admin/accounts/{account}/keys",
                     {"name": "agent", "budget": "0.5", "budget_period": "week"}).json()
    assert (created["budget"], created["budget_period"]) == ("0.5", "week")
    refused = signed(server, "POST", f"/admin/accounts/{account}/keys", {"budget": 5, "budget_period": "year"})
    assert (refused.status_code, refused.json()["error"]) == (
        400, "budget_period: the budget period is one of lifetime, day, week, month.")
    assert chat(server, created["key"]).status_code == 200
    # A budget smaller than this request's worst case: 402 key_budget_exceeded, before any upstream call.
    lowered = signed(server, "PUT", f"/admin/keys/{created['key_id']}/budget",
                     {"budget": "0.000001", "budget_period": "day"})
    assert (lowered.status_code, lowered.json()["budget"]) == (200, "0.000001")
    report = signed(server, "GET", f"/admin/accounts/{account}/spend?group_by=key").json()
    (line,) = report["groups"]
    assert (line["key"], line["name"], line["requests"]) == (created["key_id"], "agent", 1)
    assert line["cost"] == report["total"]["cost"] > 0
    assert line["budget"]["period"] == "day"
    assert line["budget"]["spent"] == 0.0  # a new kind of period starts afresh
    removed = signed(server, "PUT", f"/admin/keys/{created['key_id']}/budget", {"budget": None})
    assert removed.json()["budget"] is None
    assert signed(server, "GET", "/admin/accounts/acct_nope/spend").status_code == 404
