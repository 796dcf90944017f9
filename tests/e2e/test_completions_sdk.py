"""Legacy completions through the official `openai` SDK against the local server: passed through to an upstream
that serves /v1/completions (the fake self-hosted vLLM), and translated to chat (echo@echo, a chat-only fake)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest

from tests.e2e.conftest import LocalServer, cost_of, credits_of, openai_client
from tests.e2e.test_openai_sdk import _account_of, _account_with
from tests.fakes.upstream import PROMPT_TOKENS

NATIVE = "llama-3.1-8b-chat@local-vllm"  # "native": ["completions"] in the test catalog
CHAT_ONLY = "routing-test@alpha"


def _micros(credits: Decimal) -> int:
    return int(credits * 1_000_000)


def test_native_completion_is_passed_through_and_charged_exactly(server: LocalServer, fake_upstream) -> None:
    before = credits_of(server)
    completion = openai_client(server).completions.create(model=NATIVE, prompt="hello there", max_tokens=50,
                                                    temperature=0.2, stop=["\n"], suffix="!")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "fake reply to: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == NATIVE
    assert completion.id == "cmpl-fake"
    sent = fake_upstream.last("/vllm/v1/completions")
    assert sent.body["prompt"] == "hello there"
    assert sent.body["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert sent.body["suffix"] == "!"
    assert sent.body["stop"] == ["\n"]
    assert sent.body["max_tokens"] == 50
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == 5
    # 0.10 per 1M tokens each way, rounded up to whole micro-credits.
    assert _micros(cost_of(completion.usage)) == 2
    assert before - credits_of(server) == cost_of(completion.usage)


def test_native_several_prompts_n_echo_and_logprobs(server: LocalServer, fake_upstream) -> None:
    completion = openai_client(server).completions.create(model=NATIVE, prompt=["one", "two"], n=2, echo=True,
                                                    logprobs=2, max_tokens=3)
    assert [c.index for c in completion.choices] == [0, 1, 2, 3]
    assert [c.text for c in completion.choices] == ["onefake reply to: ", "onefake reply to: ",
                                                    "twofake reply to: ", "twofake reply to: "]
    assert {c.finish_reason for c in completion.choices} == {"length"}
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens == ["fake ", "reply ", "to: "]
    assert logprobs.text_offset == [3, 8, 14]
    assert fake_upstream.last("/vllm/v1/completions").body["prompt"] == ["one", "two"]
    tokens = openai_client(server).completions.create(model=NATIVE, prompt=[1, 2, 3], max_tokens=4)
    assert tokens.choices[0].text == "fake reply to: 1 "


def test_native_stream(server: LocalServer, fake_upstream) -> None:
    before = credits_of(server)
    stream = openai_client(server).completions.create(model=NATIVE, prompt="a b c", stream=True,
                                                stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "fake reply to: a b c"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert chunks[-1].choices == []
    assert usage.completion_tokens == 6
    assert fake_upstream.last("/vllm/v1/completions").body["stream"] is True
    assert before - credits_of(server) == cost_of(usage)


def test_translated_to_chat_with_echo(server: LocalServer) -> None:
    before = credits_of(server)
    completion = openai_client(server).completions.create(model="echo@echo", prompt="Hello, unigate!", echo=True,
                                                    max_tokens=20)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Hello, unigate!Hello, unigate!"
    assert completion.model == "echo@echo"
    assert completion.id.startswith("cmpl-")
    assert cost_of(completion.usage) > 0
    assert before - credits_of(server) == cost_of(completion.usage)


def test_translated_stream_through_a_chat_only_upstream(server: LocalServer, fake_upstream) -> None:
    before = credits_of(server)
    raw = httpx.post(f"{server.url}/v1/completions", timeout=30, headers={"Authorization": f"Bearer {server.key}"},
                     json={"model": CHAT_ONLY, "prompt": "hi you", "stream": True, "suffix": "x",
                           "stream_options": {"include_usage": True}})
    assert raw.status_code == 200
    assert raw.headers["x-unigate-dropped-params"] == "suffix"
    sent = fake_upstream.last("/alpha/v1/chat/completions")
    assert sent.body["messages"] == [{"role": "user", "content": "hi you"}]
    assert sent.body["max_tokens"] == 16
    stream = openai_client(server).completions.create(model=CHAT_ONLY, prompt="hi you", stream=True,
                                                stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "fake reply to: hi you"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == PROMPT_TOKENS
    events = [json.loads(line[6:]) for line in raw.text.split("\n") if line.startswith("data: {")]
    first_cost = Decimal(str(events[-1]["usage"]["cost"]))
    assert before - credits_of(server) == cost_of(usage) + first_cost


def test_v0_route_answers_in_unify_envelope(server: LocalServer) -> None:
    ok = httpx.post(f"{server.url}/v0/completions", timeout=30, headers={"Authorization": f"Bearer {server.key}"},
                    json={"model": "echo@echo", "prompt": "zero"})
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["text"] == "zero"
    bad = httpx.post(f"{server.url}/v0/completions", timeout=30, headers={"Authorization": f"Bearer {server.key}"},
                     json={"model": "echo@echo"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "Invalid 'prompt': Field required."}


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "echo@echo", "prompt": "x", "max_tokens": -1}, "max_tokens"),
    ({"model": "echo@echo", "prompt": "x", "logprobs": 6}, "logprobs"),
    ({"model": "echo@echo", "prompt": [1, 2]}, "prompt"),  # token arrays: native endpoints only
    ({"model": "echo@echo", "prompt": [[1], [2]]}, "prompt"),
    ({"model": NATIVE, "prompt": "x", "n": 2, "best_of": 1}, "best_of"),
    ({"model": NATIVE, "prompt": "x", "best_of": 2, "stream": True}, "best_of"),
    ({"model": CHAT_ONLY, "prompt": "x", "suffix": "y", "drop_params": False}, "suffix"),
    ({"model": "echo@echo", "prompt": "x", "metadata": {"api_base": "http://169.254.169.254"}}, "metadata.api_base"),
])
def test_bad_input_is_refused_before_any_hold(server: LocalServer, body: dict, param: str) -> None:
    before = credits_of(server)
    sdk = {k: v for k, v in body.items() if k not in ("drop_params", "metadata")}
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client(server).completions.create(**sdk, extra_body={k: v for k, v in body.items() if k not in sdk})
    assert refused.value.body["param"] == param  # type: ignore[index]
    assert refused.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert credits_of(server) == before


@pytest.mark.parametrize("path", ["/v1/completions", "/openai/deployments/llama-3.1-8b-chat@together-ai/completions"])
def test_a_client_leaving_a_native_stream_cancels_the_upstream_and_pays_what_was_made(
        server: LocalServer, fake_upstream, path: str) -> None:
    key = _account_with(server, "1")
    disconnects_before = fake_upstream.disconnects
    body = {"model": "llama-3.1-8b-chat@together-ai", "stream": True, "max_tokens": 1000, "prompt": "scenario:paced"}
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=30, params={"api-version": "2024-10-21"},
                      headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status_code == 200
        received = list(_first_text(response.iter_lines()))
    assert received  # one word arrived, then the client went away
    deadline = time.monotonic() + 5
    while fake_upstream.disconnects == disconnects_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_upstream.disconnects > disconnects_before
    time.sleep(0.3)
    remaining = credits_of(server, key)
    ledger = server.cli_json("credits", "ledger", "--account", _account_of(server, key))
    assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == remaining
    assert {e["kind"] for e in ledger["entries"]} == {"grant", "hold", "settle"}
    # Billed for the prompt and what was generated, far below the 1000-token hold.
    assert Decimal("0") < Decimal("1") - remaining < Decimal("0.0001")


def _first_text(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if '"text":"fake' in line.replace(" ", ""):
            yield line
            return


# ------------------------------------------------------------------------- several prompts, translated
def _ledger_kinds(server: LocalServer, key: str) -> list[str]:
    ledger = server.cli_json("credits", "ledger", "--account", _account_of(server, key))
    assert sum(Decimal(e["credits"]) for e in ledger["entries"]) == credits_of(server, key)
    return sorted(e["kind"] for e in ledger["entries"])


def test_translated_several_prompts_are_one_chat_call_each_under_one_hold_and_one_settle(
        server: LocalServer, fake_upstream) -> None:
    key = _account_with(server, "1")
    calls_before = fake_upstream.count("/alpha/v1/chat/completions")
    raw = openai_client(server, key).completions.with_raw_response.create(
        model=CHAT_ONLY, prompt=["one", "two two", "3"], max_tokens=20)
    completion = raw.parse()
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert [c.text for c in completion.choices] == ["fake reply to: one", "fake reply to: two two",
                                                    "fake reply to: 3"]
    assert fake_upstream.count("/alpha/v1/chat/completions") == calls_before + 3
    sent = [r.body["messages"] for r in fake_upstream.received if "/alpha/v1/chat/completions" in r.path][-3:]
    assert sorted(m[0]["content"] for m in sent) == ["3", "one", "two two"]
    assert all(len(m) == 1 for m in sent)
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == 3 * PROMPT_TOKENS
    assert usage.completion_tokens == 4 + 5 + 4
    assert Decimal("1") - credits_of(server, key) == cost_of(usage) == Decimal(raw.headers["x-unigate-cost"]) > 0
    assert _ledger_kinds(server, key) == ["grant", "hold", "settle"]


def test_translated_several_prompts_with_n_and_echo(server: LocalServer) -> None:
    completion = openai_client(server).completions.create(model="echo@echo", prompt=["alpha", "beta"], n=2, echo=True,
                                                    max_tokens=10)
    # OpenAI's numbering: index = prompt index * n + choice; each choice echoes its own prompt.
    assert [(c.index, c.text) for c in completion.choices] == [(0, "alphaalpha"), (1, "alphaalpha"),
                                                               (2, "betabeta"), (3, "betabeta")]


def test_translated_several_prompts_streamed(server: LocalServer, fake_upstream) -> None:
    key = _account_with(server, "1")
    stream = openai_client(server, key).completions.create(model=CHAT_ONLY, prompt=["first one", "second"], stream=True,
                                                     stream_options={"include_usage": True})
    chunks = list(stream)
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert texts == {0: "fake reply to: first one", 1: "fake reply to: second"}
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1  # one usage chunk for the request, the last
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 2 * PROMPT_TOKENS
    assert chunks[-1].usage.completion_tokens == 5 + 4
    assert Decimal("1") - credits_of(server, key) == cost_of(chunks[-1].usage) > 0
    assert _ledger_kinds(server, key) == ["grant", "hold", "settle"]


def test_a_failing_prompt_after_others_were_answered_bills_those_and_is_not_retried(
        server: LocalServer, fake_upstream) -> None:
    key = _account_with(server, "1")
    before = fake_upstream.count("/alpha/v1/chat/completions")
    with pytest.raises(openai.APIStatusError) as failed:
        openai_client(server, key).completions.create(model=CHAT_ONLY, prompt=["fine", "scenario:error:500"])
    assert failed.value.status_code == 502
    assert fake_upstream.count("/alpha/v1/chat/completions") == before + 2  # not tried again
    charged = Decimal("1") - credits_of(server, key)
    assert charged > 0  # the answered prompt
    assert _ledger_kinds(server, key) == ["grant", "hold", "settle"]
    # Streamed: the first prompt's text arrives, the failing one ends the stream with OpenAI's error event.
    with httpx.stream("POST", f"{server.url}/v1/completions", timeout=30, headers={"Authorization": f"Bearer {key}"},
                      json={"model": CHAT_ONLY, "prompt": ["fine", "scenario:error:500"], "stream": True}) as response:
        assert response.status_code == 200
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert "".join(e["choices"][0]["text"] for e in events if e.get("choices")) == "fake reply to: fine"
    assert events[-1]["error"]["type"] == "api_error"  # as chat's stream ends on an upstream failure
    assert Decimal("1") - credits_of(server, key) > 2 * charged - Decimal("0.000001")
    assert _ledger_kinds(server, key) == ["grant", "hold", "hold", "settle", "settle"]


def test_a_first_prompt_failing_before_anything_was_answered_falls_back(server: LocalServer) -> None:
    completion = openai_client(server).completions.create(model="fail@echo->echo@echo", prompt=["x y", "z"])
    assert [c.text for c in completion.choices] == ["x y", "z"]
    assert completion.model == "echo@echo"


def test_a_client_leaving_a_stream_of_several_prompts_cancels_it_and_pays_what_was_made(
        server: LocalServer, fake_upstream) -> None:
    key = _account_with(server, "1")
    disconnects_before = fake_upstream.disconnects
    body = {"model": CHAT_ONLY, "stream": True, "max_tokens": 1000, "prompt": ["scenario:paced", "never sent"]}
    with httpx.stream("POST", f"{server.url}/v1/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status_code == 200
        received = list(_first_text(response.iter_lines()))
    assert received
    deadline = time.monotonic() + 5
    while fake_upstream.disconnects == disconnects_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_upstream.disconnects > disconnects_before
    time.sleep(0.3)
    assert not any(r.body.get("messages") == [{"role": "user", "content": "never sent"}]
                   for r in fake_upstream.received if isinstance(r.body, dict))
    assert _ledger_kinds(server, key) == ["grant", "hold", "settle"]
    assert Decimal("0") < Decimal("1") - credits_of(server, key) < Decimal("0.0001")
