"""Invalid request bodies through the real Lambda handlers: each is a 400 in its surface's envelope naming the
field at fault, before any rate-limit count, hold or upstream call (the balance, the ledger and the fake
upstream are as they were, and a key allowed one request per minute still has it)."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest

from tests.conftest import EVENTS, template
from unigate_tools.invoke import call, context_for, load_handler

ACCOUNT = "acct_validation"
START = 10_000_000
FUNCTIONS = {spec.code_dir.name: spec for spec in template().functions().values()}
GOOD = {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}]}
EMBED = {"model": "embed-test@alpha", "input": "hello"}


@cache
def _event_template(kind: str) -> dict[str, Any]:
    path = EVENTS / ("admin/create_account.json" if kind == "admin" else "chat_completions/echo_openai_surface.json")
    return json.loads(path.read_text())


def _invoke(function: str, method: str, path: str, body: Any, *, raw: str | None = None) -> tuple[int, Any]:
    event = copy.deepcopy(_event_template("admin" if function == "admin" else "paid"))
    event.update(path=path, resource=path, httpMethod=method, body=raw if raw is not None else json.dumps(body))
    event["requestContext"].update(path=f"/api{path}", httpMethod=method)
    if function != "admin":  # a key allowed one request a minute
        event["requestContext"]["authorizer"].update(account_id=ACCOUNT, key_id="key_validation", rpm="1")
    spec = FUNCTIONS[function]
    response = call(load_handler(spec), event, context_for(spec))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def funded(providers: Any) -> Any:
    from unigate.accounts import accounts, billing

    accounts.create_account(name="validation", account_id=ACCOUNT)
    billing.grant(ACCOUNT, START, idempotency_key="start")
    return providers


def _assert_untouched(fake: Any) -> None:
    from unigate.accounts import accounts
    from unigate.stores import accounts as store

    assert fake.received == []
    assert accounts.get_account(ACCOUNT).balance_micros == START
    entries, _ = store.list_ledger(ACCOUNT, limit=100)
    assert len(entries) == 1  # the grant only
    assert store.list_open_holds(ACCOUNT) == []


def _with(**fields: Any) -> dict[str, Any]:
    return {**GOOD, **fields}


def _message(content: Any, role: str = "user") -> dict[str, Any]:
    return _with(messages=[{"role": role, "content": content}])


# (case, function, path, body or raw JSON text, the field named)
BODIES: list[tuple[str, str, str, Any, str | None]] = [
    ("temperature a string", "chat_completions", "chat", _with(temperature="hot"), "temperature"),
    ("temperature 1e400", "chat_completions", "chat", '{"model": "gpt-4o@openai", "messages": [{"role": "user", '
                                                      '"content": "x"}], "temperature": 1e400}', "temperature"),
    ("temperature above 2", "chat_completions", "chat", _with(temperature=2.5), "temperature"),
    ("top_p 7", "chat_completions", "chat", _with(top_p=7), "top_p"),
    ("presence_penalty -3", "chat_completions", "chat", _with(presence_penalty=-3), "presence_penalty"),
    ("frequency_penalty a bool", "chat_completions", "chat", _with(frequency_penalty=True), "frequency_penalty"),
    ("n zero", "chat_completions", "chat", _with(n=0), "n"),
    ("n above MAX_N", "chat_completions", "chat", _with(n=9), "n"),
    ("max_completion_tokens zero", "chat_completions", "chat", _with(max_completion_tokens=0), "max_completion_tokens"),
    ("max_tokens a string", "chat_completions", "chat", _with(max_tokens="10"), "max_tokens"),
    ("a part that is not an object", "chat_completions", "chat", _message(["hi"]), "messages[0].content[0]"),
    ("a part of no known type", "chat_completions", "chat", _message([{"type": "video", "url": "x"}]),
     "messages[0].content[0]"),
    ("an image part without its url", "chat_completions", "chat",
     _message([{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {}}]),
     "messages[0].content[1].image_url.url"),
    ("a text part's text a number", "chat_completions", "chat", _message([{"type": "text", "text": 5}]),
     "messages[0].content[0].text"),
    ("a user message without content", "chat_completions", "chat", _with(messages=[{"role": "user"}]),
     "messages[0].content"),
    ("a tool without function", "chat_completions", "chat", _with(tools=[{"type": "function"}]), "tools[0].function"),
    ("a tool function without name", "chat_completions", "chat",
     _with(tools=[{"type": "function", "function": {"parameters": {}}}]), "tools[0].function.name"),
    ("200 tools", "chat_completions", "chat",
     _with(tools=[{"type": "function", "function": {"name": f"f{i}"}} for i in range(200)]), "tools"),
    ("stop with 10,000 entries", "chat_completions", "chat", _with(stop=["x"] * 10_000), "stop"),
    ("stop entries not strings", "chat_completions", "chat", _with(stop=[1, 2]), "stop[0]"),
    ("logit_bias beyond 100", "chat_completions", "chat", _with(logit_bias={"50256": 101}), "logit_bias.50256"),
    ("logit_bias with 5,000 entries", "chat_completions", "chat",
     _with(logit_bias={str(i): 1 for i in range(5000)}), "logit_bias"),
    ("stream a string", "chat_completions", "chat", _with(stream="yes"), "stream"),
    ("tags a string", "chat_completions", "chat", _with(tags="prod"), "tags"),
    ("drop_params a string", "chat_completions", "chat", _with(drop_params="no"), "drop_params"),
    ("a forbidden field deep down", "chat_completions", "chat", _with(metadata={"a": [{"api_base": "http://x"}]}),
     "metadata.a[0].api_base"),
    ("a fallback request's field", "chat_completions", "chat", [GOOD, _with(top_p=-1)], "[1].top_p"),
    ("embeddings: input an object", "embeddings", "embeddings", {**EMBED, "input": {"text": "x"}}, "input"),
    ("embeddings: an empty input", "embeddings", "embeddings", {**EMBED, "input": ["ok", ""]}, "input[1]"),
    ("embeddings: dimensions a string", "embeddings", "embeddings", {**EMBED, "dimensions": "8"}, "dimensions"),
    ("embeddings: encoding_format unknown", "embeddings", "embeddings", {**EMBED, "encoding_format": "int8"},
     "encoding_format"),
    ("inference: model empty", "inference", "/v0/inference",
     {"model": " ", "provider": "alpha", "arguments": {"messages": GOOD["messages"]}}, "model"),
    ("inference: provider a number", "inference", "/v0/inference",
     {"model": "routing-test", "provider": 5, "arguments": {"messages": GOOD["messages"]}}, "provider"),
    ("inference: a chat argument", "inference", "/v0/inference",
     {"model": "routing-test", "provider": "alpha", "arguments": {"messages": GOOD["messages"], "top_p": 7}},
     "arguments.top_p"),
    ("inference: an embedding argument", "inference", "/v0/inference",
     {"model": "embed-test", "provider": "alpha", "arguments": {"input": [[-1]]}}, "arguments.input[0][0]"),
]


# Each case on both surfaces (/v0/inference has only the one).
CASES = [(f"/{surface}/{'chat/completions' if where == 'chat' else where}" if not where.startswith("/") else where,
          case, function, body, param)
         for case, function, where, body, param in BODIES for surface in ("v0", "v1")
         if surface == "v0" or not where.startswith("/")]


@pytest.mark.parametrize(("path", "case", "function", "body", "param"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_an_invalid_body_is_a_400_naming_its_field_with_nothing_held_or_sent(
        funded: Any, path: str, case: str, function: str, body: Any, param: str) -> None:
    status, answer = _invoke(function, "POST", path, body, raw=body if isinstance(body, str) else None)
    assert status == 400, answer
    if path.startswith("/v1/"):
        assert answer["error"]["type"] == "invalid_request_error"
        assert answer["error"]["param"] == param
        assert set(answer["error"]) == {"message", "type", "param", "code"}
    else:
        assert isinstance(answer["error"], str)
        assert f"'{param}'" in answer["error"]
    _assert_untouched(funded)
    # The refusal counted against no limit: the key's one request a minute is still there.
    status, answer = _invoke("chat_completions", "POST", "/v1/chat/completions",
                             {"model": "echo@echo", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200, answer


def test_a_valid_body_is_forwarded_as_sent(funded: Any) -> None:
    """The validated request feeds the pipeline without gaining fields the client left out."""
    body = _with(temperature=1, stop=["\n"], metadata={"run": "7"},
                 messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"a": 1}}]}])
    status, answer = _invoke("chat_completions", "POST", "/v1/chat/completions", body)
    assert status == 200, answer
    forwarded = funded.received[-1].body
    assert forwarded["messages"] == body["messages"]
    assert {k: forwarded[k] for k in ("temperature", "stop")} == {"temperature": 1, "stop": ["\n"]}
    # The adapter always says whether it streams, and every request carries the output cap its hold priced
    # (issue #29: the endpoint's limit when the client sent none); nothing else is added (no model defaults,
    # no Unify extras).
    assert set(forwarded) == {"model", "messages", "temperature", "stop", "stream", "max_tokens"}


# (case, method, path, body, the field named)
ADMIN_BODIES: list[tuple[str, str, str, Any, str]] = [
    ("rpm a string", "POST", f"/admin/accounts/{ACCOUNT}/keys", {"rpm": "10"}, "rpm"),
    ("allowed_models a string", "POST", f"/admin/accounts/{ACCOUNT}/keys", {"allowed_models": "gpt-4o"},
     "allowed_models"),
    ("allowed_models of numbers", "POST", f"/admin/accounts/{ACCOUNT}/keys", {"allowed_models": [4]},
     "allowed_models[0]"),
    ("expires_in_days infinite", "POST", f"/admin/accounts/{ACCOUNT}/keys", '{"expires_in_days": 1e400}',
     "expires_in_days"),
    ("an unknown field", "POST", f"/admin/accounts/{ACCOUNT}/keys", {"allowed_model": ["gpt-4o"]}, "allowed_model"),
    ("limits: tpm a string", "PUT", "/admin/keys/key_x/limits", {"tpm": "5"}, "tpm"),
    ("grant: no idempotency key", "POST", f"/admin/accounts/{ACCOUNT}/credits", {"amount": "5"}, "idempotency_key"),
    ("grant: amount a list", "POST", f"/admin/accounts/{ACCOUNT}/credits",
     {"amount": ["5"], "idempotency_key": "k"}, "amount"),
    ("plan: max_per_period a string", "POST", f"/admin/accounts/{ACCOUNT}/plans",
     {"kind": "periodic", "amount": "1", "max_per_period": "2"}, "max_per_period"),
    ("deployment: replace a string", "POST", "/admin/deployments",
     {"name": "d", "endpoint": "echo@echo", "replace": "yes"}, "replace"),
]


@pytest.mark.parametrize(("case", "method", "path", "body", "param"), ADMIN_BODIES, ids=[b[0] for b in ADMIN_BODIES])
def test_an_invalid_admin_body_is_a_400_naming_its_field_and_changes_nothing(
        funded: Any, case: str, method: str, path: str, body: Any, param: str) -> None:
    from unigate.accounts import auth
    from unigate.catalog import deployments
    from unigate.stores import plans

    status, answer = _invoke("admin", method, path, body, raw=body if isinstance(body, str) else None)
    assert status == 400, answer
    assert f"'{param}'" in answer["error"]
    assert auth.list_keys(ACCOUNT) == []
    assert plans.for_account(ACCOUNT) == []
    assert deployments.listed() == []
    _assert_untouched(funded)


def test_admin_bodies_of_the_right_types_still_work(funded: Any) -> None:
    status, created = _invoke("admin", "POST", f"/admin/accounts/{ACCOUNT}/keys",
                              {"allowed_models": ["gpt-4o"], "rpm": 10})
    assert status == 200, created
    assert (created["allowed_models"], created["rpm"]) == (["gpt-4o"], 10)
    status, limited = _invoke("admin", "PUT", f"/admin/keys/{created['key_id']}/limits", {"tpm": 500})
    assert (status, limited["tpm"]) == (200, 500)
    status, _ = _invoke("admin", "POST", f"/admin/accounts/{ACCOUNT}/keys", None, raw="")  # no body: defaults
    assert status == 200
