"""The admin CLI against moto, through its real entry point."""

import json

import pytest

from unigate.accounts import auth
from unigate.stores import accounts as store
from unigate_tools.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_accounts_keys_and_credits(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    account = _run(capsys, "accounts", "create", "--name", "Team A")["account_id"]
    created = _run(capsys, "keys", "create", "--account", account, "--name", "ci", "--allow-model", "echo@echo")
    secret = created["key"]
    assert auth.authenticate(f"Bearer {secret}").allowed_models == ("echo@echo",)

    listed = _run(capsys, "keys", "list", "--account", account)
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert secret not in json.dumps(listed)
    assert "key_hash" not in listed[0]

    for _ in range(2):
        _run(capsys, "credits", "grant", "--account", account, "--amount", "12.5", "--idempotency-key", "inv-1")
    shown = _run(capsys, "accounts", "show", account)
    assert shown["credits"] == "12.5"
    assert store.ledger_sum(account) == 12_500_000

    ledger = _run(capsys, "credits", "ledger", "--account", account)
    assert [e["entry_id"] for e in ledger["entries"]] == ["grant#inv-1"]

    assert _run(capsys, "keys", "revoke", created["key_id"])["status"] == "revoked"


def test_errors_are_reported_without_a_traceback(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    account = _run(capsys, "accounts", "create")["account_id"]
    _run(capsys, "credits", "grant", "--account", account, "--amount", "1", "--idempotency-key", "k")
    assert main(["credits", "grant", "--account", account, "--amount", "2", "--idempotency-key", "k"]) == 1
    assert "different amount" in capsys.readouterr().err
    assert main(["credits", "grant", "--account", account, "--amount", "0.0000001", "--idempotency-key", "z"]) == 1
    assert "at most 6 decimal" in capsys.readouterr().err
    assert main(["keys", "revoke", "key_nope"]) == 1


def test_generated_keys_are_well_formed(capsys: pytest.CaptureFixture[str]) -> None:
    from unigate.domain import keys

    assert main(["keys", "generate"]) == 0
    assert keys.is_well_formed(capsys.readouterr().out.strip())


def test_results_are_tables_in_credits_by_default(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    account = _run(capsys, "accounts", "create", "--name", "Team B")["account_id"]
    plan = _run(capsys, "plans", "create", "--account", account, "--amount", "10", "--period", "week")
    assert (plan["amount"], plan["period"]) == ("10.0", "week")
    topup = _run(capsys, "credits", "topup", "--account", account, "--amount", "25.5", "--idempotency-key", "t1")
    assert topup["credits"] == "25.5"
    assert "amount_micros" not in topup
    listed = _run(capsys, "plans", "list", "--account", account)
    assert listed == [plan]
    assert not {"sk", "plan_group", "plan_key"} & set(listed[0])

    assert main(["plans", "list", "--account", account]) == 0
    header, rule, row = capsys.readouterr().out.splitlines()
    assert header.split() == list(plan)
    assert set(rule) <= {"-", " "}
    assert row.split()[:5] == [plan["plan_id"], account, "periodic", "week", "10.0"]
    assert main(["--json", "credits", "ledger", "--account", account]) == 0
    assert json.loads(capsys.readouterr().out)["entries"][0]["credits"] == "25.5"
    assert main(["credits", "ledger", "--account", account]) == 0
    table = capsys.readouterr().out
    assert table.startswith("next_cursor")
    assert "entries:" in table
    assert "topup#t1" in table
