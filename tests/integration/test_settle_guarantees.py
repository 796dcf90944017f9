"""Issue #29: every hold ends charged. Input that DynamoDB would refuse is refused at the edge (400, before
any hold); the query log record can never fail the settle; a failed settle is retried; a settle that never
lands leaves its hold to the sweeper, which charges it whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.accounts import billing, querylog, sweeper
from unigate.domain.errors import BadRequest, ServiceUnavailable
from unigate.domain.records import Caller
from unigate.gateway import chat, embeddings, inference
from unigate.stores import accounts as store

CALLER = Caller("acct_test", "key_test", ())
START = 10_000_000


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello world"}], **extra}


@pytest.mark.parametrize("prepare", [
    lambda: chat.prepare(_body(messages=[{"role": "user", "content": "a\ud800b"}]), CALLER),
    lambda: chat.prepare(_body(tags=["\ud800"]), CALLER),
    lambda: chat.prepare(_body(metadata={"k\udfff": "v"}), CALLER),
    lambda: embeddings.prepare({"model": "text-embedding-3-small@openai", "input": ["x\ud800"]}, CALLER),
    lambda: inference.prepare({"model": "gpt-4o", "provider": "openai",
                               "arguments": {"messages": [{"role": "user", "content": "\udc00"}]}}, CALLER),
])
def test_lone_surrogates_are_refused_at_the_edge(account: str, prepare: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        prepare()
    assert refused.value.status == 400
    assert "surrogate" in refused.value.message


@pytest.mark.parametrize("tags", [["t" * 900_000], ["t"] * 45_000, ["ж" * 257]])
def test_tags_over_their_bounds_are_refused_at_the_edge(account: str, tags: list[str]) -> None:
    with pytest.raises(BadRequest) as refused:
        chat.prepare(_body(tags=tags), CALLER)
    assert refused.value.param is not None
    assert refused.value.param.startswith("tags")


def test_query_log_bodies_are_truncated_by_bytes() -> None:
    from unigate.stores.dynamo import unmarshal

    put = querylog.record_put(account_id="a", endpoint="e", outcome="ok", prompt_tokens=1, completion_tokens=1,
                              cost_micros=1, latency_ms=1, ttft_ms=None, tags=["x"] * 64,
                              request_body={"q": "ж" * 300_000}, response_body="😀" * 300_000 + "\ud800")
    item = unmarshal(put["Put"]["Item"])
    for name in ("request_body", "response_body"):
        assert len(item[name].encode("utf-8")) <= querylog.MAX_BODY
    assert len(json.dumps(put, ensure_ascii=False).encode()) < 350_000


def test_a_stream_with_the_largest_tags_is_charged_not_left_open(providers: Any, account: str) -> None:
    """The 900 KB tag used to make DynamoDB refuse the settle after the stream was delivered: the hold stayed
    open and was swept at 0. Now the largest tags the edge lets through still settle."""
    tags = ["ж" * 256] * 64
    _, events = run_chat(_body(stream=True, tags=tags, log_query_body=True, log_response_body=True))
    assert events[-1] == "[DONE]"
    assert assert_money_consistent() < START
    (record,) = querylog.list_queries(account)["queries"]
    assert record["tags"] == tags


def test_a_failed_settle_is_retried(providers: Any, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = billing.settle, []

    def flaky(held: Any, cost: int, extra: tuple = ()) -> bool:
        calls.append(extra)
        if len(calls) < 3:
            raise ServiceUnavailable("busy", code="store_busy")
        return real(held, cost, extra)

    monkeypatch.setattr(billing, "settle", flaky)
    monkeypatch.setattr(chat.random, "uniform", lambda a, b: 0)
    _, body = run_chat(_body())
    assert len(calls) == 3
    assert assert_money_consistent() == START - round(body["usage"]["cost"] * 1_000_000)


def test_a_settle_the_record_breaks_still_charges(providers: Any, account: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever makes the store refuse the transaction's extra items, the last tries settle without them."""
    real = billing.settle

    def picky(held: Any, cost: int, extra: tuple = ()) -> bool:
        if extra:
            raise RuntimeError("ValidationException: Item size has exceeded the maximum allowed size")
        return real(held, cost, extra)

    monkeypatch.setattr(billing, "settle", picky)
    monkeypatch.setattr(chat.random, "uniform", lambda a, b: 0)
    _, body = run_chat(_body())
    assert body["usage"]["cost"] > 0
    assert assert_money_consistent() == START - round(body["usage"]["cost"] * 1_000_000)


def test_a_settle_that_never_lands_is_charged_whole_by_the_sweeper(providers: Any, account: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(held: Any, cost: int, extra: tuple = ()) -> bool:
        raise ServiceUnavailable("down", code="store_busy")

    monkeypatch.setattr(billing, "settle", broken)
    monkeypatch.setattr(chat.random, "uniform", lambda a, b: 0)
    _, body = run_chat(_body(max_tokens=10))
    assert body["choices"][0]["message"]["content"]  # the caller still gets the answer
    monkeypatch.undo()
    (held,) = store.list_open_holds(account)
    swept = sweeper.sweep(datetime.now(UTC) + timedelta(minutes=25))["charged"]
    assert [s["amount_micros"] for s in swept] == [int(held["amount"])]
    assert assert_money_consistent() == START - int(held["amount"])


@pytest.mark.parametrize("stream", [False, True])
def test_the_calls_key_is_scrubbed_from_successful_content_and_the_query_log(providers: Any, account: str,
                                                                             stream: bool) -> None:
    from tests.fakes.upstream import CANARY_KEYS
    from tests.integration.chat_helpers import streamed_text

    _, answer = run_chat(_body(messages=[{"role": "user", "content": "scenario:echokey"}], stream=stream,
                               log_response_body=True))
    text = streamed_text(answer) if stream else answer["choices"][0]["message"]["content"]
    assert "your key is [REDACTED]" in text
    assert CANARY_KEYS["openai"] not in json.dumps(answer)
    (record,) = querylog.list_queries(account)["queries"]
    assert CANARY_KEYS["openai"] not in json.dumps(record)
    assert "[REDACTED]" in record["response_body"]
