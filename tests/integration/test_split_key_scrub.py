"""Issue #29: a provider key that the upstream streams split across chunks is scrubbed like a whole one, from
what the client gets and from the query log, on each stream relay: chat's (every translated surface goes
through it), Anthropic's native Messages stream and the Responses pass-through. The fake streams the key it
was called with in three pieces ("scenario:splitkey")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import use_catalog
from tests.fakes.upstream import CANARY_KEYS, catalog_override
from tests.integration.chat_helpers import assert_money_consistent, run_chat, streamed_text
from unigate.accounts import querylog
from unigate.domain.records import Caller
from unigate.gateway import messages, responses
from unigate.infra.transport import aclose_clients

CALLER = Caller("acct_test", "key_test")
SPLIT = "scenario:splitkey"


def _events(result: Any) -> list[bytes]:
    async def go() -> list[bytes]:
        try:
            outcome = await result()
            return [raw async for raw in outcome.chunks]
        finally:
            await aclose_clients()

    return asyncio.run(go())


def _logged(account: str) -> str:
    (record,) = querylog.list_queries(account)["queries"]
    return json.dumps(record)


def test_chats_stream_scrubs_a_key_split_across_chunks(providers: Any, account: str) -> None:
    _, events = run_chat({"model": "gpt-4o@openai", "stream": True, "log_response_body": True,
                          "messages": [{"role": "user", "content": SPLIT}]})
    key = CANARY_KEYS["openai"]
    assert streamed_text(events) == "your key is [REDACTED] in pieces"
    assert key[: len(key) // 3] not in json.dumps(events)
    content = [e for e in events if isinstance(e, dict) and e.get("choices")
               and e["choices"][0]["delta"].get("content")]
    assert len(content) >= 2  # what cannot begin a key still went out chunk by chunk
    assert key[: len(key) // 3] not in _logged(account)
    assert "[REDACTED]" in _logged(account)
    assert_money_consistent()


@pytest.mark.parametrize("model", ["claude-haiku-4.5@anthropic", "gpt-4o@openai"])
def test_messages_streams_scrub_a_key_split_across_deltas(providers: Any, account: str, model: str) -> None:
    """Native (Anthropic's events passed through) and translated (chat's relay)."""
    body = {"model": model, "max_tokens": 50, "stream": True, "log_response_body": True,
            "messages": [{"role": "user", "content": SPLIT}]}
    raw = b"".join(_events(lambda: messages.create(body, CALLER, messages.Inbound({}))))
    key = CANARY_KEYS[model.split("@")[1]]
    text = "".join(json.loads(line[6:]).get("delta", {}).get("text", "") for line in raw.split(b"\n")
                   if line.startswith(b"data: ") and b"content_block_delta" in line)
    assert text == "your key is [REDACTED] in pieces"
    assert key[: len(key) // 3].encode() not in raw
    assert b"message_stop" in raw
    assert key[: len(key) // 3] not in _logged(account)
    assert_money_consistent()


def test_the_responses_pass_through_scrubs_its_key_plain_and_split_across_deltas(
        providers: Any, account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = catalog_override(providers.url)
    override["providers"]["openai-native"]["secret"] = "openai"  # called with a key, to leak
    use_catalog(override, tmp_path / "keyed.json", monkeypatch)
    key = CANARY_KEYS["openai"]
    body = {"model": "gpt-4o@openai-native", "input": SPLIT, "stream": True, "store": False}
    raw = b"".join(_events(lambda: responses.create(responses.prepare(body, CALLER), CALLER)))
    deltas = [json.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    text = "".join(e["delta"] for e in deltas if e["type"] == "response.output_text.delta")
    assert text == "your key is [REDACTED] in pieces"
    assert key[: len(key) // 3].encode() not in raw
    assert [e["sequence_number"] for e in deltas] == list(range(len(deltas)))

    async def plain() -> Any:
        try:
            return await responses.create(responses.prepare({**body, "stream": False}, CALLER), CALLER)
        finally:
            await aclose_clients()

    answer = asyncio.run(plain())
    assert key not in json.dumps(answer.body)
    assert "[REDACTED]" in json.dumps(answer.body)
