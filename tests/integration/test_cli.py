"""The admin CLI against moto, through its real entry point."""

import json

import pytest

from unigate.accounts import auth
from unigate.stores import accounts as store
from unigate_tools.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
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
