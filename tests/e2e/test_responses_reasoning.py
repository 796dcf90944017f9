"""Issue #32's Responses leftovers through the official `openai` SDK against the local server and the fake
upstreams: reasoning effort and summaries at Anthropic and Gemini endpoints (and chat's reasoning_effort),
cached and reasoning token details in translated usage, item_reference inputs, cancel and background."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.e2e.conftest import LocalServer, credits_of, openai_client
from tests.fakes.upstream import THOUGHT_TOKENS, USAGE

CLAUDE = "claude-haiku-4.5@anthropic"
GEMINI = "gemini-2.5-flash@gemini"


def _account_with(server: LocalServer, credits: str) -> str:
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", credits, "--idempotency-key", "e2e")
    return str(server.cli_json("keys", "create", "--account", account)["key"])


# ------------------------------------------------------------------------------------------- reasoning
def test_reasoning_at_an_anthropic_endpoint_is_thinking_and_comes_back_as_a_summary(
        server: LocalServer, fake_upstream: Any) -> None:
    raw = openai_client(server).responses.with_raw_response.create(
        model=CLAUDE, input="why is the sky blue", reasoning={"effort": "medium", "summary": "auto"},
        max_output_tokens=4000, temperature=0.2, store=False)
    response = raw.parse()
    sent = fake_upstream.last("/v1/messages").body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["max_tokens"] == 4000
    assert "temperature" not in sent  # Anthropic takes none beside thinking
    assert raw.headers["x-unigate-dropped-params"] == "temperature"
    reasoning, _ = response.output
    assert reasoning.type == "reasoning"
    assert [(s.type, s.text) for s in reasoning.summary] == [("summary_text", "thinking about: why is the sky blue")]
    assert response.output_text == "fake reply to: why is the sky blue"
    assert response.reasoning is not None
    assert (response.reasoning.effort, response.reasoning.summary) == ("medium", "auto")
    assert response.usage is not None
    # the thinking is billed as output (the fake counts one token per word of its reply)
    assert response.usage.output_tokens == len(response.output_text.split()) + THOUGHT_TOKENS


def test_a_streamed_summary_has_the_reasoning_summary_events_in_order(server: LocalServer) -> None:
    with openai_client(server).responses.stream(model=CLAUDE, input="think aloud", store=False,
                                          reasoning={"effort": "low", "summary": "detailed"}) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    summary_deltas = kinds.count("response.reasoning_summary_text.delta")
    text_deltas = kinds.count("response.output_text.delta")
    assert summary_deltas >= 2
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * summary_deltas,
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", *["response.output_text.delta"] * text_deltas,
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    sequence = [event.sequence_number for event in events]
    assert sequence == list(range(len(events)))
    done = next(e for e in events if e.type == "response.reasoning_summary_text.done")
    assert done.text == "thinking about: think aloud"
    assert "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta") == done.text
    added = next(e for e in events if e.type == "response.reasoning_summary_part.added")
    assert (added.output_index, added.summary_index, added.part.text) == (0, 0, "")
    assert final.output[0].type == "reasoning"
    assert final.output[0].summary[0].text == "thinking about: think aloud"
    assert final.output_text == "fake reply to: think aloud"


def test_without_a_summary_the_thinking_stays_private(server: LocalServer, fake_upstream: Any) -> None:
    response = openai_client(server).responses.create(model=CLAUDE, input="keep it quiet", reasoning={"effort": "low"},
                                                store=False)
    assert fake_upstream.last("/v1/messages").body["thinking"]["budget_tokens"] == 1024
    reasoning, _ = response.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary == []
    assert "thinking about" not in response.model_dump_json()
    with openai_client(server).responses.stream(model=CLAUDE, input="keep it quiet", store=False,
                                          reasoning={"effort": "low"}) as stream:
        kinds = [event.type for event in stream]
    assert not [kind for kind in kinds if "reasoning_summary" in kind]
    assert kinds.count("response.output_item.added") == 2


def test_reasoning_at_a_gemini_endpoint_is_its_thinking_config(server: LocalServer, fake_upstream: Any) -> None:
    response = openai_client(server).responses.create(model=GEMINI, input="count the stars", store=False,
                                                reasoning={"effort": "high", "summary": "auto"}, max_output_tokens=9000)
    config = fake_upstream.last("/v1beta/models").body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 4096, "includeThoughts": True}
    assert config["maxOutputTokens"] == 9000
    assert response.output[0].type == "reasoning"
    assert response.output[0].summary[0].text == "thinking about: count the stars"
    assert response.output_text == "fake reply to: count the stars"
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == THOUGHT_TOKENS
    assert response.usage.output_tokens == len(response.output_text.split()) + THOUGHT_TOKENS


def test_chat_reasoning_effort_reaches_anthropic_and_gemini_as_their_own_parameter(
        server: LocalServer, fake_upstream: Any) -> None:
    client = openai_client(server)
    answer = client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "hello"}],
                                            reasoning_effort="low", max_tokens=2000)
    assert fake_upstream.last("/v1/messages").body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    message = answer.choices[0].message
    assert message.content == "fake reply to: hello"
    assert getattr(message, "reasoning_content", None) == "thinking about: hello"
    chunks = list(client.chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": "hello"}],
                                                 reasoning_effort="minimal", stream=True))
    assert fake_upstream.last("/v1beta/models").body["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 128, "includeThoughts": True}
    thoughts = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert thoughts == "thinking about: hello"


def test_reasoning_is_dropped_and_named_where_the_model_does_not_reason(server: LocalServer,
                                                                        fake_upstream: Any) -> None:
    raw = openai_client(server).responses.with_raw_response.create(
        model="gemini-gemma-2-9b-it@gemini", input="plain", reasoning={"effort": "high"}, store=False)
    assert raw.headers["x-unigate-dropped-params"] == "reasoning.effort"
    assert "thinkingConfig" not in fake_upstream.last("/v1beta/models").body["generationConfig"]
    # A cap too small for Anthropic's smallest budget: sent without thinking, and named.
    chat = openai_client(server).chat.completions.with_raw_response.create(
        model=CLAUDE, messages=[{"role": "user", "content": "short"}], reasoning_effort="high", max_tokens=500)
    assert chat.headers["x-unigate-dropped-params"] == "reasoning_effort"
    assert "thinking" not in fake_upstream.last("/v1/messages").body
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client(server).chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "x"}],
                                                reasoning_effort="extreme")  # type: ignore[arg-type]
    assert refused.value.body["param"] == "reasoning_effort"  # type: ignore[index]


# ------------------------------------------------------------------------------------------- usage details
@pytest.mark.parametrize(("model", "cached", "reasoning"), [
    ("routing-test@alpha", 600, 200),  # OpenAI's prompt_tokens_details / completion_tokens_details
    (CLAUDE, 600, 0),  # Anthropic's cache_read_input_tokens
    (GEMINI, 600, 200),  # Gemini's cachedContentTokenCount / thoughtsTokenCount
])
def test_translated_usage_carries_cached_and_reasoning_tokens(server: LocalServer, model: str, cached: int,
                                                               reasoning: int) -> None:
    client = openai_client(server)
    plain = client.responses.create(model=model, input="scenario:usage:cached", store=False)
    with client.responses.stream(model=model, input="scenario:usage:cached", store=False) as stream:
        completed = [event for event in stream if event.type == "response.completed"]
    for usage in (plain.usage, completed[0].response.usage):
        assert usage is not None
        assert usage.input_tokens_details.cached_tokens == cached
        assert usage.output_tokens_details.reasoning_tokens == reasoning
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    family = {"routing-test@alpha": "openai", CLAUDE: "anthropic", GEMINI: "gemini"}[model]
    if family == "openai":
        assert plain.usage is not None
        assert plain.usage.input_tokens == USAGE["openai"]["cached"]["prompt_tokens"]


# ------------------------------------------------------------------------------------------- item_reference
def test_item_references_resolve_from_the_callers_stored_responses(server: LocalServer, fake_upstream: Any) -> None:
    key = _account_with(server, "1")
    client = openai_client(server, key)
    first = client.responses.create(model="routing-test@alpha", input="remember the number seven")
    answer = first.output[0]
    asked = client.responses.input_items.list(first.id).data[0]
    # No previous_response_id: the reference alone finds the stored answer and the input it answered.
    second = client.responses.create(model="routing-test@alpha", input=[
        {"type": "item_reference", "id": asked.id},
        {"type": "item_reference", "id": answer.id},
        {"role": "user", "content": "which number?"}])
    messages = fake_upstream.last("/alpha/v1/chat/completions").body["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "remember the number seven"), ("assistant", "fake reply to: remember the number seven"),
        ("user", "which number?")]
    assert second.output_text == "fake reply to: which number?"
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [item.type for item in listed] == ["message", "message", "message"]
    assert listed[1].id == answer.id
    # A bare {"id": ...} is a reference too (the type is optional in OpenAI's API).
    third = client.responses.create(model="routing-test@alpha", store=False,
                                    input=[{"id": answer.id}, {"role": "user", "content": "again"}])  # type: ignore[list-item]
    assert third.output_text == "fake reply to: again"


def test_an_unknown_or_foreign_item_reference_is_refused_naming_it(server: LocalServer) -> None:
    owner = openai_client(server, _account_with(server, "1"))
    theirs = owner.responses.create(model="echo@echo", input="mine").output[0].id
    key = _account_with(server, "1")
    client = openai_client(server, key)
    for reference in (theirs, "msg_unknown"):
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model="echo@echo", input=[
                {"role": "user", "content": "hi"}, {"type": "item_reference", "id": reference}])
        assert refused.value.status_code == 400
        assert refused.value.body["param"] == "input[1].id"  # type: ignore[index]
        assert reference in refused.value.body["message"]  # type: ignore[index]
    assert credits_of(server, key) == Decimal("1")  # refused before any hold


# ------------------------------------------------------------------------------------------- cancel, background
def test_cancel_and_a_stored_stream_are_refused_as_for_any_non_background_response(server: LocalServer) -> None:
    client = openai_client(server)
    response = client.responses.create(model="echo@echo", input="done already")
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.cancel(response.id)
    body: Any = refused.value.body
    assert body["message"] == "Only responses created with background=true can be cancelled."
    assert body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        openai_client(server, _account_with(server, "1")).responses.cancel(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_unknown")
    with pytest.raises(openai.BadRequestError) as streamed:
        client.responses.retrieve(response.id, stream=True)
    assert streamed.value.body["param"] == "stream"  # type: ignore[index]
    assert client.responses.retrieve(response.id).output_text == "done already"


def test_background_is_refused_naming_it_before_any_hold(server: LocalServer) -> None:
    key = _account_with(server, "1")
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client(server, key).responses.create(model="echo@echo", input="later", background=True)
    assert refused.value.body["param"] == "background"  # type: ignore[index]
    assert credits_of(server, key) == Decimal("1")
