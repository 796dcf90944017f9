"""Invalid requests from the official `openai` SDK through the local server: `openai.BadRequestError` naming the
parameter at fault, with nothing held, charged or sent upstream."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import LocalServer, openai_client

MESSAGES = [{"role": "user", "content": "hello"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def _state(server: LocalServer, fake_upstream: Any) -> tuple[Decimal, int, int]:
    credits = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {server.key}"}).json()
    ledger = server.cli_json("credits", "ledger", "--account", "acct_demo", "--limit", "1000")["entries"]
    return Decimal(str(credits["credits"])), len(ledger), len(fake_upstream.received)


# (case, chat.completions.create's arguments beyond model, the param OpenAI's envelope names)
CHAT: list[tuple[str, dict[str, Any], str]] = [
    ("temperature a string", {"messages": MESSAGES, "temperature": "hot"}, "temperature"),
    ("temperature above 2", {"messages": MESSAGES, "temperature": 3}, "temperature"),
    ("top_p 7", {"messages": MESSAGES, "top_p": 7}, "top_p"),
    ("presence_penalty 5", {"messages": MESSAGES, "presence_penalty": 5}, "presence_penalty"),
    ("n above the limit", {"messages": MESSAGES, "n": 100}, "n"),
    ("max_tokens zero", {"messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
    ("a part that is not an object", {"messages": [{"role": "user", "content": ["hi"]}]}, "messages[0].content[0]"),
    ("an unknown part type", {"messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
     "messages[0].content[0]"),
    ("a tool without function", {"messages": MESSAGES, "tools": [{"type": "function"}]}, "tools[0].function"),
    ("too many tools", {"messages": MESSAGES, "tools": [TOOL] * 129}, "tools"),
    ("stop with 10,000 entries", {"messages": MESSAGES, "stop": ["x"] * 10_000}, "stop"),
    ("logit_bias beyond 100", {"messages": MESSAGES, "logit_bias": {"1": 1000}}, "logit_bias.1"),
    ("a forbidden field", {"messages": MESSAGES, "extra_body": {"metadata": {"api_base": "http://x"}}},
     "metadata.api_base"),
]


@pytest.mark.parametrize(("case", "arguments", "param"), CHAT, ids=[c for c, _, _ in CHAT])
def test_chat_refusals_are_bad_request_errors_naming_the_param(server: LocalServer, fake_upstream: Any, case: str,
                                                               arguments: dict[str, Any], param: str) -> None:
    before = _state(server, fake_upstream)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(server).chat.completions.create(model="gpt-4o@openai", **arguments)
    assert raised.value.status_code == 400
    assert raised.value.param == param
    assert raised.value.type == "invalid_request_error"
    assert param in raised.value.message
    assert _state(server, fake_upstream) == before


EMBEDDINGS: list[tuple[str, dict[str, Any], str]] = [
    ("input an object", {"input": {"text": "x"}}, "input"),
    ("an empty string among inputs", {"input": ["ok", ""]}, "input[1]"),
    ("dimensions a string", {"input": "x", "dimensions": "8"}, "dimensions"),
    ("a negative token", {"input": [[1, -2]]}, "input[0][1]"),
]


@pytest.mark.parametrize(("case", "arguments", "param"), EMBEDDINGS, ids=[c for c, _, _ in EMBEDDINGS])
def test_embedding_refusals_are_bad_request_errors_naming_the_param(
        server: LocalServer, fake_upstream: Any, case: str, arguments: dict[str, Any], param: str) -> None:
    before = _state(server, fake_upstream)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(server).embeddings.create(model="text-embedding-3-small@openai", **arguments)
    assert raised.value.param == param
    assert _state(server, fake_upstream) == before
