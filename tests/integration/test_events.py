"""Every file under events/ through the real handler of its function, under moto.

The same files work with `sam local invoke <Function> -e events/<function>/<case>.json`.
"""

import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from tests.conftest import EVENT_ACCOUNT, EVENTS, template
from unigate.catalog.entries import get_catalog
from unigate_tools.invoke import call, context_for, load_handler

# function folder -> the function's logical id in template.yaml
FUNCTIONS = {
    spec.code_dir.name: name for name, spec in template().functions().items()
}

RESPONSE_NOT_FOUND = {"error": {"message": "Response with id 'resp_0123456789abcdef' not found.",
                                "type": "not_found_error", "param": None, "code": None}}

EXPECTED: dict[tuple[str, str], Any] = {
    # The authorizer allows every request; without a caller, the context says why (the route answers it).
    ("authorizer", "valid_key"): None,
    ("authorizer", "x_api_key"): None,
    ("authorizer", "azure_api_key"): None,
    ("authorizer", "unknown_key"): "invalid_api_key",
    ("authorizer", "revoked_key"): "invalid_api_key",
    ("authorizer", "expired_key"): "invalid_api_key",
    ("authorizer", "malformed_header"): "invalid_api_key",
    ("authorizer", "missing_header"): "not_authenticated",
    ("messages", "echo"): (200, "Hello from an event"),
    ("messages", "echo_stream"): (200, "Hello from an event"),
    ("messages", "count_tokens"): (200, None),
    ("messages", "missing_max_tokens"): (400, {"type": "error", "error": {
        "type": "invalid_request_error", "message": "Invalid 'max_tokens': Field required."}}),
    ("messages", "invalid_key"): (401, {"type": "error", "error": {
        "type": "authentication_error", "message": "Invalid API key"}}),
    ("messages", "insufficient_credits"): (402, {"type": "error", "error": {
        "type": "billing_error",
        "message": "Insufficient credits: the balance cannot cover the worst-case cost of this request."}}),
    ("credits", "credits"): (200, {"id": EVENT_ACCOUNT, "credits": 10.0}),
    ("credits", "get_credits_legacy"): (200, {"id": EVENT_ACCOUNT, "credits": 10.0}),
    ("credits", "no_authorizer_context"): (403, {"detail": "Not authenticated"}),
    ("credits", "spend_by_endpoint"): (200, {
        "object": "spend", "group_by": "endpoint", "granularity": "day", "start_time": "2026-11-01T00:00:00Z",
        "end_time": "2026-11-22T07:00:00Z", "total": {"cost": 0.0, "requests": 0}, "groups": []}),
    ("credits", "spend_bad_group"): (400, {"error": "'group_by' is one of key, endpoint, model, tag."}),
    ("credits", "key"): (200, {
        "object": "key", "key_id": "key_0123456789abcdef", "allowed_models": [], "rpm": None, "tpm": None,
        "budget": {"budget": 5.0, "period": "month", "period_start": ANY, "period_end": ANY, "spent": 0.0,
                   "held": 0.0, "remaining": 5.0},
        "spend": {"today": 0.0, "this_month": 0.0, "requests_this_month": 0}}),
    ("catalog", "models"): (200, None),
    # The generated catalog's own answers (its contents move with each refresh).
    ("catalog", "models_of_provider"): (200, lambda: sorted({e.model for e in get_catalog().endpoints.values()
                                                             if e.provider == "groq"})),
    ("catalog", "providers_of_model"): (200, lambda: sorted({e.provider for e in
                                                             get_catalog().endpoints_of("llama-3.1-70b-chat")})),
    ("catalog", "endpoints"): (200, ["llama-3.1-70b-chat@together-ai"]),
    ("catalog", "endpoint_metrics"): (200, [{"endpoint": "echo@echo", "ttft": None, "ttft_p90": None, "itl": None,
                                             "itl_p90": None, "tks_per_sec": None, "input_cost": 1.0,
                                             "output_cost": 2.0, "error_rate": 0.0, "samples": 0,
                                             "measured_at": None}]),
    ("catalog", "openai_models"): (200, None),
    ("catalog", "openai_model"): (200, {
        "id": "echo@echo", "object": "model", "created": 0, "owned_by": "echo", "type": "chat",
        "context_length": 1000000, "max_completion_tokens": 4096,
        "top_provider": {"context_length": 1000000, "max_completion_tokens": 4096},
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "pricing": {"prompt": "0.000001", "completion": "0.000002", "input_cache_read": "0.0000005",
                    "input_cache_write": "0.00000125", "input_cache_write_1h": "0.000002",
                    "internal_reasoning": "0.000002"},
        "capabilities": [], "supported_parameters": sorted(
            ["frequency_penalty", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "n",
             "parallel_tool_calls", "presence_penalty", "response_format", "seed", "stop", "stream", "stream_options",
             "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user"]),
        "native": [], "deprecation_date": None}),
    ("catalog", "unknown_provider"): (404, {"error": "Unknown provider: nope"}),
    ("catalog", "endpoint_metrics_history"): (200, None),
    ("catalog", "endpoint_metrics_history_too_old"): (400, {
        "error": "'since' may go back at most 7 days: older windows are not kept."}),
    ("catalog", "endpoint_metrics_choices"): (200, {"model": "echo", "choices": [
        {"meta_provider": f"@{name}", "endpoint": "echo@echo", "reason": None}
        for name in ("lowest-input-cost", "lowest-output-cost", "cost", "lowest-ttft", "lowest-itl",
                     "highest-tks-per-sec")]}),
    ("console", "page"): (200, "text/html; charset=utf-8"),
    ("console", "head"): (200, "text/html; charset=utf-8"),
    ("console", "asset"): (200, "text/javascript; charset=utf-8"),
    ("console", "not_found"): (404, "application/json"),
    ("catalog", "info"): (200, {"model_name": "echo-embed", "model_type": "embeddings", "model_provider_name": "echo"}),
    ("embeddings", "echo"): (200, 2),
    ("embeddings", "openai_surface_base64"): (200, 1),
    ("embeddings", "image"): (200, 1),
    ("embeddings", "chat_model"): (422, {"error": "echo@echo is not an embedding model."}),
    ("embeddings", "empty_input"): (400, {"error": {
        "message": "Invalid 'input': List should have at least 1 item after validation, not 0.",
        "type": "invalid_request_error", "param": "input", "code": None}}),
    ("inference", "chat"): (200, "chat.completion"),
    ("inference", "embedding"): (200, "list"),
    ("inference", "missing_provider"): (400, {"error": "Invalid 'provider': Field required."}),
    ("inference", "mismatched_arguments"): (422, {
        "error": "The provided arguments don't correspond to the specified model."}),
    ("custom_keys", "create"): (200, {"info": "API key created successfully!"}),
    ("custom_keys", "list"): (200, []),
    ("admin", "create_account"): (200, {"account_id": "acct_admin_event", "name": "Team C"}),
    ("admin", "show_account"): (200, {"account_id": EVENT_ACCOUNT, "name": "events", "status": "active",
                                      "credits": "10.0", "created_at": ANY}),
    ("admin", "with_user_key"): (403, {"error": "Admin routes need AWS IAM (SigV4) authorization; unigate keys "
                                                "are not accepted."}),
    ("custom_keys", "list_endpoints"): (200, []),
    ("custom_keys", "bad_name"): (400, {"error": "'name' must be 1-64 characters of A-Z a-z 0-9 . _ -"}),
    ("queries", "recent"): (200, {"queries": [], "next_cursor": None}),
    ("queries", "failures_tagged"): (200, {"queries": [], "next_cursor": None}),
    ("queries", "bad_time"): (400, {"error": "'start_time' must be an ISO 8601 time, e.g. 2026-11-22T07:00:00Z."}),
    ("credit_topup", "scheduled"): None,
    ("hold_sweeper", "scheduled"): {"charged": []},
    ("credit_topup", "one_off"): None,
    ("endpoint_probe", "scheduled"): ["echo@echo"],
    ("endpoint_probe", "configured_list"): ["echo@echo"],
    ("completions", "echo"): (200, "Hello from an event"),
    ("completions", "echo_stream"): (200, "Hello from an eventHello from an event"),
    ("completions", "unify_surface"): (200, "Hello from an event"),
    ("completions", "several_prompts_translated"): (200, "one"),  # the first prompt's choice
    ("azure_openai", "chat"): (200, "Hello from an event"),
    ("azure_openai", "chat_stream"): (200, "Hello from an event"),
    ("azure_openai", "completions"): (200, "Hello from an event"),
    ("azure_openai", "embeddings"): (200, 2),
    ("azure_openai", "missing_api_version"): (400, {"error": {
        "code": "MissingApiVersionParameter",
        "message": "The api-version query parameter (?api-version=) is required for all requests.",
        "param": "api-version"}}),
    ("azure_openai", "unknown_deployment"): (404, {"error": {
        "code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist. If you created "
        "the deployment within the last 5 minutes, please wait a moment and try again.", "param": "deployment"}}),
    ("chat_completions", "echo"): (200, "Hello from an event"),
    ("chat_completions", "echo_openai_surface"): (200, "Hello from an event"),
    ("chat_completions", "echo_stream"): (200, "Hello from an event"),
    ("chat_completions", "forbidden_field"): (400, {"error": {
        "message": "The field 'metadata.api_base' is not allowed: upstream URLs and credentials come only from the "
                   "gateway's configuration.", "type": "invalid_request_error", "param": "metadata.api_base",
        "code": None}}),
    ("chat_completions", "unknown_model"): (404, {"error": "Unknown endpoint: gpt-9@openai"}),
    ("chat_completions", "malformed_json"): (400, {"error": "Invalid JSON: Expecting value at line 1 column 37."}),
    ("chat_completions", "insufficient_credits"): (402, {"error": "Insufficient credits: the balance cannot cover the "
                                                                  "worst-case cost of this request."}),
    ("responses", "echo"): (200, "Hello from an event"),
    ("responses", "echo_stream"): (200, "Hello from an event"),
    ("responses", "web_search_dropped"): (200, "Hello from an event"),
    ("responses", "bad_item"): (400, {"error": {
        "message": "Invalid 'input[0].call_id': Field required.", "type": "invalid_request_error",
        "param": "input[0].call_id", "code": None}}),
    ("responses", "input_tokens"): (200, {"object": "response.input_tokens", "input_tokens": 12}),
    ("responses", "unknown_response"): (404, RESPONSE_NOT_FOUND),
    ("responses", "delete_unknown"): (404, RESPONSE_NOT_FOUND),
    ("responses", "input_items_unknown"): (404, RESPONSE_NOT_FOUND),
    ("responses", "cancel_unknown"): (404, RESPONSE_NOT_FOUND),
    ("responses", "background"): (400, {"error": {
        "message": "Background responses are not supported: unigate answers each response while the request is "
                   "open; send it without background.", "type": "invalid_request_error", "param": "background",
        "code": None}}),
    # The Azure surface's Responses routes: the same service, Azure's envelope.
    ("responses", "azure_echo"): (200, "Hello from an event"),
    ("responses", "azure_missing_api_version"): (400, {"error": {
        "code": "MissingApiVersionParameter",
        "message": "The api-version query parameter (?api-version=) is required for all requests.",
        "param": "api-version"}}),
    ("responses", "azure_unknown_deployment"): (404, {"error": {
        "code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist. If you created "
        "the deployment within the last 5 minutes, please wait a moment and try again.", "param": "deployment"}}),
    ("responses", "azure_unknown_response"): (404, {"error": {
        "code": "404", "message": "Response with id 'resp_unknown' not found."}}),
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
    policy = _invoke(path)
    statement = policy["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/*/*"
    if expected is None:
        assert policy["context"]["account_id"] == EVENT_ACCOUNT
        assert policy["context"]["key_id"].startswith("key_")
        assert policy["principalId"] == policy["context"]["key_id"]
        assert "error" not in policy["context"]
    else:
        assert policy["context"] == {"error": expected}
        assert policy["principalId"] == "anonymous"
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


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "chat_completions"], ids=lambda p: p.stem)
def test_chat_completions_events(path: Path, event_keys: dict[str, str]) -> None:
    from unigate.accounts import accounts
    from unigate.stores import accounts as store

    accounts.create_account(account_id="acct_events_empty")
    status, expected = EXPECTED[("chat_completions", path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    balance = accounts.get_account(EVENT_ACCOUNT).balance_micros
    if isinstance(expected, dict):
        assert json.loads(response["body"]) == expected
        assert balance == 10_000_000  # refused before any hold
    elif path.stem == "echo_stream":
        assert headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response["body"].split("\n\n") if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == expected
        assert balance == 10_000_000 - round(chunks[-1]["usage"]["cost"] * 1_000_000)
    else:
        body = json.loads(response["body"])
        assert body["choices"][0]["message"]["content"] == expected
        assert body["model"] == "echo@echo"
        assert headers["x-unigate-endpoint"] == "echo@echo"
        assert balance == 10_000_000 - round(body["usage"]["cost"] * 1_000_000)
        assert headers["x-unigate-cost"] == f"{body['usage']['cost']:f}".rstrip("0")
    assert store.ledger_sum(EVENT_ACCOUNT) == balance
    assert store.list_open_holds(EVENT_ACCOUNT) == []


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "messages"], ids=lambda p: p.stem)
def test_messages_events(path: Path, event_keys: dict[str, str]) -> None:
    from unigate.accounts import accounts
    from unigate.stores import accounts as store

    accounts.create_account(account_id="acct_events_empty")
    status, expected = EXPECTED[("messages", path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    balance = accounts.get_account(EVENT_ACCOUNT).balance_micros
    if isinstance(expected, dict):
        assert json.loads(response["body"]) == expected
        assert balance == 10_000_000  # refused before any hold
    elif path.stem == "count_tokens":
        assert json.loads(response["body"])["input_tokens"] > 0
        assert balance == 10_000_000  # counting is free
    elif path.stem == "echo_stream":
        assert headers["content-type"].startswith("text/event-stream")
        events = [json.loads(block.split("\ndata: ", 1)[1]) for block in response["body"].split("\n\n") if block]
        assert [e["type"] for e in events][:2] == ["message_start", "ping"]
        assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]
        text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
        assert text == expected
        assert balance < 10_000_000
    else:
        body = json.loads(response["body"])
        assert (body["type"], body["content"][0]["text"]) == ("message", expected)
        assert headers["x-unigate-endpoint"] == "echo@echo"
        assert balance == 10_000_000 - round(float(headers["x-unigate-cost"]) * 1_000_000)
    assert store.ledger_sum(EVENT_ACCOUNT) == balance
    assert store.list_open_holds(EVENT_ACCOUNT) == []


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "responses"], ids=lambda p: p.stem)
def test_responses_events(path: Path, event_keys: dict[str, str]) -> None:
    from unigate.accounts import accounts
    from unigate.stores import accounts as store

    status, expected = EXPECTED[("responses", path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    balance = accounts.get_account(EVENT_ACCOUNT).balance_micros
    if isinstance(expected, dict):
        assert json.loads(response["body"]) == expected
        assert balance == 10_000_000  # nothing held or charged
    elif path.stem == "echo_stream":
        assert headers["content-type"].startswith("text/event-stream")
        events = [json.loads(b.split("\n")[1][6:]) for b in response["body"].split("\n\n") if b.strip()]
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        final = events[-1]["response"]
        assert events[-1]["type"] == "response.completed"
        assert final["output"][0]["content"][0]["text"] == expected
        assert balance == 10_000_000 - round(final["usage"]["cost"] * 1_000_000)
    else:
        body = json.loads(response["body"])
        assert body["status"] == "completed"
        assert body["output"][0]["content"][0]["text"] == expected
        assert balance == 10_000_000 - round(body["usage"]["cost"] * 1_000_000)
        if path.stem == "web_search_dropped":
            assert headers["x-unigate-dropped-params"] == "tools.web_search"
    assert store.ledger_sum(EVENT_ACCOUNT) == balance
    assert store.list_open_holds(EVENT_ACCOUNT) == []


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "catalog"], ids=lambda p: p.stem)
def test_catalog_events(path: Path, event_keys: dict[str, str]) -> None:
    status, expected = EXPECTED[("catalog", path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    body = json.loads(response["body"])
    if path.stem == "models":
        assert {"gpt-4o", "claude-haiku-4.5", "echo", "llama-3.1-70b-chat"} <= set(body)
        assert body == sorted(body)
    elif path.stem == "openai_models":
        assert body["object"] == "list"
        (gpt,) = [m for m in body["data"] if m["id"] == "gpt-4o@openai"]
        assert {"object": "model", "created": 0, "owned_by": "openai", "context_length": 128000}.items() <= gpt.items()
        assert gpt["pricing"]["prompt"] == "0.0000025"
    elif path.stem == "endpoint_metrics_history":
        # 24 hours in steps of an hour (and the hour under way), none measured yet.
        assert body["endpoint"] == "echo@echo"
        assert body["step"] == 3600
        assert len(body["points"]) in (25, 26)
        assert {p["samples"] for p in body["points"]} == {0}
        assert {p["ttft"] for p in body["points"]} == {None}
    else:
        assert body == (expected() if callable(expected) else expected)
    if status == 200 and not path.stem.startswith("endpoint_metrics"):
        headers = {k.lower(): v for k, v in response["headers"].items()}
        assert headers["cache-control"] == "private, max-age=60"
        event = json.loads(path.read_text())
        event["headers"]["If-None-Match"] = headers["etag"]
        event["multiValueHeaders"]["If-None-Match"] = [headers["etag"]]
        spec = template().functions()[FUNCTIONS["catalog"]]
        again = call(load_handler(spec), event, context_for(spec))
        assert again["statusCode"] == 304


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "endpoint_probe"], ids=lambda p: p.stem)
def test_endpoint_probe_events(path: Path, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from unigate.catalog import metrics

    monkeypatch.setenv("UNIGATE_PROBE_ENDPOINTS", "echo@echo")
    result = _invoke(path)
    assert [p["endpoint"] for p in result["probed"]] == EXPECTED[("endpoint_probe", path.stem)]
    assert all(p["outcome"] == "ok" for p in result["probed"])
    stats = metrics.stats("echo@echo", fresh=True)
    assert stats.samples == 1
    assert stats.ttft_samples == 1


def test_credit_topup_events(event_keys: dict[str, str]) -> None:
    from unigate.accounts import accounts, topups

    plan = topups.create_plan(EVENT_ACCOUNT, kind="periodic", period="month", amount="1")
    for _ in range(2):  # a redelivered scheduled event applies nothing more
        scheduled = _invoke(EVENTS / "credit_topup/scheduled.json")
        assert scheduled["plans"] == [{"account_id": EVENT_ACCOUNT, "plan_id": plan["plan_id"], "period": "2026-11",
                                       "result": scheduled["plans"][0]["result"]}]
    assert accounts.get_account(EVENT_ACCOUNT).balance_micros == 11_000_000
    first, again = _invoke(EVENTS / "credit_topup/one_off.json"), _invoke(EVENTS / "credit_topup/one_off.json")
    assert (first["applied"], again["applied"]) == (True, False)
    assert accounts.get_account(EVENT_ACCOUNT).balance_micros == 36_500_000


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name in ("embeddings", "inference")],
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_paid_events(path: Path, event_keys: dict[str, str]) -> None:
    """Embeddings and inference events: what they return and that the balance moved by exactly the cost."""
    from unigate.accounts import accounts
    from unigate.stores import accounts as store

    status, expected = EXPECTED[(path.parent.name, path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    body = json.loads(response["body"])
    balance = accounts.get_account(EVENT_ACCOUNT).balance_micros
    if isinstance(expected, dict):
        assert body == expected
        assert balance == 10_000_000
    else:
        result = body["response"] if path.parent.name == "inference" else body
        assert result["object"] == (expected if isinstance(expected, str) else "list")
        if isinstance(expected, int):
            assert len(result["data"]) == expected
        assert balance == 10_000_000 - round(result["usage"]["cost"] * 1_000_000)
        assert response["headers"]["x-unigate-endpoint"].startswith("echo")
    assert store.ledger_sum(EVENT_ACCOUNT) == balance
    assert store.list_open_holds(EVENT_ACCOUNT) == []


def test_hold_sweeper_event(event_keys: dict[str, str]) -> None:
    from unigate.accounts import billing

    held = billing.hold(EVENT_ACCOUNT, 1_000)  # fresh: not stale, so not released
    assert _invoke(EVENTS / "hold_sweeper/scheduled.json") == EXPECTED[("hold_sweeper", "scheduled")]
    assert billing.release(held)


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "console"], ids=lambda p: p.stem)
def test_console_events(path: Path) -> None:
    status, content_type = EXPECTED[("console", path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status
    headers = response["headers"]
    assert headers["Content-Type"] == content_type
    assert headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")
    assert headers["X-Content-Type-Options"] == "nosniff"
    if path.stem == "page":
        assert headers["Cache-Control"] == "no-cache"
        assert '<script type="module" src="console/v-' in response["body"]
    if path.stem == "asset":
        assert headers["Cache-Control"] == "public, max-age=300"
    if path.stem == "head":  # HEAD / (Claude Code's first request): the page's headers, no body
        assert response["body"] == ""


# Functions whose events expect a status and an exact JSON body.
SIMPLE = ("queries", "custom_keys", "admin")


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name in SIMPLE],
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_simple_events(path: Path, event_keys: dict[str, str]) -> None:
    status, expected = EXPECTED[(path.parent.name, path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    assert json.loads(response["body"]) == expected


def _text_of(body: dict[str, Any]) -> str:
    choice = body["choices"][0]
    return choice["text"] if body["object"] == "text_completion" else choice["message"]["content"]


def _streamed(body: str) -> tuple[str, dict[str, Any]]:
    """A stream's text and its last chunk (the usage chunk)."""
    events = [line[6:] for line in body.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["text"] if c["object"] == "text_completion" else
                   c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    return text, chunks[-1]


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name in ("completions", "azure_openai")],
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_completions_and_azure_events(path: Path, event_keys: dict[str, str]) -> None:
    """Legacy completions and the Azure surface (against deployments of mixed-case names): what they return,
    the balance moved by exactly the cost, and refusals before any hold in the surface's envelope."""
    from unigate.accounts import accounts
    from unigate.catalog import deployments
    from unigate.stores import accounts as store

    deployments.create("Echo-Team", "echo@echo")
    deployments.create("echo-EMBED-team", "echo-embed@echo")
    status, expected = EXPECTED[(path.parent.name, path.stem)]
    response = _invoke(path)
    assert response["statusCode"] == status, response["body"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    balance = accounts.get_account(EVENT_ACCOUNT).balance_micros
    if isinstance(expected, dict):
        assert json.loads(response["body"]) == expected
        assert balance == 10_000_000
    elif headers["content-type"].startswith("text/event-stream"):
        text, last = _streamed(response["body"])
        assert text == expected
        assert balance == 10_000_000 - round(last["usage"]["cost"] * 1_000_000)
    else:
        body = json.loads(response["body"])
        if isinstance(expected, int):
            assert len(body["data"]) == expected
        else:
            assert _text_of(body) == expected
        assert balance == 10_000_000 - round(body["usage"]["cost"] * 1_000_000)
        assert headers["x-unigate-endpoint"].startswith("echo")
        if path.parent.name == "azure_openai":
            assert headers["x-unigate-deployment"] in ("Echo-Team", "echo-EMBED-team")
    assert store.ledger_sum(EVENT_ACCOUNT) == balance
    assert store.list_open_holds(EVENT_ACCOUNT) == []
