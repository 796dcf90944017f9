"""The official `anthropic` SDK as the client of the local server: Anthropic's Messages API to echo, to an
OpenAI-family upstream (translated) and to the fake Anthropic upstream (passed through)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from tests.e2e.conftest import LocalServer, credits_of

WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _client(server: LocalServer, key: str | None = None, *, bearer: bool = False) -> anthropic.Anthropic:
    if bearer:
        return anthropic.Anthropic(base_url=server.url, auth_token=key or server.key, api_key=None, max_retries=0,
                                   timeout=30)
    return anthropic.Anthropic(base_url=server.url, api_key=key or server.key, max_retries=0, timeout=30)


def _account_with(server: LocalServer, credits: str, **key_options: str) -> str:
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", credits, "--idempotency-key", "e2e")
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in key_options.items()]
    return server.cli_json("keys", "create", "--account", account, *extra)["key"]


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """An event stream's (event, data) pairs, checking that each event's name is its data's type."""
    events = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        events.append((lines["event"], data))
    return events


def _grammar(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Anthropic's documented order: message_start, then blocks each start / delta* / stop with indices in
    order, one open at a time, then message_delta and message_stop; ping anywhere after message_start."""
    names = [name for name, _ in events if name != "ping"]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    expected, open_index = 0, None
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None
            assert data["index"] == expected
            open_index = expected
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index, expected = None, expected + 1
        else:
            assert name == "ping", name
    assert open_index is None


def test_create_to_echo_with_either_header_charges_exactly_its_cost(server: LocalServer) -> None:
    for bearer in (False, True):
        before = credits_of(server)
        raw = _client(server, bearer=bearer).messages.with_raw_response.create(
            model="echo@echo", max_tokens=100, messages=[{"role": "user", "content": "Hello, unigate!"}])
        message = raw.parse()
        assert message.content[0].type == "text"
        assert message.content[0].text == "Hello, unigate!"
        assert (message.role, message.stop_reason, message.model) == ("assistant", "end_turn", "echo@echo")
        assert message.usage.input_tokens > 0
        assert message.usage.output_tokens > 0
        assert raw.headers["x-unigate-endpoint"] == "echo@echo"
        cost = Decimal(raw.headers["x-unigate-cost"])
        assert cost > 0
        assert before - credits_of(server) == cost


def test_stream_to_echo_in_anthropics_grammar(server: LocalServer) -> None:
    before = credits_of(server)
    with _client(server).messages.stream(model="echo@echo", max_tokens=100,
                                         messages=[{"role": "user", "content": "one two three four"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three four"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4
    assert before > credits_of(server)
    body = {"model": "echo@echo", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "five six"}]}
    response = httpx.post(f"{server.url}/v1/messages", json=body, headers={"x-api-key": server.key}, timeout=30)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    _grammar(events)
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] > 0  # real input tokens in message_start, never 0
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"]["output_tokens"] == 2


def test_tool_use_round_trip_through_echo(server: LocalServer) -> None:
    client = _client(server)
    question = [{"role": "user", "content": "Use get_weather for Paris"}]
    first = client.messages.create(model="echo@echo", max_tokens=200, tools=[WEATHER], messages=question)
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather"
    assert set(call.input) == {"city"}
    answer = client.messages.create(model="echo@echo", max_tokens=200, tools=[WEATHER], messages=[
        *question, {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]}])
    assert answer.content[0].text == "Sunny, 21 C"  # type: ignore[union-attr]
    # Streamed, the tool call's input arrives as input_json_delta pieces.
    with client.messages.stream(model="echo@echo", max_tokens=200, tools=[WEATHER], messages=question) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["tool_use"]


def test_translation_to_an_openai_family_upstream(server: LocalServer, fake_upstream: Any) -> None:
    client = _client(server)
    message = client.messages.create(
        model="gpt-4o@openai", max_tokens=100, system="Be brief.", stop_sequences=["END"],
        extra_body={"temperature": 0.5}, metadata={"user_id": "u-1"},
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "hi there"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]}])
    assert message.content[0].text == "fake reply to: hi there"  # type: ignore[union-attr]
    sent = fake_upstream.last("/chat/completions").body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    parts = sent["messages"][1]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert parts[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert (sent["stop"], sent["temperature"]) == (["END"], 0.5)
    # A tool call from the upstream becomes a tool_use block, and its result goes back as a tool message.
    called = client.messages.create(model="gpt-4o@openai", max_tokens=100, tools=[WEATHER],
                                    tool_choice={"type": "any"},
                                    messages=[{"role": "user", "content": "scenario:tool"}])
    assert called.stop_reason == "tool_use"
    tool = next(b for b in called.content if b.type == "tool_use")
    assert (tool.name, tool.input) == ("get_weather", {"city": "Paris"})
    assert fake_upstream.last("/chat/completions").body["tool_choice"] == "required"
    client.messages.create(model="gpt-4o@openai", max_tokens=100, tools=[WEATHER], messages=[
        {"role": "user", "content": "scenario:tool"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}, *[
            b.model_dump() for b in called.content]]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id,
                                      "content": [{"type": "text", "text": "Sunny"}, {"type": "text", "text": "21 C"}]},
                                     {"type": "text", "text": "and tomorrow?"}]}])
    sent = fake_upstream.last("/chat/completions").body
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                                "arguments": json.dumps({"city": "Paris"})}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": tool.id, "content": "Sunny\n21 C"}
    assert "signature" not in json.dumps(sent)
    assert "thinking" not in json.dumps(sent)


def test_streamed_translation_keeps_tool_calls_and_unknown_fields_are_dropped_and_listed(server: LocalServer,
                                                                                     fake_upstream: Any) -> None:
    body = {"model": "gpt-4o@openai", "max_tokens": 100, "stream": True, "tools": [WEATHER],
            "output_config": {"effort": "high"}, "context_management": {"edits": []},
            "messages": [{"role": "user", "content": "scenario:tool"}]}
    response = httpx.post(f"{server.url}/v1/messages?beta=true", json=body, timeout=30,
                          headers={"x-api-key": server.key, "anthropic-version": "2023-06-01",
                                   "anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert response.status_code == 200
    assert set(response.headers["x-unigate-dropped-params"].split(",")) >= {"context_management", "output_config"}
    events = _events(response)
    _grammar(events)
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["tool_use"]
    arguments = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert json.loads(arguments) == {"city": "Paris"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    received = fake_upstream.last("/chat/completions")
    assert "anthropic-beta" not in received.headers
    assert "output_config" not in received.body


def test_native_pass_through_keeps_thinking_signatures_cache_control_and_betas(server: LocalServer,
                                                                               fake_upstream: Any) -> None:
    thinking = {"type": "thinking", "thinking": "Let me think about the weather.",
                "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}
    cached = {"type": "text", "text": "A long shared context.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 512},
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "system": [cached],
            "messages": [{"role": "user", "content": "What is the weather?"},
                         {"role": "assistant", "content": [thinking, {"type": "text", "text": "Sunny."}]},
                         {"role": "user", "content": [cached, {"type": "text", "text": "And tomorrow?"}]}]}
    betas = "interleaved-thinking-2025-05-14,context-management-2025-06-27"
    headers = {"x-api-key": server.key, "anthropic-version": "2023-06-01", "anthropic-beta": betas}
    before = credits_of(server)
    response = httpx.post(f"{server.url}/v1/messages?beta=true", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["x-unigate-endpoint"] == "claude-sonnet-4.5@anthropic"
    received = fake_upstream.last("/v1/messages")
    assert received.headers["anthropic-beta"] == betas
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert received.query == "beta=true"
    assert received.headers["x-api-key"] == "sk-ant-canary-0123456789"
    assert received.body["model"] == "claude-sonnet-4-5-20250929"
    assert received.body["messages"][1]["content"][0] == thinking
    assert received.body["messages"][2]["content"][0] == cached
    assert received.body["system"] == [cached]
    assert {k: received.body[k] for k in ("thinking", "context_management")} == {
        k: body[k] for k in ("thinking", "context_management")}
    assert response.json()["id"] == "msg_fake"
    assert response.json()["usage"]["input_tokens"] == 11
    assert before - credits_of(server) == Decimal(response.headers["x-unigate-cost"]) > 0
    # Streamed: the upstream's events arrive as it sent them.
    with httpx.stream("POST", f"{server.url}/v1/messages", json={**body, "stream": True}, headers=headers,
                      timeout=30) as streamed:
        streamed.read()
    events = _events(streamed)
    _grammar(events)
    assert events[0][1]["message"]["id"] == "msg_fake"
    assert "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta") == \
        "fake reply to: A long shared context.And tomorrow?"


def test_anthropic_model_ids_resolve_to_the_anthropic_endpoint(server: LocalServer, fake_upstream: Any) -> None:
    client = _client(server)
    for model, upstream in (("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
                            ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001"),
                            ("claude-haiku-4.5@anthropic", "claude-haiku-4-5-20251001")):
        raw = client.messages.with_raw_response.create(model=model, max_tokens=50,
                                                       messages=[{"role": "user", "content": "hi"}])
        assert fake_upstream.last("/v1/messages").body["model"] == upstream
        assert raw.headers["x-unigate-endpoint"].endswith("@anthropic")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="claude-nonexistent-9", max_tokens=50,
                               messages=[{"role": "user", "content": "hi"}])


def test_betas_and_signatures_never_reach_an_openai_family_upstream(server: LocalServer, fake_upstream: Any) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key=server.key, max_retries=0,
                                 default_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    client.messages.create(model="gpt-4o@openai", max_tokens=50, messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "SIGNATURE-123"},
                                          {"type": "text", "text": "hello"}]},
        {"role": "user", "content": "again"}])
    received = fake_upstream.last("/chat/completions")
    assert "anthropic-beta" not in received.headers
    assert "anthropic-version" not in received.headers
    assert "SIGNATURE-123" not in json.dumps(received.body)


def test_error_classes_in_anthropics_envelope(server: LocalServer) -> None:
    messages = [{"role": "user", "content": "hello"}]
    for bearer in (False, True):
        with pytest.raises(anthropic.AuthenticationError) as refused:
            _client(server, "ug_not_a_key", bearer=bearer).messages.create(model="echo@echo", max_tokens=10,
                                                                           messages=messages)
        assert refused.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                                 "message": "Invalid API key"}}
    missing = httpx.post(f"{server.url}/v1/messages", json={"model": "echo@echo", "max_tokens": 5,
                                                              "messages": messages}, timeout=30)
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    restricted = _account_with(server, "1", allow_model="echo@echo")
    with pytest.raises(anthropic.PermissionDeniedError):
        _client(server, restricted).messages.create(model="gpt-4o@openai", max_tokens=10, messages=messages)
    with pytest.raises(anthropic.NotFoundError):
        _client(server).messages.create(model="gpt-9@openai", max_tokens=10, messages=messages)
    with pytest.raises(anthropic.BadRequestError) as bad:
        _client(server).messages.create(model="echo@echo", max_tokens=10, messages=messages,
                                        metadata={"user_id": "u", "api_base": "http://169.254.169.254"})  # type: ignore[typeddict-unknown-key]
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "metadata.api_base" in bad.value.message
    no_max = httpx.post(f"{server.url}/v1/messages", json={"model": "echo@echo", "messages": messages},
                        headers={"x-api-key": server.key}, timeout=30)
    assert no_max.status_code == 400
    assert "max_tokens" in no_max.json()["error"]["message"]
    with pytest.raises(anthropic.RateLimitError) as limited:
        _client(server).messages.create(model="gpt-4o@openai", max_tokens=10,
                                        messages=[{"role": "user", "content": "scenario:error:429"}])
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError) as failed:
        _client(server).messages.create(model="gpt-4o@openai", max_tokens=10,
                                        messages=[{"role": "user", "content": "scenario:error:500"}])
    assert failed.value.status_code == 502
    broke = _account_with(server, "0.000001")
    with pytest.raises(anthropic.APIStatusError) as payment:
        _client(server, broke).messages.create(model="echo@echo", max_tokens=10, messages=messages)
    assert payment.value.status_code == 402
    assert payment.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    assert credits_of(server, broke) == Decimal("0.000001")


def test_count_tokens(server: LocalServer, fake_upstream: Any) -> None:
    client = _client(server)
    messages = [{"role": "user", "content": "How many tokens is this?"}]
    estimated = client.messages.count_tokens(model="echo@echo", messages=messages, system="Be brief.")
    assert estimated.input_tokens > 0
    longer = client.messages.count_tokens(model="echo@echo", messages=messages, system="Be brief.", tools=[WEATHER])
    assert longer.input_tokens > estimated.input_tokens
    before = credits_of(server)
    native = client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)
    assert native.input_tokens == 1000 + len(json.dumps(messages))  # the fake Anthropic's own count
    assert fake_upstream.last("/v1/messages/count_tokens").body["model"] == "claude-sonnet-4-5-20250929"
    assert credits_of(server) == before  # counting is free


def test_an_upstream_cut_mid_stream_is_an_error_event_and_billed_for_what_came(server: LocalServer) -> None:
    for model, scenario in (("gpt-4o@openai", "scenario:truncate"), ("claude-sonnet-4-5", "scenario:truncate"),
                            ("claude-sonnet-4-5", "scenario:overloaded")):
        key = _account_with(server, "1")
        body = {"model": model, "max_tokens": 1000, "stream": True, "messages": [{"role": "user", "content": scenario}]}
        response = httpx.post(f"{server.url}/v1/messages", json=body, headers={"x-api-key": key}, timeout=30)
        events = _events(response)
        assert events[0][0] == "message_start"
        assert events[-1][0] == "error", (model, scenario)
        assert events[-1][1]["error"]["type"] in ("api_error", "overloaded_error")
        charged = Decimal("1") - credits_of(server, key)
        assert Decimal("0") < charged < Decimal("0.005"), (model, scenario)
        stream = _client(server, key).messages.stream(model=model, max_tokens=100,
                                                      messages=[{"role": "user", "content": scenario}])
        with pytest.raises(anthropic.APIStatusError), stream as events_of:
            events_of.get_final_message()


def test_a_client_leaving_mid_stream_is_billed_for_what_it_got_and_cancels_the_upstream(
        server: LocalServer, fake_upstream: Any) -> None:
    for model in ("gpt-4o@openai", "claude-sonnet-4-5"):
        key = _account_with(server, "1")
        disconnects = fake_upstream.disconnects
        body = {"model": model, "stream": True, "max_tokens": 1000,
                "messages": [{"role": "user", "content": "scenario:paced"}]}
        with httpx.stream("POST", f"{server.url}/v1/messages", json=body, timeout=30,
                          headers={"x-api-key": key}) as response:
            for line in response.iter_lines():
                if "text_delta" in line:
                    break
        deadline = time.monotonic() + 5
        while fake_upstream.disconnects == disconnects and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake_upstream.disconnects > disconnects, model
        time.sleep(0.3)
        remaining = credits_of(server, key)
        assert Decimal("0") < Decimal("1") - remaining < Decimal("0.001"), model
        account = str(httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {key}"}).json()["id"])
        ledger = server.cli_json("credits", "ledger", "--account", account)
        assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == remaining
        assert {e["kind"] for e in ledger["entries"]} == {"grant", "hold", "settle"}


def test_claude_code_shaped_request_answers_the_last_user_turn(server: LocalServer) -> None:
    """What Claude Code sends: system entries at the end of messages, adaptive thinking, output_config,
    context_management, max_tokens 32000 (above echo's 4096), accept: application/json while streaming."""
    body = {"model": "echo@echo", "max_tokens": 32000, "stream": True, "thinking": {"type": "adaptive"},
            "output_config": {"effort": "medium"}, "context_management": {"edits": []},
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{**WEATHER, "name": f"Tool{i}"} for i in range(24)],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Reply with pong",
                                                       "cache_control": {"type": "ephemeral"}}]},
                         {"role": "system", "content": "Remember the rules."}]}
    response = httpx.post(f"{server.url}/v1/messages?beta=true", json=body, timeout=30,
                          headers={"x-api-key": server.key, "accept": "application/json",
                                   "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"})
    assert response.status_code == 200, response.text
    events = _events(response)
    _grammar(events)
    assert "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta") == "Reply with pong"


def test_models_in_anthropics_shape_when_anthropic_version_is_sent(server: LocalServer) -> None:
    client = _client(server)
    first_page = client.models.list(limit=5)
    assert len(first_page.data) == 5
    assert first_page.has_more
    listed = [m.id for m in client.models.list(limit=7)]  # the SDK follows the pages with after_id
    openai_shape = httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {server.key}"}).json()
    assert openai_shape["object"] == "list"
    assert listed == [m["id"] for m in openai_shape["data"]]
    echo = client.models.retrieve("echo@echo")
    assert (echo.type, echo.id, echo.display_name) == ("model", "echo@echo", "echo@echo")
    assert echo.created_at.year == 2024
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("no-such-model@echo")
    assert missing.value.body["type"] == "error"  # type: ignore[index]


def test_the_query_log_keeps_the_messages_request_as_sent(server: LocalServer) -> None:
    key = _account_with(server, "1")
    client = _client(server, key)
    messages = [{"role": "user", "content": "logged through messages"}]
    raw = client.messages.with_raw_response.create(
        model="echo@echo", max_tokens=50, messages=messages,
        extra_body={"tags": ["messages-e2e"], "log_query_body": True, "log_response_body": True})
    listing = httpx.get(f"{server.url}/v0/queries", params={"tags": "messages-e2e"},
                        headers={"Authorization": f"Bearer {key}"}).json()
    (record,) = listing["queries"]
    assert record["endpoint"] == "echo@echo"
    logged = record["request_body"]
    logged = json.loads(logged) if isinstance(logged, str) else logged
    assert (logged["max_tokens"], logged["messages"]) == (50, messages)
    assert Decimal(str(record["cost"])) == Decimal(raw.headers["x-unigate-cost"])


def test_head_of_the_root_is_answered_200_without_a_body(server: LocalServer) -> None:
    """Claude Code's first request checks the base URL with HEAD /."""
    response = httpx.head(f"{server.url}/", timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith("text/html")
