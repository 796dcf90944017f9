"""OpenAI's Responses API through the official `openai` SDK against the local server: echo@echo and the fake
OpenAI-compatible upstream, plain and streamed, tools, stored conversations, and the stream's failure cases."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.e2e.conftest import LocalServer, cost_of, credits_of, openai_client


def _account_with(server: LocalServer, credits: str) -> str:
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", credits, "--idempotency-key", "e2e")
    return str(server.cli_json("keys", "create", "--account", account)["key"])


def _ledger_balanced(server: LocalServer, key: str) -> None:
    account = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {key}"}).json()["id"]
    ledger = server.cli_json("credits", "ledger", "--account", account, "--limit", "1000")
    assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == credits_of(server, key)


# ------------------------------------------------------------------------------------------- create
def test_create_answers_and_charges_exactly_its_cost(server: LocalServer) -> None:
    key = _account_with(server, "1")
    raw = openai_client(server, key).responses.with_raw_response.create(
        model="echo@echo", input="Hello, responses!", instructions="Answer briefly.",
        tools=[{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}],
        metadata={"run": "e2e"}, temperature=0.5, top_p=0.9, max_output_tokens=500,
        extra_body={"prompt_cache_key": "cache-1", "client_metadata": {"origin": "test"}},
    )
    response = raw.parse()
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Hello, responses!"
    assert response.model == "echo@echo"
    assert response.metadata == {"run": "e2e"}
    assert response.instructions == "Answer briefly."
    (message,) = response.output
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.status == "completed"
    usage = response.usage
    assert usage is not None
    assert usage.output_tokens == 2
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert Decimal("1") - credits_of(server, key) == cost_of(usage) > 0
    # The built-in tools a chat upstream cannot run are dropped and named, never refused.
    assert raw.headers["x-unigate-dropped-params"] == "tools.file_search,tools.web_search"
    assert raw.headers["x-unigate-endpoint"] == "echo@echo"
    assert Decimal(raw.headers["x-unigate-cost"]) == cost_of(usage)
    _ledger_balanced(server, key)


def test_input_items_of_every_kind_are_accepted(server: LocalServer) -> None:
    """Codex's replayed history: developer messages with ids, reasoning with encrypted content, calls and
    their outputs; the answer is to the last user message."""
    response = openai_client(server).responses.create(model="echo@echo", store=False, include=[
        "reasoning.encrypted_content"], reasoning={"effort": "low", "summary": "auto"}, input=[
        {"type": "message", "role": "developer", "id": "msg_dev",
         "content": [{"type": "input_text", "text": "Be terse."}]},
        {"type": "message", "role": "system", "content": "You are a test."},
        {"role": "user", "content": "first question"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "looked up"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second question"}]},
    ])
    assert response.output_text == "second question"
    assert response.reasoning is not None
    assert response.reasoning.effort == "low"


def test_max_output_tokens_makes_an_incomplete_response(server: LocalServer) -> None:
    response = openai_client(server).responses.create(model="echo@echo", input="one two three four five six",
                                                max_output_tokens=2, store=False)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "one two "


def test_structured_output(server: LocalServer) -> None:
    class Weather(BaseModel):
        city: str
        degrees: int

    parsed = openai_client(server).responses.parse(model="echo@echo", input="Paris today", text_format=Weather,
                                             store=False)
    assert isinstance(parsed.output_parsed, Weather)
    assert parsed.output_parsed.city == "Paris today"
    plain = openai_client(server).responses.create(model="echo@echo", input="anything", store=False,
                                             text={"format": {"type": "json_object"}})
    assert json.loads(plain.output_text) == {"echo": "anything"}


def test_bad_input_is_refused_naming_the_field_before_any_hold(server: LocalServer) -> None:
    key = _account_with(server, "1")
    client = openai_client(server, key)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="echo@echo", input=[{"type": "function_call_output", "output": "x"}])
    assert refused.value.body["param"] == "input[0].call_id"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="echo@echo", input="x", temperature=3)
    assert refused.value.body["param"] == "temperature"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="echo@echo", input="x", extra_body={"metadata": {"api_base": "http://x"}})
    assert refused.value.body["param"] == "metadata.api_base"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="nope@nowhere", input="x")
    assert credits_of(server, key) == Decimal("1")


def test_input_tokens(server: LocalServer) -> None:
    client = openai_client(server)
    short = client.responses.input_tokens.count(model="echo@echo", input="hi")
    longer = client.responses.input_tokens.count(model="echo@echo", input="hi " * 200, instructions="Be kind.")
    assert short.object == "response.input_tokens"
    assert 0 < short.input_tokens < longer.input_tokens


# ------------------------------------------------------------------------------------------- tools
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_function_tools_round_trip_with_function_call_output(server: LocalServer) -> None:
    client = openai_client(server)
    first = client.responses.create(model="echo@echo", input="get_weather for Paris", tools=[WEATHER])
    (call,) = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "get_weather for Paris"}
    second = client.responses.create(model="echo@echo", previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 degrees"}])
    assert second.output_text == "sunny, 21 degrees"
    # Without a stored conversation: the call replayed by the client, as Codex does with store false.
    replayed = client.responses.create(model="echo@echo", store=False, tools=[WEATHER], input=[
        {"role": "user", "content": "get_weather for Paris"},
        {"type": "function_call", "call_id": call.call_id, "name": "get_weather", "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "rainy"}])
    assert replayed.output_text == "rainy"


def test_namespace_tools_are_flattened_and_mapped_back(server: LocalServer, fake_upstream: Any) -> None:
    tools = [{"type": "namespace", "name": "crm", "description": "The CRM.", "tools": [
        {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {
            "who": {"type": "string"}}}}]}, {"type": "web_search"}]
    raw = openai_client(server).responses.with_raw_response.create(model="echo@echo", input="find Ada", tools=tools,
                                                             tool_choice="required", store=False)
    (call,) = raw.parse().output
    assert (call.type, call.name, call.namespace) == ("function_call", "lookup", "crm")  # type: ignore[union-attr]
    assert raw.headers["x-unigate-dropped-params"] == "tools.web_search"
    openai_client(server).responses.create(model="gpt-4o@openai", input="hi", tools=tools, store=False)
    sent = fake_upstream.last("/v1/chat/completions").body
    assert [t["function"]["name"] for t in sent["tools"]] == ["crm__lookup"]


# ------------------------------------------------------------------------------------------- streaming
def _expected_text_events() -> list[str]:
    return ["response.created", "response.in_progress", "response.output_item.added",
            "response.content_part.added"]


def test_streaming_has_every_event_in_order(server: LocalServer) -> None:
    key = _account_with(server, "1")
    with openai_client(server, key).responses.create(model="echo@echo", input="one two three", stream=True) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds == [*_expected_text_events(), *["response.output_text.delta"] * 3, "response.output_text.done",
                     "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three"
    created, final = events[0].response, events[-1].response  # type: ignore[union-attr]
    assert created.status == "in_progress"
    assert created.id == final.id
    assert final.status == "completed"
    assert final.output_text == "one two three"
    assert final.usage is not None
    assert Decimal("1") - credits_of(server, key) == cost_of(final.usage) > 0
    # Stored: the same response can be read back.
    assert openai_client(server, key).responses.retrieve(final.id).output_text == "one two three"
    _ledger_balanced(server, key)


def test_the_raw_stream_names_each_event(server: LocalServer) -> None:
    body = {"model": "echo@echo", "input": "raw read", "stream": True, "store": False}
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    sequence = []
    for block in blocks:
        event_line, data_line = block.split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        sequence.append(payload["sequence_number"])
    assert sequence == sorted(set(sequence))
    assert json.loads(blocks[-1].split("\n")[1][6:])["type"] == "response.completed"


def test_a_streamed_function_call(server: LocalServer) -> None:
    with openai_client(server).responses.create(model="gpt-4o@openai", input="scenario:tool", tools=[WEATHER],
                                          stream=True, store=False) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.function_call_arguments.delta", "response.function_call_arguments.done",
                     "response.output_item.done", "response.completed"]
    done = events[-2].item  # type: ignore[union-attr]
    assert (done.type, done.name, done.call_id, json.loads(done.arguments)) == (
        "function_call", "get_weather", "call_1", {"city": "Paris"})
    assert events[-1].response.output[0].arguments == '{"city": "Paris"}'  # type: ignore[union-attr]


def test_an_upstream_cut_mid_stream_ends_failed_and_bills_what_was_produced(server: LocalServer) -> None:
    key = _account_with(server, "1")
    with openai_client(server, key).responses.create(model="gpt-4o@openai", input="scenario:truncate", stream=True,
                                               max_output_tokens=1000) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.output_text  # what arrived before the cut is kept
    charged = Decimal("1") - credits_of(server, key)
    assert Decimal("0") < charged < Decimal("0.01")  # the prompt and the words produced, not the hold
    _ledger_balanced(server, key)


def test_a_failing_upstream_before_the_first_byte_is_a_proper_status(server: LocalServer) -> None:
    key = _account_with(server, "1")
    with pytest.raises(openai.APIStatusError) as failed:
        openai_client(server, key).responses.create(model="fail@echo", input="x", stream=True)
    assert failed.value.status_code == 502
    assert credits_of(server, key) == Decimal("1")


def test_a_client_leaving_mid_stream_cancels_the_upstream(server: LocalServer, fake_upstream: Any) -> None:
    key = _account_with(server, "1")
    disconnects_before = fake_upstream.disconnects
    body = {"model": "gpt-4o@openai", "input": "scenario:paced", "stream": True, "max_output_tokens": 1000}
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as response:
        for line in response.iter_lines():
            if "response.output_text.delta" in line and line.startswith("data:"):
                break
    deadline = time.monotonic() + 5
    while fake_upstream.disconnects == disconnects_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_upstream.disconnects > disconnects_before
    time.sleep(0.3)
    charged = Decimal("1") - credits_of(server, key)
    assert Decimal("0") < charged < Decimal("0.001")
    _ledger_balanced(server, key)


# ------------------------------------------------------------------------------------------- state
def test_previous_response_id_across_three_turns(server: LocalServer, fake_upstream: Any) -> None:
    client = openai_client(server)
    first = client.responses.create(model="gpt-4o@openai", input="turn one", instructions="Be brief.")
    second = client.responses.create(model="gpt-4o@openai", input="turn two", previous_response_id=first.id)
    third = client.responses.create(model="gpt-4o@openai", input="turn three", previous_response_id=second.id)
    assert third.previous_response_id == second.id
    assert third.output_text == "fake reply to: turn three"
    messages = fake_upstream.last("/v1/chat/completions").body["messages"]
    # The whole conversation; instructions are not carried over (as OpenAI does).
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "turn one"), ("assistant", "fake reply to: turn one"), ("user", "turn two"),
        ("assistant", "fake reply to: turn two"), ("user", "turn three")]


def test_retrieve_input_items_and_delete(server: LocalServer) -> None:
    client = openai_client(server)
    created = client.responses.create(model="echo@echo", input=[
        {"role": "user", "content": "first"}, {"role": "user", "content": "second"}])
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.id == created.id
    assert retrieved.output_text == "second"
    assert retrieved.status == "completed"
    items = client.responses.input_items.list(created.id)
    assert [i.content[0].text for i in items.data] == ["second", "first"]  # type: ignore[union-attr]
    ascending = client.responses.input_items.list(created.id, order="asc", limit=1)
    assert [i.content[0].text for i in ascending.data] == ["first"]  # type: ignore[union-attr]
    assert ascending.has_more
    rest = client.responses.input_items.list(created.id, order="asc", after=ascending.data[0].id)
    assert [i.content[0].text for i in rest.data] == ["second"]  # type: ignore[union-attr]
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_store_false_keeps_nothing(server: LocalServer) -> None:
    client = openai_client(server)
    created = client.responses.create(model="echo@echo", input="forget me", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="echo@echo", input="again", previous_response_id=created.id)
    assert missing.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert missing.value.body["code"] == "previous_response_not_found"  # type: ignore[index]


def test_another_accounts_response_is_not_found(server: LocalServer) -> None:
    owner = openai_client(server)
    other = openai_client(server, _account_with(server, "1"))
    created = owner.responses.create(model="echo@echo", input="mine")
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="echo@echo", input="steal", previous_response_id=created.id)
    assert owner.responses.retrieve(created.id).output_text == "mine"


# ------------------------------------------------------------------------------------------- other providers
def test_an_anthropic_endpoint_behind_the_responses_api(server: LocalServer, fake_upstream: Any) -> None:
    client = openai_client(server)
    plain = client.responses.create(model="claude-haiku-4.5@anthropic", input="hello claude", store=False,
                                    instructions="Be brief.", max_output_tokens=300)
    assert plain.output_text == "fake reply to: hello claude"
    sent = fake_upstream.last("/v1/messages").body
    assert sent["system"] == "Be brief." or sent["system"][0]["text"] == "Be brief."
    assert sent["max_tokens"] == 300
    with client.responses.create(model="claude-haiku-4.5@anthropic", input="scenario:tool", tools=[WEATHER],
                                 stream=True, store=False) as stream:
        events = list(stream)
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    output = events[-1].response.output  # type: ignore[union-attr]
    assert [item.type for item in output] == ["function_call"]
    assert output[0].name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(output[0].arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    # Not streamed, Anthropic's text before the call comes first.
    answered = client.responses.create(model="claude-haiku-4.5@anthropic", input="scenario:tool", tools=[WEATHER],
                                       store=False)
    assert [item.type for item in answered.output] == ["message", "function_call"]
    assert answered.output_text == "Let me check."


def test_fallbacks_and_meta_providers_work_as_in_chat(server: LocalServer) -> None:
    response = openai_client(server).responses.with_raw_response.create(model="fail@echo->echo@echo", input="fell back",
                                                                  store=False)
    assert response.parse().output_text == "fell back"
    assert response.headers["x-unigate-endpoint"] == "echo@echo"


# ------------------------------------------------------------------------------------------- pass-through
def test_a_native_endpoint_gets_the_request_passed_through(server: LocalServer, fake_upstream: Any) -> None:
    key = _account_with(server, "1")
    client = openai_client(server, key)
    tools = [WEATHER, {"type": "web_search"}]
    raw = client.responses.with_raw_response.create(model="gpt-4o@openai-native", input="hello native", tools=tools,
                                                    reasoning={"effort": "low", "summary": "auto"},
                                                    include=["reasoning.encrypted_content"])
    first = raw.parse()
    sent = fake_upstream.last("/native/v1/responses").body
    # As the client sent it (built-in tools included), with the model the provider knows; unigate keeps state.
    assert sent["model"] == "gpt-4o-2024-08-06"
    assert sent["tools"] == tools
    assert sent["reasoning"] == {"effort": "low", "summary": "auto"}
    assert sent["store"] is False
    assert "previous_response_id" not in sent
    assert first.id.startswith("resp_")
    assert first.id != "resp_native"
    assert first.model == "gpt-4o@openai-native"
    assert [item.type for item in first.output] == ["reasoning", "message"]
    assert first.output_text == "fake reply to: hello native"
    assert first.usage is not None
    assert first.usage.input_tokens_details.cached_tokens == 3
    assert "x-unigate-dropped-params" not in raw.headers
    assert Decimal("1") - credits_of(server, key) == cost_of(first.usage) == Decimal(raw.headers["x-unigate-cost"])
    # The conversation continues from unigate's store: the whole history goes upstream as input.
    second = client.responses.create(model="gpt-4o@openai-native", input="and again", previous_response_id=first.id)
    sent = fake_upstream.last("/native/v1/responses").body
    assert [item.get("type") for item in sent["input"]] == ["message", "reasoning", "message", "message"]
    assert sent["input"][1]["encrypted_content"] == "opaque-native"
    assert sent["input"][1]["id"] == "rs_native"
    assert all("id" not in item for item in sent["input"] if item["type"] == "message")
    assert second.output_text == "fake reply to: and again"
    _ledger_balanced(server, key)


def test_a_native_stream_is_renumbered_priced_and_stored(server: LocalServer) -> None:
    key = _account_with(server, "1")
    with openai_client(server, key).responses.create(model="gpt-4o@openai-native", input="stream natively",
                                               stream=True) as stream:
        events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    final = events[-1].response  # type: ignore[union-attr]
    assert events[0].response.id == final.id != "resp_native"  # type: ignore[union-attr]
    assert final.output_text == "fake reply to: stream natively"
    assert Decimal("1") - credits_of(server, key) == cost_of(final.usage) > 0
    assert openai_client(server, key).responses.retrieve(final.id).output_text == "fake reply to: stream natively"
    _ledger_balanced(server, key)


def test_a_native_stream_cut_short_ends_failed_and_bills_what_came(server: LocalServer) -> None:
    key = _account_with(server, "1")
    with openai_client(server, key).responses.create(model="gpt-4o@openai-native", input="scenario:truncate",
                                               stream=True, max_output_tokens=1000) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert Decimal("0") < Decimal("1") - credits_of(server, key) < Decimal("0.01")
    _ledger_balanced(server, key)


def test_a_deployment_with_its_content_filter(server: LocalServer) -> None:
    import uuid

    name = f"Resp-{uuid.uuid4().hex[:6]}"
    server.cli_json("deployments", "create", name, "--endpoint", "echo@echo", "--content-filter",
                    json.dumps({"weapons": {"terms": ["grenade"], "input": True, "output": True}}))
    client = openai_client(server)
    raw = client.responses.with_raw_response.create(model=name.lower(), input="a kind word", store=False)
    assert raw.parse().output_text == "a kind word"
    assert raw.headers["x-unigate-deployment"] == name
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=name, input=[{"role": "user", "content": "a Grenade recipe"}])
    assert refused.value.body["code"] == "content_filter"  # type: ignore[index]
