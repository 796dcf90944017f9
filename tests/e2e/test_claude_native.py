"""Claude on Bedrock (InvokeModel, InvokeModelWithResponseStream) and on Vertex AI (rawPredict,
streamRawPredict) as native Messages endpoints: the official `anthropic` SDK against the local server, the
fakes on 127.0.0.1 speaking each wire format (tests/fakes/bedrock.py, tests/fakes/upstream.py)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import anthropic
import httpx

from tests.e2e.conftest import LocalServer, credits_of
from tests.fakes.bedrock import CACHED_MESSAGES_USAGE, MESSAGES_PROMPT_TOKENS
from tests.fakes.upstream import CANARY_KEYS, USAGE
from unigate.catalog.entries import get_catalog

BETAS = "interleaved-thinking-2025-05-14,context-management-2025-06-27"
THINKING = {"type": "thinking", "thinking": "Let me think about the weather.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}
CACHED = {"type": "text", "text": "A long shared context.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
BEDROCK = "claude-sonnet-4.5@aws-bedrock"
VERTEX = "claude-sonnet-4.5@vertex-anthropic"
VERTEX_PATH = "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"


def _client(server: LocalServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=server.key, max_retries=0, timeout=30,
                               default_headers={"anthropic-beta": BETAS})


def _request(model: str, last: str) -> dict[str, Any]:
    """A conversation with a signed thinking block and cache_control blocks, ending with `last`."""
    return {"model": model, "max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 512},
            "extra_body": {"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}, "system": [CACHED],
            "messages": [{"role": "user", "content": [CACHED, {"type": "text", "text": "What is the weather?"}]},
                         {"role": "assistant", "content": [THINKING, {"type": "text", "text": "Sunny."}]},
                         {"role": "user", "content": last}]}


def _cost(endpoint: str, usage: dict[str, Any]) -> Decimal:
    """The catalog's price of each token class times its count, rounded up to a micro-credit once."""
    name, provider = endpoint.split("@")
    spec = get_catalog().endpoint(name, provider)
    writes = usage.get("cache_creation") or {}
    five, hour = writes.get("ephemeral_5m_input_tokens", 0), writes.get("ephemeral_1h_input_tokens", 0)
    micros = (usage["input_tokens"] * spec.input + usage.get("cache_read_input_tokens", 0) * spec.cache_read
              + five * spec.cache_write + hour * spec.cache_write_1h + usage["output_tokens"] * spec.output)
    return Decimal(math.ceil(micros)) / 1_000_000


def _fidelity(body: dict[str, Any]) -> None:
    """The client's thinking block (with its signature), cache_control blocks and unknown fields, as sent."""
    assert body["messages"][1]["content"][0] == THINKING
    assert body["messages"][0]["content"][0] == CACHED
    assert body["system"] == [CACHED]
    assert body["context_management"] == {"edits": [{"type": "clear_tool_uses_20250919"}]}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 512}


def test_claude_on_bedrock_gets_anthropics_body_through_invoke_model(server: LocalServer,
                                                                     fake_bedrock: Any) -> None:
    _, received = fake_bedrock
    client = _client(server)
    before = credits_of(server)
    raw = client.messages.with_raw_response.create(**_request(BEDROCK, "scenario:cached"))
    message = raw.parse()
    assert raw.headers["x-unigate-endpoint"] == BEDROCK
    assert message.id == "msg_bdrk_fake"
    assert message.content[0].text == "fake reply to: scenario:cached"  # type: ignore[union-attr]
    assert message.usage.cache_read_input_tokens == 600
    sent = received[-1]
    assert sent["path"] == "/model/global.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    assert "model" not in sent["body"]
    assert "stream" not in sent["body"]
    assert sent["body"]["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["body"]["anthropic_beta"] == BETAS.split(",")  # Bedrock takes the betas in the body
    assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")  # botocore signed it
    _fidelity(sent["body"])
    cost = _cost(BEDROCK, CACHED_MESSAGES_USAGE)
    assert Decimal(raw.headers["x-unigate-cost"]) == cost
    assert before - credits_of(server) == cost

    before = credits_of(server)
    with client.messages.stream(**_request(BEDROCK, "scenario:cached")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "fake reply to: scenario:cached"
    assert (final.id, final.stop_reason, final.usage.output_tokens) == ("msg_bdrk_fake", "end_turn", 50)
    assert final.usage.cache_creation_input_tokens == 300
    sent = received[-1]
    assert sent["path"].endswith("/invoke-with-response-stream")
    assert sent["body"]["anthropic_beta"] == BETAS.split(",")
    _fidelity(sent["body"])
    assert before - credits_of(server) == cost


def test_bedrock_usage_only_in_its_invocation_metrics_is_billed(server: LocalServer, fake_bedrock: Any) -> None:
    client = _client(server)
    words = 4  # "fake reply to: scenario:metrics", a token a word
    cost = _cost(BEDROCK, {"input_tokens": MESSAGES_PROMPT_TOKENS, "output_tokens": words})
    for streamed in (False, True):
        before = credits_of(server)
        body = {"model": BEDROCK, "max_tokens": 100, "messages": [{"role": "user", "content": "scenario:metrics"}]}
        if streamed:
            with client.messages.stream(**body) as stream:  # type: ignore[arg-type]
                stream.get_final_message()
        else:
            client.messages.create(**body)  # type: ignore[arg-type]
        assert before - credits_of(server) == cost, streamed


def test_a_bedrock_stream_failing_mid_way_ends_with_an_error_event_and_bills_what_came(
        server: LocalServer, fake_bedrock: Any) -> None:
    before = credits_of(server)
    body = {"model": BEDROCK, "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "scenario:throttle"}]}
    response = httpx.post(f"{server.url}/v1/messages", json=body, headers={"x-api-key": server.key}, timeout=30)
    names = [line[7:] for line in response.text.split("\n") if line.startswith("event: ")]
    assert names[0] == "message_start"
    assert names[-1] == "error"
    error = json.loads(response.text.rstrip().split("\n")[-1][6:])
    assert error["error"]["type"] == "rate_limit_error"
    spent = before - credits_of(server)
    assert spent == _cost(BEDROCK, {"input_tokens": MESSAGES_PROMPT_TOKENS, "output_tokens": 1})


def test_claude_on_vertex_gets_anthropics_body_through_raw_predict(server: LocalServer, fake_upstream: Any) -> None:
    client = _client(server)
    before = credits_of(server)
    raw = client.messages.with_raw_response.create(**_request(VERTEX, "scenario:usage:cached"))
    message = raw.parse()
    assert raw.headers["x-unigate-endpoint"] == VERTEX
    assert (message.id, message.model) == ("msg_fake", "claude-sonnet-4-5@20250929")
    sent = fake_upstream.last("/publishers/anthropic/models/")
    assert sent.path == f"{VERTEX_PATH}:rawPredict"
    assert sent.query == ""
    assert sent.headers["authorization"] == f"Bearer {CANARY_KEYS['vertex-anthropic']}"
    assert sent.headers["anthropic-beta"] == BETAS  # Vertex takes the betas as Anthropic's header
    assert "x-api-key" not in sent.headers
    assert "model" not in sent.body
    assert (sent.body["anthropic_version"], sent.body["stream"]) == ("vertex-2023-10-16", False)
    _fidelity(sent.body)
    cost = _cost(VERTEX, USAGE["anthropic"]["cached"])
    assert Decimal(raw.headers["x-unigate-cost"]) == cost
    assert before - credits_of(server) == cost

    before = credits_of(server)
    with client.messages.stream(**_request(VERTEX, "scenario:usage:cached")) as stream:
        final = stream.get_final_message()
    assert (final.id, final.usage.output_tokens, final.usage.cache_read_input_tokens) == ("msg_fake", 500, 600)
    sent = fake_upstream.last("/publishers/anthropic/models/")
    assert sent.path == f"{VERTEX_PATH}:streamRawPredict"
    assert sent.body["stream"] is True
    assert sent.headers["anthropic-beta"] == BETAS
    _fidelity(sent.body)
    assert before - credits_of(server) == cost


def test_count_tokens_at_vertex_is_its_own_count_and_at_bedrock_the_estimate(server: LocalServer,
                                                                              fake_upstream: Any) -> None:
    client = _client(server)
    messages = [{"role": "user", "content": "How many tokens is this?"}]
    counted = client.messages.count_tokens(model=VERTEX, messages=messages)  # type: ignore[arg-type]
    assert counted.input_tokens == 2000 + len(json.dumps(messages))  # the fake Vertex's own count
    sent = fake_upstream.last("/count-tokens:rawPredict")
    assert sent.body["model"] == "claude-sonnet-4-5@20250929"
    assert sent.body["anthropic_version"] == "vertex-2023-10-16"
    estimated = client.messages.count_tokens(model=BEDROCK, messages=messages)  # type: ignore[arg-type]
    assert 0 < estimated.input_tokens < 100


def test_chat_completions_to_claude_on_vertex_are_translated(server: LocalServer, fake_upstream: Any) -> None:
    response = httpx.post(f"{server.url}/v1/chat/completions", headers={"Authorization": f"Bearer {server.key}"},
                          json={"model": VERTEX, "messages": [{"role": "user", "content": "hello"}]}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "fake reply to: hello"
    sent = fake_upstream.last("/publishers/anthropic/models/")
    assert sent.path == f"{VERTEX_PATH}:rawPredict"
    assert "model" not in sent.body
