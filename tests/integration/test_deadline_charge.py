"""Issue #29: a call cut by its deadline after it was sent is charged its whole hold, as the sweeper charges a
stale one (the provider may bill it in full, and what it produced is unknown), on every surface of the
pipeline; a call that provably never started (no connection) still gives its hold back. Each case runs against
the fake upstream over real HTTP, with a 1 s deadline and an upstream that answers after 5 s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import use_catalog
from tests.fakes.upstream import catalog_override
from tests.integration.chat_helpers import assert_money_consistent
from unigate.accounts import querylog
from unigate.domain.errors import UpstreamError, UpstreamTimeout
from unigate.domain.money import format_credits
from unigate.domain.records import Caller
from unigate.gateway import chat, completions, embeddings, inference, messages, responses
from unigate.infra.config import get_settings
from unigate.infra.transport import aclose_clients
from unigate.stores import accounts as store
from unigate_tools.emulator import free_port

START = 10_000_000
CALLER = Caller("acct_test", "key_test")
STALL = "scenario:stall"
Run = Callable[[], Awaitable[Any]]


def _run(make: Run) -> BaseException | None:
    async def go() -> BaseException | None:
        try:
            await make()
        except Exception as exc:
            return exc
        finally:
            await aclose_clients()
        return None

    return asyncio.run(go())


def _chat(body: dict[str, Any]) -> Run:
    return lambda: chat.complete(chat.prepare(body, CALLER), CALLER)


def _ask(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": STALL}], "max_tokens": 100, **extra}


SURFACES: dict[str, Run] = {
    "chat": _chat(_ask("gpt-4o@openai")),
    "chat-anthropic": _chat(_ask("claude-haiku-4.5@anthropic")),
    # A stream's first chunk is awaited before the response starts: cut there, it is the same call.
    "chat-stream": _chat(_ask("gpt-4o@openai", stream=True)),
    "completions": lambda: completions.complete(completions.prepare(
        {"model": "gpt-4o@openai", "prompt": STALL, "max_tokens": 100}, CALLER), CALLER),
    "messages-native": lambda: messages.create(_ask("claude-haiku-4.5@anthropic"), CALLER,
                                               messages.Inbound(headers={})),
    "messages-translated": lambda: messages.create(_ask("gpt-4o@openai"), CALLER, messages.Inbound(headers={})),
    "responses-native": lambda: responses.create(responses.prepare(
        {"model": "gpt-4o@openai-native", "input": STALL, "max_output_tokens": 100}, CALLER), CALLER),
    "responses-translated": lambda: responses.create(responses.prepare(
        {"model": "gpt-4o@openai", "input": STALL, "max_output_tokens": 100}, CALLER), CALLER),
    "inference": lambda: inference.run(inference.prepare(
        {"model": "gpt-4o", "provider": "openai", "arguments": {"messages": [{"role": "user", "content": STALL}],
                                                                "max_tokens": 100}}, CALLER), CALLER),
}


@pytest.fixture
def deadline(providers: Any, account: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("UNIGATE_UPSTREAM_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    return providers


def _only_hold() -> int:
    entries, _ = store.list_ledger("acct_test")
    (hold,) = [e for e in entries if e.kind == "hold"]
    return -hold.amount_micros


def _assert_charged_whole(error: BaseException | None) -> None:
    assert isinstance(error, UpstreamTimeout), error
    assert error.status == 504
    held = _only_hold()
    assert held > 0
    # Charged exactly the hold, nothing left open, the ledger summing to the balance.
    assert START - assert_money_consistent() == held
    assert error.headers == {"x-unigate-cost": format_credits(held)}
    assert "may have been billed" in error.message
    (record,) = querylog.list_queries("acct_test")["queries"]
    assert record["outcome"] == chat.CUT_AT_DEADLINE
    assert record["cost"] * 1_000_000 == pytest.approx(held)


@pytest.mark.parametrize("surface", SURFACES)
def test_a_call_cut_by_its_deadline_after_it_was_sent_is_charged_its_hold(deadline: Any, surface: str) -> None:
    _assert_charged_whole(_run(SURFACES[surface]))


def test_an_embeddings_call_cut_by_its_deadline_is_charged_its_hold(deadline: Any) -> None:
    deadline.delays["alpha"] = 5.0
    error = _run(lambda: embeddings.embed(embeddings.prepare({"model": "embed-test@alpha", "input": ["a", "b"]},
                                                             CALLER), CALLER))
    _assert_charged_whole(error)


def test_a_call_that_never_reached_the_upstream_gives_its_hold_back(aws: None, account: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on the port: the connection is refused before the request could be sent."""
    override = catalog_override("http://127.0.0.1:1")
    override["providers"]["alpha"]["base_url"] = f"http://127.0.0.1:{free_port()}/v1"
    use_catalog(override, tmp_path / "closed.json", monkeypatch)
    error = _run(_chat(_ask("routing-test@alpha")))
    assert isinstance(error, UpstreamError), error
    assert "x-unigate-cost" not in error.headers
    assert assert_money_consistent() == START
    records = querylog.list_queries("acct_test")["queries"]  # the attempt and its retry
    assert records
    assert {(r["outcome"], r["cost"]) for r in records} == {("connect_error", 0)}


# Each surface's route, with what its 504 body says.
ROUTES = [
    ("chat_completions", "/v1/chat/completions", _ask("gpt-4o@openai"),
     lambda body: body["error"]["code"] == "upstream_timeout"),
    ("chat_completions", "/v0/chat/completions", _ask("gpt-4o@openai"), lambda body: isinstance(body["error"], str)),
    ("messages", "/v1/messages", _ask("claude-haiku-4.5@anthropic"),
     lambda body: body["type"] == "error" and body["error"]["type"] == "timeout_error"),
    ("responses", "/v1/responses", {"model": "gpt-4o@openai-native", "input": STALL},
     lambda body: body["error"]["code"] == "upstream_timeout"),
    ("completions", "/v1/completions", {"model": "gpt-4o@openai", "prompt": STALL, "max_tokens": 100},
     lambda body: body["error"]["code"] == "upstream_timeout"),
    ("inference", "/v0/inference", {"model": "gpt-4o", "provider": "openai",
                                    "arguments": {"messages": [{"role": "user", "content": STALL}]}},
     lambda body: isinstance(body["error"], str)),
]


@pytest.mark.parametrize(("function", "path", "body", "envelope"), ROUTES, ids=[r[1] for r in ROUTES])
def test_the_answer_is_the_surfaces_504_with_the_cost(deadline: Any, function: str, path: str, body: Any,
                                                     envelope: Callable[[Any], bool]) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import template
    from unigate_tools.invoke import load_module

    (spec,) = [s for s in template().functions().values() if s.code_dir.name == function]
    context = json.dumps({"authorizer": {"account_id": "acct_test", "key_id": "key_test"}})
    with TestClient(load_module(spec).app) as client:
        answer = client.post(path, json=body, headers={"x-amzn-request-context": context})
    assert answer.status_code == 504, answer.text
    assert envelope(answer.json()), answer.json()
    assert answer.headers["x-unigate-cost"] == format_credits(_only_hold())
    assert START - assert_money_consistent() == _only_hold()
