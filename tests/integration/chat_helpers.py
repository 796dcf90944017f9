"""Running the chat service directly (no HTTP), and checking money after it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from unigate.accounts import accounts
from unigate.domain.records import Caller
from unigate.gateway import chat
from unigate.infra.transport import aclose_clients
from unigate.stores import accounts as store


def run_chat(body: Any, account: str = "acct_test", allowed: tuple[str, ...] = (), *, caller: Caller | None = None,
             extra_parameters: str | None = None) -> tuple[dict, Any]:
    """(headers, body) for a plain request; (headers, [chunk dicts or "[DONE]"]) for a stream."""
    return run_chats([body], account, allowed, caller=caller, extra_parameters=extra_parameters)[0]


def run_chats(bodies: list[Any], account: str = "acct_test", allowed: tuple[str, ...] = (), *,
              caller: Caller | None = None, extra_parameters: str | None = None) -> list[tuple[dict, Any]]:
    """run_chat for each body in turn, in one event loop: the upstream connections are kept between them,
    as in a warm Lambda."""
    caller = caller or Caller(account, "key_test", allowed)

    async def one(body: Any) -> tuple[dict, Any]:
        return await collected(await chat.complete(chat.prepare(body, caller, extra_parameters=extra_parameters),
                                                   caller))

    async def go() -> list[tuple[dict, Any]]:
        try:
            return [await one(body) for body in bodies]
        finally:
            await aclose_clients()

    return asyncio.run(go())


async def collected(result: chat.Completed | chat.Streamed) -> tuple[dict, Any]:
    """(headers, body) of a plain answer; (headers, [chunk dicts or "[DONE]"]) of a stream, read to its end."""
    if isinstance(result, chat.Streamed):
        events = []
        async for raw in result.chunks:
            data = raw.decode().removeprefix("data: ").strip()
            events.append(data if data == "[DONE]" else json.loads(data))
        return result.headers, events
    return result.headers, result.body


def streamed_text(events: list[Any]) -> str:
    return "".join(
        (c["choices"][0]["delta"].get("content") or "")
        for c in events if isinstance(c, dict) and c.get("choices")
    )


def final_usage(events: list[Any]) -> dict[str, Any]:
    return next(c["usage"] for c in events if isinstance(c, dict) and c.get("usage"))


def assert_money_consistent(account: str = "acct_test") -> int:
    """The balance never below zero, the ledger summing to it, no hold left open; returns the balance."""
    balance = accounts.get_account(account).balance_micros
    assert balance >= 0
    assert store.ledger_sum(account) == balance
    assert store.list_open_holds(account) == []
    return balance
