"""Per-key budgets under concurrency through the local server, and spend reports against the ledger."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx

# The worst case of this body at gpt-4o prices (2.50 in / 10.00 out per 1M): 100 x 10 + the prompt estimate;
# the fake upstream stalls, so every admitted request holds its worst case while the others arrive.
STALL = {"model": "gpt-4o@openai", "max_tokens": 100, "messages": [{"role": "user", "content": "scenario:stall"}]}
WORST = Decimal("0.00105")


def _post(server: Any, key: str, body: dict[str, Any], path: str = "/v1/chat/completions") -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60, headers={"Authorization": f"Bearer {key}"})


def _key_info(server: Any, key: str) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/v0/key", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _ledger(server: Any, account: str) -> list[dict[str, Any]]:
    return list(server.cli_json("credits", "ledger", "--account", account, "--limit", "1000")["entries"])


def _charged(server: Any, account: str) -> Decimal:
    """What the ledger says the account's requests cost: its holds and settles net to minus the charges."""
    return -sum((Decimal(e["credits"]) for e in _ledger(server, account) if e["kind"] in ("hold", "settle")),
                Decimal(0))


def _run(server: Any, fake_upstream: Any, keys: list[str]) -> list[tuple[str, httpx.Response]]:
    """Every request at once. The upstream answers after 25 s, so that every request has tried its hold
    before the first settle gives anything back, however slow this machine is."""
    fake_upstream.delays["v1"] = 20.0
    try:
        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            return list(zip(keys, pool.map(lambda key: _post(server, key, STALL), keys), strict=True))
    finally:
        fake_upstream.delays.pop("v1")


def _cost(response: httpx.Response) -> Decimal:
    return Decimal(response.headers["x-unigate-cost"])


def test_100_concurrent_requests_on_a_key_whose_budget_covers_10(server: Any, fake_upstream: Any) -> None:
    account = server.cli_json("accounts", "create")["account_id"]
    key = server.cli_json("keys", "create", "--account", account, "--budget", str(WORST * 10),
                          "--budget-period", "day")["key"]
    server.cli_json("credits", "grant", "--account", account, "--amount", str(WORST * 1000), "--idempotency-key", "k")
    results = _run(server, fake_upstream, [key] * 100)
    admitted = [r for _, r in results if r.status_code == 200]
    refused = [r for _, r in results if r.status_code != 200]
    assert 1 <= len(admitted) <= 10
    assert {r.status_code for r in refused} == {402}
    assert {r.json()["error"]["code"] for r in refused} == {"key_budget_exceeded"}
    assert all("It renews at " in r.json()["error"]["message"] for r in refused)
    spent = sum((_cost(r) for r in admitted), Decimal(0))
    budget = _key_info(server, key)["budget"]
    assert Decimal(str(budget["spent"])) == spent == _charged(server, account)
    assert budget["held"] == 0
    # Nothing was held for a refused request: one hold entry per admitted request, none open.
    ledger = _ledger(server, account)
    assert sum(1 for e in ledger if e["kind"] == "hold") == len(admitted)
    assert sum(1 for e in ledger if e["kind"] == "settle") == len(admitted)


def test_two_keys_sharing_a_balance_smaller_than_their_budgets(server: Any, fake_upstream: Any) -> None:
    account = server.cli_json("accounts", "create")["account_id"]
    keys = [server.cli_json("keys", "create", "--account", account, "--budget", str(WORST * 10))["key"]
            for _ in range(2)]
    server.cli_json("credits", "grant", "--account", account, "--amount", str(WORST * 15), "--idempotency-key", "k")
    results = _run(server, fake_upstream, [keys[i % 2] for i in range(100)])
    admitted: dict[str, list[httpx.Response]] = defaultdict(list)
    codes = set()
    for key, response in results:
        if response.status_code == 200:
            admitted[key].append(response)
        else:
            assert response.status_code == 402
            codes.add(response.json()["error"]["code"])
    assert 1 <= sum(len(a) for a in admitted.values()) <= 15
    assert all(len(a) <= 10 for a in admitted.values())
    assert codes <= {"key_budget_exceeded", "insufficient_credits"}
    assert "insufficient_credits" in codes  # the balance ran out before both budgets could
    for key in keys:
        budget = _key_info(server, key)["budget"]
        assert Decimal(str(budget["spent"])) == sum((_cost(r) for r in admitted[key]), Decimal(0))
        assert budget["held"] == 0
    balance = Decimal(str(httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {keys[0]}"})
                          .json()["credits"]))
    assert balance >= 0
    assert sum((Decimal(e["credits"]) for e in _ledger(server, account)), Decimal(0)) == balance
    assert _charged(server, account) == sum((_cost(r) for a in admitted.values() for r in a), Decimal(0))


def test_spend_reports_sum_to_the_ledger_by_key_endpoint_model_and_tag(server: Any, fake_upstream: Any) -> None:
    account = server.cli_json("accounts", "create")["account_id"]
    keys = [server.cli_json("keys", "create", "--account", account, "--name", f"k{i}")["key"] for i in range(2)]
    server.cli_json("credits", "grant", "--account", account, "--amount", "5", "--idempotency-key", "k")
    expected: dict[str, dict[Any, Decimal]] = {g: defaultdict(Decimal) for g in ("key", "endpoint", "model", "tag")}
    key_ids = {key: _key_info(server, key)["key_id"] for key in keys}
    for index in range(12):
        key = keys[index % 2]
        endpoint = ("gpt-4o@openai", "echo@echo")[(index // 2) % 2]
        tag = ("alpha", "beta", None)[index % 3]
        body = {"model": endpoint, "max_tokens": 20, "messages": [{"role": "user", "content": f"hello {index}"}],
                **({"tags": [tag]} if tag else {})}
        response = _post(server, key, body, "/v0/chat/completions")
        assert response.status_code == 200, response.text
        cost = _cost(response)
        assert cost > 0
        for group, value in (("key", key_ids[key]), ("endpoint", endpoint), ("model", endpoint.split("@")[0]),
                             ("tag", tag)):
            expected[group][value] += cost
    charged = _charged(server, account)
    assert sum(expected["key"].values()) == charged
    for group, costs in expected.items():
        report = httpx.get(f"{server.url}/v0/spend", params={"group_by": group}, timeout=10,
                           headers={"Authorization": f"Bearer {keys[0]}"}).json()
        found = {g[group]: Decimal(str(g["cost"])) for g in report["groups"]}
        assert found == dict(costs), group
        assert sum(found.values()) == charged == Decimal(str(report["total"]["cost"]))
        assert report["total"]["requests"] == 12
        hourly = httpx.get(f"{server.url}/v0/spend", params={"group_by": group, "granularity": "hour"}, timeout=10,
                           headers={"Authorization": f"Bearer {keys[1]}"}).json()
        assert sum(Decimal(str(p["cost"])) for g in hourly["groups"] for p in g["series"]) == charged
    by_cli = server.cli_json("spend", "--account", account, "--by", "key")
    assert {g["key"]: Decimal(str(g["cost"])) for g in by_cli["groups"]} == dict(expected["key"])
    assert {g["name"] for g in by_cli["groups"]} == {"k0", "k1"}
    assert all(g["budget"] is None for g in by_cli["groups"])
