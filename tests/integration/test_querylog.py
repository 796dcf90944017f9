"""The query log: a record per paid attempt, bodies only when asked, filters, pagination, isolation."""

from __future__ import annotations

import pytest

from tests.integration.chat_helpers import run_chat
from unigate.accounts import accounts, billing, querylog
from unigate.domain.errors import BadRequest, UpstreamError


def _ask(text: str = "hello", **extra: object) -> dict:
    return {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": text}], **extra}


def test_every_paid_request_is_logged_with_what_it_cost(providers, account: str) -> None:
    _, body = run_chat(_ask(tags=["batch-7", "eu"]))
    with pytest.raises(UpstreamError):
        run_chat(_ask("scenario:error:500", tags=["batch-7"]))
    run_chat(_ask(stream=True))
    listing = querylog.list_queries(account)
    assert len(listing["queries"]) == 3
    newest_first = [q["created_at"] for q in listing["queries"]]
    assert newest_first == sorted(newest_first, reverse=True)
    ok = listing["queries"][-1]
    assert ok["endpoint"] == "gpt-4o@openai"
    assert ok["outcome"] == "ok"
    assert ok["failed"] is False
    assert ok["tags"] == ["batch-7", "eu"]
    assert ok["cost"] == body["usage"]["cost"]
    assert (ok["prompt_tokens"], ok["completion_tokens"]) == (body["usage"]["prompt_tokens"],
                                                              body["usage"]["completion_tokens"])
    assert ok["latency_ms"] >= 0
    assert "request_body" not in ok
    assert "response_body" not in ok
    failed = listing["queries"][1]
    assert (failed["outcome"], failed["failed"], failed["cost"]) == ("server_error", True, 0.0)
    streamed = listing["queries"][0]
    assert streamed["ttft_ms"] is not None


def test_bodies_are_kept_only_when_asked(providers, account: str) -> None:
    run_chat(_ask("remember me", log_query_body=True))
    run_chat(_ask("and my answer", log_response_body=True))
    answer, request = querylog.list_queries(account)["queries"]
    assert "remember me" in request["request_body"]
    assert "response_body" not in request
    assert "fake reply to: and my answer" in answer["response_body"]
    assert '"model": "gpt-4o@openai"' in answer["response_body"]
    assert "request_body" not in answer


def test_filters_and_pages(providers, account: str) -> None:
    for index in range(5):
        run_chat(_ask(tags=[f"t{index % 2}"]))
    with pytest.raises(UpstreamError):
        run_chat(_ask("scenario:error:503", tags=["t0"]))
    assert len(querylog.list_queries(account, tags=["t0"])["queries"]) == 4
    assert len(querylog.list_queries(account, failures=True)["queries"]) == 1
    assert len(querylog.list_queries(account, failures=False, tags=["t0"])["queries"]) == 3
    assert querylog.list_queries(account, endpoints=["claude-haiku-4.5@anthropic"])["queries"] == []
    assert len(querylog.list_queries(account, end_time="2000-01-01T00:00:00Z")["queries"]) == 0
    seen, cursor = [], None
    while True:
        page = querylog.list_queries(account, limit=4, cursor=cursor)
        seen.extend(q["query_id"] for q in page["queries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    for bad in ({"start_time": "yesterday"}, {"limit": 0}, {"cursor": "{nope"}):
        with pytest.raises(BadRequest):
            querylog.list_queries(account, **bad)  # type: ignore[arg-type]


def test_one_account_never_sees_anothers_records(providers, account: str) -> None:
    accounts.create_account(account_id="acct_other")
    billing.grant("acct_other", 10_000_000, idempotency_key="x")
    run_chat(_ask(tags=["mine"]), account="acct_other")
    run_chat(_ask(tags=["yours"]))
    assert [q["tags"] for q in querylog.list_queries("acct_other")["queries"]] == [["mine"]]
    assert [q["tags"] for q in querylog.list_queries(account)["queries"]] == [["yours"]]
    run_chat(_ask(tags=["mine"]), account="acct_other")
    theirs = querylog.list_queries("acct_other", limit=1)["next_cursor"]
    assert theirs is not None
    assert "acct_other" not in theirs
    with pytest.raises(BadRequest):
        querylog.list_queries(account, cursor=theirs)
    stolen = querylog.list_queries("acct_other")["queries"][0]["query_id"]
    raw = '{"account_id":{"S":"acct_other"},"query_id":{"S":"' + stolen + '"}}'  # the old, readable form
    with pytest.raises(BadRequest):
        querylog.list_queries(account, cursor=raw)
