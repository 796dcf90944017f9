"""Issue #29: the charge always covers what the provider bills.

An honest provider per wire format (tests/fakes/honest.py) bills one token per 4 bytes of everything it is
sent, plus a fixed cost per image, and generates exactly up to the output limit in its request (4,096 when
there is none). Over any request shape a caller can send (pass-through extras, response_format, tools,
images by URL and data, every sampling and limit parameter; chat, inference and embeddings, streamed or
not), the caller's charge is at least that bill, or the difference is an uncollected ledger entry. With an
honest provider and enough balance there is no uncollected entry at all: the hold bounded the bill.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import honest as honest_fake
from unigate.accounts import accounts, billing
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import UnigateError
from unigate.domain.records import Caller
from unigate.gateway import chat, embeddings, inference
from unigate.infra.transport import aclose_clients
from unigate.providers.base import UpstreamCall
from unigate.providers.bedrock.transformation import to_converse
from unigate.stores import accounts as store

OPENAI_PARAMS = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "presence_penalty",
                 "frequency_penalty", "logit_bias", "seed", "user", "tools", "tool_choice", "parallel_tool_calls",
                 "response_format", "stream", "stream_options"]
# mistral-ai's list: max_tokens only (the finding: max_completion_tokens used to be dropped, leaving no cap).
MISTRAL_PARAMS = ["temperature", "top_p", "max_tokens", "stop", "presence_penalty", "frequency_penalty", "seed",
                  "tools", "tool_choice", "response_format", "stream", "n"]
ANTHROPIC_PARAMS = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
                    "parallel_tool_calls", "stream", "stream_options", "user"]
GEMINI_PARAMS = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "presence_penalty",
                 "frequency_penalty", "seed", "tools", "tool_choice", "response_format", "stream", "stream_options"]
PROVIDERS = {
    "honest-openai": ("openai", "/openai/v1", OPENAI_PARAMS),
    "honest-mistral": ("openai", "/openai/v1", MISTRAL_PARAMS),
    "honest-anthropic": ("anthropic", "/anthropic/v1", ANTHROPIC_PARAMS),
    "honest-gemini": ("gemini", "/gemini/v1beta", GEMINI_PARAMS),
}
CHAT = [f"m@{name}" for name in PROVIDERS]
EMBEDDING = ["e@honest-openai", "e@honest-gemini"]
ACCOUNT = "acct_honest"
MAX_OUTPUT = 1024


def catalog(url: str) -> dict[str, Any]:
    endpoint = {"upstream": "m", "input": "2.5", "output": "10", "context": 2_000_000, "max_output": MAX_OUTPUT}
    return {
        "providers": {name: {"family": family, "base_url": url + path, "secret": name, "params": params}
                      for name, (family, path, params) in PROVIDERS.items()},
        "endpoints": {
            **dict.fromkeys(CHAT, endpoint),
            **{model: {"upstream": "e", "input": "0.1", "output": "0", "context": 8192, "max_output": 1,
                       "type": "embedding", "dimensions": 8} for model in EMBEDDING},
        },
    }


@pytest.fixture(scope="module")
def honest_server() -> Iterator[honest_fake.Honest]:
    fake, server = honest_fake.start()
    yield fake
    server.should_exit = True


@pytest.fixture
def honest(aws: None, honest_server: honest_fake.Honest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[honest_fake.Honest]:
    from unigate.infra import aws as aws_clients
    from unigate.infra.config import get_settings

    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog(honest_server.url)))
    monkeypatch.setenv("UNIGATE_CATALOG_PATH", str(path))
    monkeypatch.setenv("UNIGATE_UPSTREAM_RETRIES", "0")
    get_settings.cache_clear()
    get_catalog.cache_clear()
    for name in PROVIDERS:
        aws_clients.client("secretsmanager").create_secret(Name=f"unigate/providers/{name}",
                                                           SecretString=f"sk-{name}-0123456789")
    accounts.create_account(name="honest", account_id=ACCOUNT)
    billing.grant(ACCOUNT, 1_000_000_000_000, idempotency_key="initial")
    yield honest_server
    get_catalog.cache_clear()
    get_settings.cache_clear()


# ------------------------------------------------------------------------------------ request shapes
def _text(draw: st.DrawFn) -> str:
    piece = draw(st.sampled_from(["hello ", "ж", "😀", "{\"a\": 1} ", "x"]))
    return piece * draw(st.one_of(st.integers(0, 40), st.integers(1000, 20_000)))


@st.composite
def content(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return _text(draw) or "hi"
    parts: list[dict[str, Any]] = [{"type": "text", "text": _text(draw) or "hi"}]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            url = "https://example.com/" + "p" * draw(st.integers(1, 200)) + ".png"
        else:
            url = "data:image/png;base64," + "iVBORw0KGgoAAAAN" * draw(st.integers(1, 300))
        parts.append({"type": "image_url", "image_url": {"url": url, "detail": "high"}})
    return parts


TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "d" * 500,
                                           "parameters": {"type": "object",
                                                          "properties": {"q": {"type": "string"}}}}}]


@st.composite
def extras(draw: st.DrawFn) -> dict[str, Any]:
    """Fields outside OpenAI's API, as a caller sends them with extra-parameters: pass-through."""
    options: dict[str, Any] = {
        "system": "s" * draw(st.integers(1, 30_000)),
        "contents": [{"role": "user", "parts": [{"text": "c" * draw(st.integers(1, 20_000))}]}],
        "generationConfig": {"maxOutputTokens": 8192, "candidateCount": 4, "topK": 3},
        "systemInstruction": {"parts": [{"text": "y" * draw(st.integers(1, 20_000))}]},
        "max_new_tokens": 8000,
        "messages": [{"role": "user", "content": "z" * draw(st.integers(1, 10_000))}],
        "top_k": 5,
        "metadata_blob": {"k": "v" * draw(st.integers(1, 10_000))},
    }
    keys = draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=4))
    return {key: options[key] for key in keys}


@st.composite
def chat_body(draw: st.DrawFn, *, streams: bool = True) -> dict[str, Any]:
    messages = [{"role": draw(st.sampled_from(["system", "user", "assistant"])), "content": draw(content())}
                for _ in range(draw(st.integers(0, 2)))]
    messages.append({"role": "user", "content": draw(content())})
    body: dict[str, Any] = {"model": draw(st.sampled_from(CHAT)), "messages": messages}
    optional = {
        "max_tokens": st.integers(1, MAX_OUTPUT), "max_completion_tokens": st.integers(1, MAX_OUTPUT),
        "temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "n": st.integers(1, 3),
        "stop": st.sampled_from(["\n", ["a", "b"]]), "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.floats(-2, 2), "seed": st.integers(0, 1000), "user": st.just("u" * 300),
        "logit_bias": st.just({"50256": -100}),
        "response_format": st.builds(lambda size: {"type": "json_schema", "json_schema": {
            "name": "r", "schema": {"type": "object", "description": "q" * size}}}, st.integers(1, 30_000)),
        "tools": st.just(TOOLS), "tool_choice": st.sampled_from(["auto", "required", "none"]),
        "tags": st.lists(st.sampled_from(["a", "b", "tag-" + "t" * 50]), max_size=5),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=8)):
        body[name] = draw(optional[name])
    if "tool_choice" in body and "tools" not in body:
        body["tools"] = TOOLS
    if streams and draw(st.booleans()):
        body["stream"] = True
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    return body


@st.composite
def embedding_body(draw: st.DrawFn) -> dict[str, Any]:
    inputs = [_text(draw) or "e" for _ in range(draw(st.integers(1, 3)))]
    return {"model": draw(st.sampled_from(EMBEDDING)), "input": inputs}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any], str | None]:
    surface = draw(st.sampled_from(["chat", "chat", "inference", "embeddings"]))
    body = draw(embedding_body()) if surface == "embeddings" else draw(chat_body(streams=surface == "chat"))
    mode = draw(st.sampled_from([None, "drop", "pass-through", "pass-through"]))
    extra = draw(extras()) if mode == "pass-through" else {}
    return surface, body, extra, mode


# ------------------------------------------------------------------------------------------- running
def _run(surface: str, body: dict[str, Any], mode: str | None) -> None:
    caller = Caller(ACCOUNT, "key_honest", ())

    async def go() -> None:
        try:
            if surface == "embeddings":
                await embeddings.embed(embeddings.prepare(body, caller, extra_parameters=mode), caller)
            elif surface == "inference":
                model, _, provider = body.pop("model").partition("@")
                planned = inference.prepare({"model": model, "provider": provider, "arguments": body}, caller,
                                            extra_parameters=mode)
                await inference.run(planned, caller)
            else:
                result = await chat.complete(chat.prepare(body, caller, extra_parameters=mode), caller)
                if isinstance(result, chat.Streamed):
                    async for _ in result.chunks:
                        pass
        finally:
            await aclose_clients()

    asyncio.run(go())


def _uncollected() -> int:
    total, start = 0, None
    while True:
        entries, start = store.list_ledger(ACCOUNT, limit=500, start=start)
        total += sum(int(e.details["uncollected"]) for e in entries if e.kind == "uncollected")
        if start is None:
            return total


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=requests())
def test_the_charge_covers_the_honest_providers_bill(honest: honest_fake.Honest,
                                                     case: tuple[str, dict[str, Any], dict[str, Any], str | None]
                                                     ) -> None:
    surface, body, extra, mode = case
    model = body["model"]
    body = {**extra, **body}
    before, seen, uncollected_before = accounts.get_account(ACCOUNT).balance_micros, len(honest.bills), _uncollected()
    refused: UnigateError | None = None
    try:
        _run(surface, body, mode)
    except UnigateError as exc:
        refused = exc
    if refused is not None:
        # Refused before any hold: nothing was sent, nothing is charged.
        assert refused.status < 500, refused
        assert len(honest.bills) == seen
        assert accounts.get_account(ACCOUNT).balance_micros == before
        return
    endpoint = get_catalog().endpoints[model]
    bill = sum(endpoint.cost_micros(b.prompt, b.completion) for b in honest.bills[seen:])
    charged = before - accounts.get_account(ACCOUNT).balance_micros
    uncollected = _uncollected() - uncollected_before
    assert len(honest.bills) == seen + 1
    assert charged + uncollected >= bill
    # An honest provider never bills beyond the hold: nothing was left uncollected, and the charge is the bill.
    assert uncollected == 0
    assert charged == bill
    assert store.list_open_holds(ACCOUNT) == []


# ------------------------------------------------------------------------------------------- Bedrock
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=chat_body(streams=False), extra=extras())
def test_the_bedrock_hold_bounds_the_honest_bill_of_the_converse_request(body: dict[str, Any],
                                                                        extra: dict[str, Any]) -> None:
    """Bedrock runs through boto3, not HTTP to a local fake: the same honest bill is applied to the exact
    Converse request the adapter sends, against the hold unigate computes for it."""
    from unigate.catalog.entries import build

    cat = build({"providers": {"aws-bedrock": {"family": "bedrock", "params": GEMINI_PARAMS}},
                 "endpoints": {"m@aws-bedrock": {"upstream": "m", "input": "3", "output": "15", "context": 2_000_000,
                                                 "max_output": MAX_OUTPUT}}})
    endpoint, provider = cat.endpoints["m@aws-bedrock"], cat.providers["aws-bedrock"]
    candidate = chat.routing.Candidate(endpoint, provider)
    body = {**body, "model": "m@aws-bedrock"}
    request, sent = chat.parse_requests(body)[0]
    prepared = chat._bind(request, sent, candidate, chat._Prompt(1), chat.unify_extras(request, sent), key=None,
                          extra_mode="pass-through")
    prepared.extra = {**prepared.extra, **extra}
    chat.bound(prepared)
    converse = to_converse(UpstreamCall(endpoint, provider, prepared.body, {}, 1.0, prepared.extra))
    prompt, completion = honest_fake.converse_bill(converse)
    assert prepared.worst_case_micros >= endpoint.cost_micros(prompt, completion)
