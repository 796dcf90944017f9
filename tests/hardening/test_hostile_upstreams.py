"""Hostile upstreams (tests/fakes/hostile.py: exact bytes over real HTTP on 127.0.0.1) through the chat
service: each answer that breaks HTTP, never ends, inflates without bound or redirects is a clear 502 (or,
once the stream has started, its error event), the hold is settled for what was produced and nothing stays
held, memory stays bounded, and the next request on the same event loop (and connection pool) is answered."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import hostile as fakes
from tests.fakes.upstream import catalog_override
from tests.integration.chat_helpers import assert_money_consistent, collected, streamed_text
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import UnigateError, UpstreamError
from unigate.domain.records import Caller
from unigate.gateway import chat
from unigate.infra.config import get_settings
from unigate.infra.transport import aclose_clients

START = 10_000_000
BODY_CAP = 1024 * 1024
STREAM_CAP = 4 * 1024 * 1024
LINE_CAP = 64 * 1024
FAILING = [name for name in fakes.SCENARIOS if name not in ("ok", "smuggle", "drip")]
# The streamed variants that send one good event before they fail: the failure lands mid-stream.
MID_STREAM = {"chunk-negative", "chunk-hex-prefix", "chunk-absurd", "endless-body", "endless-line"}
BROKE = "broke HTTP"
TOO_LARGE = "answer is larger than the gateway's limit"
LINE_TOO_LONG = "event stream line is larger than the gateway's limit"
# What the failure says, for the plain request and for the streamed one.
WHY = {
    "chunk-negative": (BROKE, BROKE), "chunk-hex-prefix": (BROKE, BROKE),
    "chunk-absurd": (TOO_LARGE, LINE_TOO_LONG),  # its endless bytes extend the stream's last line
    "both-framings": (BROKE, BROKE),  # the HTTP client's parser refuses the answer's head
    "gzip-bomb": (TOO_LARGE, LINE_TOO_LONG),  # spaces without a line end, in a stream
    "endless-body": (TOO_LARGE, TOO_LARGE), "endless-line": (TOO_LARGE, LINE_TOO_LONG),
    "redirect": ("302 from upstream: a redirect, not followed",) * 2,
}


@pytest.fixture(scope="session")
def hostile_upstream() -> fakes.HostileUpstream:
    return fakes.start()


@pytest.fixture
def hostile(providers: Any, account: str, hostile_upstream: fakes.HostileUpstream, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> fakes.HostileUpstream:
    """The fake providers and the hostile one in the catalog, with small caps so that the tests stay quick."""
    override = catalog_override(providers.url)
    entries = fakes.catalog(hostile_upstream.url)
    override["providers"].update(entries["providers"])
    override["endpoints"].update(entries["endpoints"])
    (tmp_path / "hostile.json").write_text(json.dumps(override))
    monkeypatch.setenv("UNIGATE_CATALOG_PATH", str(tmp_path / "hostile.json"))
    monkeypatch.setenv("UNIGATE_UPSTREAM_MAX_BODY_BYTES", str(BODY_CAP))
    monkeypatch.setenv("UNIGATE_UPSTREAM_MAX_STREAM_BYTES", str(STREAM_CAP))
    monkeypatch.setenv("UNIGATE_UPSTREAM_MAX_SSE_LINE_BYTES", str(LINE_CAP))
    get_settings.cache_clear()
    get_catalog.cache_clear()
    return hostile_upstream


def ask(scenario: str, *, stream: bool = False, provider: str = "hostile") -> dict[str, Any]:
    return {"model": f"{scenario}@{provider}", "stream": stream, "messages": [{"role": "user", "content": "hello"}]}


async def _one(body: dict[str, Any]) -> Any:
    """The chat service's answer: the body, the stream's events (chunk dicts and "[DONE]"), or the error.
    `_account` in the body names the calling account (acct_test by default)."""
    body = dict(body)
    caller = Caller(body.pop("_account", "acct_test"), "key_test")
    try:
        result = await chat.complete(chat.prepare(body, caller), caller)
    except UnigateError as error:
        return error
    return (await collected(result))[1]


def in_one_loop(*bodies: dict[str, Any]) -> list[Any]:
    """Each body's answer in turn on one event loop, as a warm Lambda serves them: one connection pool."""
    async def main() -> list[Any]:
        try:
            return [await _one(body) for body in bodies]
        finally:
            await aclose_clients()

    return asyncio.run(main())


def content(answer: Any) -> str:
    if isinstance(answer, list):
        return streamed_text(answer)
    assert isinstance(answer, dict), answer
    return str(answer["choices"][0]["message"]["content"])


def charged(body: dict[str, Any]) -> int:
    return round(body["usage"]["cost"] * 1_000_000)


@pytest.mark.parametrize("scenario", FAILING)
def test_a_hostile_answer_is_a_clear_502_and_costs_nothing(hostile: Any, scenario: str) -> None:
    failed, hostile_again, fake = in_one_loop(ask(scenario), ask("ok"), ask("gpt-4o", provider="openai"))
    assert isinstance(failed, UpstreamError), failed
    assert failed.status == 502
    assert WHY[scenario][0] in failed.message
    # The same loop, pool and upstream answer the next requests.
    assert content(hostile_again) == "fine"
    assert content(fake) == "fake reply to: hello"
    # The failure cost nothing: only the two answers after it are charged.
    assert START - assert_money_consistent() == charged(hostile_again) + charged(fake)


@pytest.mark.parametrize("scenario", FAILING)
def test_a_hostile_stream_ends_in_an_error_event_billed_for_what_it_produced(hostile: Any, scenario: str) -> None:
    failed, hostile_again = in_one_loop(ask(scenario, stream=True), ask("ok", stream=True))
    if scenario in MID_STREAM:
        assert isinstance(failed, list), failed
        assert streamed_text(failed) == "partial answer "
        assert "[DONE]" not in failed
        error = failed[-1]["error"]
        assert WHY[scenario][1] in error["message"]
        assert error["type"] == UpstreamError("").openai_type
    else:  # it failed before its first event: a proper status instead of a 200 with an error in it
        assert isinstance(failed, UpstreamError), failed
        assert WHY[scenario][1] in failed.message
    assert content(hostile_again) == "fine"
    # What the failed stream produced is charged (the partial answer, when there was one), and no more; the
    # good stream after it is charged its upstream usage (5 prompt and 2 completion tokens).
    failed_charge = START - assert_money_consistent() - get_catalog().endpoint("ok", "hostile").cost_micros(5, 2)
    assert failed_charge >= 0
    assert (failed_charge > 0) == (scenario in MID_STREAM)


def test_a_gzip_bomb_is_never_inflated_past_the_cap(hostile: Any) -> None:
    """2 GiB of spaces in 2 MiB of gzip: the answer fails at the cap, and the process never holds much more
    than the cap (Python's own allocations, traced, while the request runs)."""
    bomb = fakes.gzip_bomb()  # made before measuring
    assert len(bomb) < 4 * 1024 * 1024
    tracemalloc.start()
    try:
        failed, = in_one_loop(ask("gzip-bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(failed, UpstreamError)
    assert TOO_LARGE in failed.message
    assert peak < BODY_CAP + 24 * 1024 * 1024, f"{peak} bytes at the peak"
    assert assert_money_consistent() == START


def test_an_answer_nobody_asked_for_never_reaches_the_next_request(hostile: Any) -> None:
    """A server that writes a second answer behind the first on a kept-alive connection: the connection is
    dropped, so the next request gets its own answer on a new one (httpx alone would hand it the second
    answer: see tests/unit/test_transport.py)."""
    for stream in (False, True):
        before = hostile.connections
        answers = in_one_loop(ask("smuggle", stream=stream), ask("ok", stream=stream), ask("ok", stream=stream))
        assert [content(a) for a in answers] == ["fine", "fine", "fine"]
        assert hostile.connections - before == 2  # the first connection was dropped, the second one kept
    assert_money_consistent()


def test_an_answer_nobody_asked_for_never_reaches_another_account(hostile: Any) -> None:
    """Issue #29's desync across two accounts: account A's upstream sends a second answer behind the first;
    account B's next request on the pool gets its own answer, and pays only for it."""
    from unigate.accounts import accounts, billing

    accounts.create_account(name="b", account_id="acct_b")
    billing.grant("acct_b", START, idempotency_key="start")
    for stream in (False, True):
        first, second = in_one_loop(ask("smuggle", stream=stream), {**ask("ok", stream=stream), "_account": "acct_b"})
        assert content(first) == "fine"
        assert content(second) == "fine"
    assert "smuggled" not in json.dumps(second)
    assert_money_consistent()
    assert_money_consistent("acct_b")


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_drips_is_cut_at_the_calls_deadline(hostile: Any, monkeypatch: pytest.MonkeyPatch,
                                                             stream: bool) -> None:
    """Issue #29: the upstream timeout was per read, so a body dripped faster than it ran for as long as the
    upstream liked (40 s with a 10 s limit). Now the call's deadline bounds the whole answer: cut, then billed
    for what was produced (a stream), or its whole hold (a plain answer, of which nothing is known)."""
    monkeypatch.setenv("UNIGATE_UPSTREAM_TIMEOUT_SECONDS", "2")
    get_settings.cache_clear()
    (answer,) = in_one_loop(ask("drip", stream=stream))
    if not stream:
        # Sent, and what was produced unknown: charged its whole hold, as the sweeper would.
        assert isinstance(answer, UnigateError)
        assert answer.status == 504
        held = chat.prepare(ask("drip"), Caller("acct_test", "key_test"))[0].worst_case_micros
        assert START - assert_money_consistent() == held
        return
    assert isinstance(answer, list)
    error = answer[-1]["error"]
    assert error["code"] == "upstream_timeout"
    produced = content(answer).count("partial answer")
    # One event every DRIP_SECONDS: cut at the 2 s deadline, long before the fake's own 30 s end.
    assert 1 <= produced < fakes.MAX_SECONDS / fakes.DRIP_SECONDS / 2
    assert START - assert_money_consistent() > 0
