"""The official `openai` SDK as the client of the local server, as a user points it at unigate."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import openai
import pytest

from tests.e2e.conftest import LocalServer, cost_of, credits_of, openai_client
from tests.fakes.upstream import CANARY_KEYS


def _account_with(server: LocalServer, credits: str, **key_options: str) -> str:
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", credits, "--idempotency-key", "e2e")
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in key_options.items()]
    return server.cli_json("keys", "create", "--account", account, *extra)["key"]


def test_create_returns_the_echo_and_charges_exactly_its_cost(server: LocalServer) -> None:
    before = credits_of(server)
    completion = openai_client(server).chat.completions.create(
        model="echo@echo", messages=[{"role": "user", "content": "Hello, unigate!"}]
    )
    assert completion.choices[0].message.content == "Hello, unigate!"
    assert completion.model == "echo@echo"
    assert cost_of(completion.usage) > 0
    assert before - credits_of(server) == cost_of(completion.usage)


def test_streaming_through_the_sdk(server: LocalServer) -> None:
    before = credits_of(server)
    stream = openai_client(server).chat.completions.create(
        model="echo@echo", messages=[{"role": "user", "content": "one two three four"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == 4
    assert before - credits_of(server) == cost_of(usage)


def test_a_self_hosted_upstream_added_by_catalog_path(server: LocalServer) -> None:
    before = credits_of(server)
    client = openai_client(server)
    completion = client.chat.completions.create(
        model="llama-3.1-8b-chat@local-vllm", messages=[{"role": "user", "content": "hi there"}]
    )
    assert completion.choices[0].message.content == "fake reply to: hi there"
    streamed = client.chat.completions.create(
        model="llama-3.1-8b-chat@local-vllm", messages=[{"role": "user", "content": "hi there"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fake reply to: hi there"
    assert before - credits_of(server) == cost_of(completion.usage) + cost_of(chunks[-1].usage)


def test_provider_keys_come_from_the_environment_and_reach_the_upstream(server: LocalServer,
                                                                        fake_upstream: object) -> None:
    completion = openai_client(server).chat.completions.create(
        model="claude-haiku-4.5@anthropic", messages=[{"role": "user", "content": "hello"}]
    )
    assert completion.choices[0].message.content == "fake reply to: hello"
    assert fake_upstream.last("/v1/messages").headers["x-api-key"] == CANARY_KEYS["anthropic"]  # type: ignore[attr-defined]


def test_chunks_pass_through_as_they_arrive(server: LocalServer) -> None:
    stream = openai_client(server).chat.completions.create(
        model="gpt-4o@openai", messages=[{"role": "user", "content": "scenario:paced"}], stream=True
    )
    arrivals = [time.monotonic() for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
    # The upstream paces its words 150 ms apart; a buffering gateway would deliver them all at once.
    assert len(arrivals) == 4  # "fake reply to: scenario:paced"
    assert arrivals[-1] - arrivals[0] > 0.2


def test_error_classes(server: LocalServer) -> None:
    messages = [{"role": "user", "content": "hello"}]
    with pytest.raises(openai.AuthenticationError):
        openai_client(server, "ug_not_a_key").chat.completions.create(model="echo@echo", messages=messages)
    restricted = _account_with(server, "1", allow_model="echo@echo")
    with pytest.raises(openai.PermissionDeniedError):
        openai_client(server, restricted).chat.completions.create(model="gpt-4o@openai", messages=messages)
    with pytest.raises(openai.NotFoundError):
        openai_client(server).chat.completions.create(model="gpt-9@openai", messages=messages)
    with pytest.raises(openai.BadRequestError) as bad:
        openai_client(server).chat.completions.create(model="echo@echo", messages=messages,
                                                extra_body={"metadata": {"api_base": "http://169.254.169.254"}})
    assert bad.value.body["param"] == "metadata.api_base"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        openai_client(server).chat.completions.create(model="echo@@echo", messages=messages)
    with pytest.raises(openai.RateLimitError) as limited:
        openai_client(server).chat.completions.create(model="gpt-4o@openai",
                                                messages=[{"role": "user", "content": "scenario:error:429"}])
    assert limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError) as failed:
        openai_client(server).chat.completions.create(model="gpt-4o@openai",
                                                messages=[{"role": "user", "content": "scenario:error:500"}])
    assert failed.value.status_code == 502
    broke = _account_with(server, "0.000001")
    with pytest.raises(openai.APIStatusError) as payment:
        openai_client(server, broke).chat.completions.create(model="echo@echo", messages=messages)
    assert payment.value.status_code == 402
    assert credits_of(server, broke) == Decimal("0.000001")


def test_fifty_concurrent_requests_against_a_balance_that_covers_some(server: LocalServer) -> None:
    """Each request holds ~0.0101 credits for ~0.5 s; 0.05 credits admit a few at a time, never more."""
    key = _account_with(server, "0.05")
    client = openai_client(server, key)

    def attempt(_: int) -> Decimal | int:
        try:
            stream = client.chat.completions.create(
                model="gpt-4o@openai", max_tokens=1000, stream=True, stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "scenario:paced"}],
            )
            return cost_of(list(stream)[-1].usage)
        except openai.APIStatusError as exc:
            return exc.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    charged = [o for o in outcomes if isinstance(o, Decimal)]
    refused = [o for o in outcomes if not isinstance(o, Decimal)]
    assert charged, outcomes
    assert set(refused) <= {402}
    assert refused, "the balance should not have covered all 50"
    remaining = credits_of(server, key)
    assert remaining >= 0
    assert Decimal("0.05") - remaining == sum(charged)
    ledger = server.cli_json("credits", "ledger", "--account", _account_of(server, key), "--limit", "1000")
    assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == remaining


def _account_of(server: LocalServer, key: str) -> str:
    return str(httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {key}"}).json()["id"])


def test_a_client_disconnect_mid_stream_bills_what_was_generated(server: LocalServer, fake_upstream: object) -> None:
    key = _account_with(server, "1")
    disconnects_before = fake_upstream.disconnects  # type: ignore[attr-defined]
    body = {"model": "gpt-4o@openai", "stream": True, "max_tokens": 1000,
            "messages": [{"role": "user", "content": "scenario:paced"}]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as response:
        received = []
        for line in response.iter_lines():
            if '"content":"fake' in line.replace(" ", ""):
                received.append(line)
                break
    assert received  # one word arrived, then the client went away
    deadline = time.monotonic() + 5
    while fake_upstream.disconnects == disconnects_before and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert fake_upstream.disconnects > disconnects_before  # type: ignore[attr-defined]
    time.sleep(0.3)
    remaining = credits_of(server, key)
    charged = Decimal("1") - remaining
    # Billed for the prompt and what was generated, far below the 1000-token hold (0.01 credits).
    assert Decimal("0") < charged < Decimal("0.001")
    ledger = server.cli_json("credits", "ledger", "--account", _account_of(server, key))
    assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == remaining
    assert {e["kind"] for e in ledger["entries"]} == {"grant", "hold", "settle"}


def test_the_query_log_over_http(server: LocalServer) -> None:
    key = _account_with(server, "1")
    client = openai_client(server, key)
    client.chat.completions.create(model="echo@echo", messages=[{"role": "user", "content": "logged"}],
                                   extra_body={"tags": ["e2e"], "log_response_body": True})
    listing = httpx.get(f"{server.url}/v0/queries", params={"tags": "e2e"},
                        headers={"Authorization": f"Bearer {key}"}).json()
    (record,) = listing["queries"]
    assert record["endpoint"] == "echo@echo"
    logged = json.loads(record["response_body"])
    assert logged["choices"][0]["message"]["content"] == "logged"
    assert logged["model"] == "echo@echo"
    assert logged["usage"]["cost"] == record["cost"]
    assert Decimal("1") - credits_of(server, key) == Decimal(str(record["cost"]))
    demo = httpx.get(f"{server.url}/v0/queries", params={"tags": "e2e"},
                     headers={"Authorization": f"Bearer {server.key}"}).json()
    assert demo["queries"] == []  # another account's records are not the demo account's


def test_a_client_gone_before_the_answer_cancels_the_upstream_call_and_releases_its_hold(server: LocalServer) -> None:
    key = _account_with(server, "1")
    body = {"model": "gpt-4o@openai", "max_tokens": 1000, "messages": [{"role": "user", "content": "scenario:stall"}]}
    with pytest.raises(httpx.TimeoutException):  # the client gives up while the upstream stalls (5 s)
        httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=0.5,
                   headers={"Authorization": f"Bearer {key}"})
    # Cancelled, the request releases its hold at once; left running, it would hold until the stall ends
    # and then charge for the answer.
    deadline = time.monotonic() + 3
    while credits_of(server, key) != Decimal("1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert credits_of(server, key) == Decimal("1")
    ledger = server.cli_json("credits", "ledger", "--account", _account_of(server, key))
    assert [e["kind"] for e in ledger["entries"]] == ["grant", "hold", "settle"]
    assert ledger["entries"][1]["details"] == {"endpoint": "gpt-4o@openai"}  # what the hold was for
    assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == Decimal("1")


def test_a_stream_without_include_usage_has_no_usage_chunk_and_is_still_billed(server: LocalServer) -> None:
    """The everyday loop `c.choices[0].delta.content` works: as OpenAI does, the usage chunk (choices: [])
    comes only when stream_options.include_usage asks for it, while billing never depends on it."""
    before = credits_of(server)
    chunks = list(openai_client(server).chat.completions.create(
        model="echo@echo", messages=[{"role": "user", "content": "one two three"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert all(c.usage is None for c in chunks)
    charged = before - credits_of(server)
    assert charged > 0
    with_usage = list(openai_client(server).chat.completions.create(
        model="echo@echo", messages=[{"role": "user", "content": "one two three"}], stream=True,
        stream_options={"include_usage": True}))
    assert with_usage[-1].choices == []
    assert cost_of(with_usage[-1].usage) == charged  # the same request costs the same either way


def test_models_retrieve(server: LocalServer) -> None:
    client = openai_client(server)
    model = client.models.retrieve("echo@echo")
    assert (model.id, model.object, model.owned_by) == ("echo@echo", "model", "echo")
    assert model.id in {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("no-such-model@echo")
    assert missing.value.code == "model_not_found"
