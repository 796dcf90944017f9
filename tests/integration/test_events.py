"""Every file under events/ through the real handler of its function, under moto.

The same files work with `sam local invoke <Function> -e events/<function>/<case>.json`.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENT_ACCOUNT, EVENTS, template
from unigate.dev.invoke import call, context_for, load_handler

# function folder -> the function's logical id in template.yaml
FUNCTIONS = {
    spec.code_dir.name: name for name, spec in template().functions().items()
}

EXPECTED: dict[tuple[str, str], Any] = {
    ("authorizer", "valid_key"): "Allow",
    ("authorizer", "unknown_key"): "Deny",
    ("authorizer", "revoked_key"): "Deny",
    ("authorizer", "expired_key"): "Deny",
    ("authorizer", "malformed_header"): "Deny",
    ("authorizer", "missing_header"): "Unauthorized",
    ("credits", "credits"): (200, {"id": EVENT_ACCOUNT, "credits": 10.0}),
    ("credits", "get_credits_legacy"): (200, {"id": EVENT_ACCOUNT, "credits": 10.0}),
    ("credits", "no_authorizer_context"): (403, {"error": "Not authenticated"}),
}

CASES = sorted(EVENTS.glob("*/*.json"))


def test_every_event_has_an_expectation() -> None:
    assert {(p.parent.name, p.stem) for p in CASES} == set(EXPECTED)


def _invoke(path: Path) -> Any:
    spec = template().functions()[FUNCTIONS[path.parent.name]]
    return call(load_handler(spec), json.loads(path.read_text()), context_for(spec))


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "authorizer"], ids=lambda p: p.stem)
def test_authorizer_events(path: Path, event_keys: dict[str, str]) -> None:
    expected = EXPECTED[("authorizer", path.stem)]
    if expected == "Unauthorized":
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            _invoke(path)
        return
    policy = _invoke(path)
    statement = policy["policyDocument"]["Statement"][0]
    assert statement["Effect"] == expected
    assert statement["Action"] == "execute-api:Invoke"
    # One decision covers every route of the stage, so API Gateway's cache serves them all.
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/*/*"
    if expected == "Allow":
        assert policy["context"]["account_id"] == EVENT_ACCOUNT
        assert policy["context"]["key_id"].startswith("key_")
        assert policy["principalId"] == policy["context"]["key_id"]
    else:
        assert "account_id" not in policy["context"]
    # Whatever the outcome, the key never travels back.
    assert event_keys["valid"] not in json.dumps(policy)


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "credits"], ids=lambda p: p.stem)
def test_credits_events(path: Path, event_keys: dict[str, str]) -> None:
    status, body = EXPECTED[("credits", path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status
    assert json.loads(response["body"]) == body
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
