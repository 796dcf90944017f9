"""The official `openai.AzureOpenAI` client against the local server's Azure OpenAI surface
(/openai/deployments/{deployment}/...?api-version=...), as a user points it at unigate deployments."""

from __future__ import annotations

import base64
import struct
import uuid
from decimal import Decimal

import httpx
import openai
import pytest

from tests.e2e.conftest import LocalServer, cost_of, credits_of
from tests.fakes.upstream import CANARY_KEYS

API_VERSION = "2024-10-21"


def _azure(server: LocalServer, key: str | None = None, *, bearer: bool = False) -> openai.AzureOpenAI:
    """The client as Azure's docs configure it: the key goes in the `api-key` header only (or, with `bearer`,
    also as Authorization: Bearer, which unigate takes as well)."""
    key = key or server.key
    headers = {"Authorization": f"Bearer {key}"} if bearer else {}
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key=key, api_version=API_VERSION, max_retries=0,
                              timeout=30, default_headers=headers)


def _deployment(server: LocalServer, endpoint: str, *options: str) -> str:
    name = f"Team-Azure-{uuid.uuid4().hex[:6].upper()}"
    server.cli_json("deployments", "create", name, "--endpoint", endpoint, *options)
    return name


def _post(server: LocalServer, path: str, body: object, **params: str) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, params=params, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}"})


def test_chat_against_a_deployment_in_any_case(server: LocalServer) -> None:
    name = _deployment(server, "echo@echo")
    before = credits_of(server)
    client = _azure(server)
    raw = client.chat.completions.with_raw_response.create(
        model=name.lower(), messages=[{"role": "user", "content": "Hello, Azure!"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello, Azure!"
    assert raw.headers["x-unigate-deployment"] == name
    assert raw.headers["x-unigate-endpoint"] == "echo@echo"
    again = client.chat.completions.create(model=name.upper(), messages=[{"role": "user", "content": "again"}])
    assert again.choices[0].message.content == "again"
    assert before - credits_of(server) == cost_of(completion.usage) + cost_of(again.usage)


def test_streamed_chat_through_an_azure_openai_upstream(server: LocalServer, fake_upstream) -> None:
    name = _deployment(server, "gpt-4o@azure-openai")
    before = credits_of(server)
    stream = _azure(server).chat.completions.create(
        model=name, messages=[{"role": "user", "content": "one two"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fake reply to: one two"
    assert fake_upstream.last("/openai/deployments/gpt-4o/chat/completions").query == f"api-version={API_VERSION}"
    usage = chunks[-1].usage
    assert usage is not None
    assert before - credits_of(server) == cost_of(usage)


def test_embeddings_against_a_deployment(server: LocalServer) -> None:
    name = _deployment(server, "echo-embed@echo")
    before = credits_of(server)
    result = _azure(server).embeddings.create(model=name.swapcase(), input=["the cat sat", "dog"])
    assert len(result.data) == 2
    assert len(result.data[0].embedding) == 256
    assert before - credits_of(server) == cost_of(result.usage)
    # The SDK's default is base64; float vectors come back when asked.
    raw = _post(server, f"/openai/deployments/{name}/embeddings", {"input": "x", "encoding_format": "base64"},
                **{"api-version": API_VERSION})
    vector = struct.unpack("<256f", base64.b64decode(raw.json()["data"][0]["embedding"]))
    assert abs(sum(v * v for v in vector) - 1) < 1e-3


def test_completions_against_a_deployment_served_natively(server: LocalServer, fake_upstream) -> None:
    name = _deployment(server, "llama-3.1-8b-chat@together-ai")  # together-ai: "native": ["completions"]
    before = credits_of(server)
    completion = _azure(server).completions.create(model=name, prompt="hi", max_tokens=8)
    assert completion.choices[0].text == "fake reply to: hi"
    sent = fake_upstream.last("/together/v1/completions")
    assert sent.body["prompt"] == "hi"
    assert sent.headers["authorization"] == f"Bearer {CANARY_KEYS['together-ai']}"
    stream = _azure(server).completions.create(model=name, prompt="hi", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "fake reply to: hi"
    assert credits_of(server) < before - cost_of(completion.usage)


def test_errors_come_in_azures_envelope_before_any_hold(server: LocalServer) -> None:
    name = _deployment(server, "echo@echo")
    before = credits_of(server)
    with pytest.raises(openai.NotFoundError) as missing:
        _azure(server).chat.completions.create(model="no-such-deployment", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "DeploymentNotFound"
    with pytest.raises(openai.BadRequestError) as bad:
        _azure(server).chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}],
                                               temperature=7)
    assert bad.value.body == {"code": "400", "message": "Invalid 'temperature': Input should be less than or equal "
                              "to 2.", "param": "temperature"}
    no_version = _post(server, f"/openai/deployments/{name}/chat/completions",
                       {"messages": [{"role": "user", "content": "x"}]})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    bad_version = _post(server, f"/openai/deployments/{name}/chat/completions",
                        {"messages": [{"role": "user", "content": "x"}]}, **{"api-version": "latest"})
    assert bad_version.json()["error"]["code"] == "InvalidApiVersionParameter"
    forbidden = _post(server, f"/openai/deployments/{name}/chat/completions",
                      {"messages": [{"role": "user", "content": "x"}], "api_base": "http://169.254.169.254"},
                      **{"api-version": API_VERSION})
    assert forbidden.status_code == 400
    assert forbidden.json()["error"]["param"] == "api_base"
    array = _post(server, f"/openai/deployments/{name}/chat/completions", [{"messages": []}],
                  **{"api-version": API_VERSION})
    assert array.status_code == 400
    assert credits_of(server) == before


def test_a_deployments_content_filter_and_rate_limit_apply(server: LocalServer) -> None:
    name = _deployment(server, "echo@echo", "--rpm", "1",
                       "--content-filter", '{"secrets": {"terms": ["password"], "input": true, "output": true}}')
    client = _azure(server)
    before = credits_of(server)
    with pytest.raises(openai.BadRequestError) as blocked:
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "my password is x"}])
    assert blocked.value.code == "content_filter"
    assert blocked.value.body["innererror"] == {"code": "ResponsibleAIPolicyViolation"}  # type: ignore[index]
    assert credits_of(server) == before
    client.chat.completions.create(model=name, messages=[{"role": "user", "content": "fine"}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "fine again"}])


def test_the_key_as_a_bearer_token_works_too_and_a_bad_key_is_refused_in_azures_envelope(
        server: LocalServer) -> None:
    name = _deployment(server, "echo@echo")
    completion = _azure(server, bearer=True).chat.completions.create(
        model=name, messages=[{"role": "user", "content": "both headers"}])
    assert completion.choices[0].message.content == "both headers"
    with pytest.raises(openai.AuthenticationError) as refused:
        _azure(server, "ug_not_a_key").chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}])
    assert isinstance(refused.value.code, str)


# ------------------------------------------------------------------------------- the Responses API
RESPONSES_VERSION = "2025-03-01-preview"


def _azure_responses(server: LocalServer, key: str | None = None) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key=key or server.key, api_version=RESPONSES_VERSION,
                              max_retries=0, timeout=30)


def test_responses_against_a_deployment_in_any_case_plain_streamed_and_stored(server: LocalServer) -> None:
    """AzureOpenAI(...).responses.create posts to /openai/responses?api-version= with the deployment as model."""
    name = _deployment(server, "echo@echo")
    client = _azure_responses(server)
    before = credits_of(server)
    raw = client.responses.with_raw_response.create(model=name.lower(), input="Hello, Azure responses!")
    response = raw.parse()
    assert response.output_text == "Hello, Azure responses!"
    assert raw.http_request.url.path == "/openai/responses"
    assert raw.http_request.url.params["api-version"] == RESPONSES_VERSION
    assert raw.headers["x-unigate-deployment"] == name
    assert raw.headers["x-unigate-endpoint"] == "echo@echo"
    assert before - credits_of(server) == cost_of(response.usage) == Decimal(raw.headers["x-unigate-cost"])
    # Stored, as at Azure: read back and its input items listed through the same client.
    assert client.responses.retrieve(response.id).output_text == "Hello, Azure responses!"
    assert [item.type for item in client.responses.input_items.list(response.id)] == ["message"]
    with client.responses.create(model=name.upper(), input="streamed through Azure", stream=True) as stream:
        events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "streamed through Azure"
    assert before - credits_of(server) == cost_of(response.usage) + cost_of(final.usage)
    assert client.responses.delete(response.id) is None
    with pytest.raises(openai.NotFoundError) as gone:
        client.responses.retrieve(response.id)
    assert gone.value.body == {"code": "404", "message": f"Response with id '{response.id}' not found."}


def test_responses_errors_come_in_azures_envelope_before_any_hold(server: LocalServer) -> None:
    before = credits_of(server)
    with pytest.raises(openai.NotFoundError) as missing:
        _azure_responses(server).responses.create(model="no-such-deployment", input="x")
    assert missing.value.code == "DeploymentNotFound"
    with pytest.raises(openai.BadRequestError) as bad:
        _azure_responses(server).responses.create(model="echo@echo", input="x", temperature=7)
    assert bad.value.body == {"code": "400", "message": "Invalid 'temperature': Input should be less than or equal "
                              "to 2.", "param": "temperature"}
    no_version = _post(server, "/openai/responses", {"model": "echo@echo", "input": "x"})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    no_model = _post(server, "/openai/responses", {"input": "x"}, **{"api-version": RESPONSES_VERSION})
    assert no_model.status_code == 400
    assert no_model.json()["error"]["param"] == "model"
    assert credits_of(server) == before


def test_responses_to_an_azure_openai_upstream_are_passed_through_natively(server: LocalServer,
                                                                            fake_upstream) -> None:
    """An azure-openai endpoint serves the Responses API itself: the request goes to the resource's v1 route
    (the provider's api-version, 2024-10-21, predates the dated one) with its api-key, the deployment as model."""
    name = _deployment(server, "gpt-4o@azure-openai")
    before = credits_of(server)
    raw = _azure_responses(server).responses.with_raw_response.create(
        model=name, input="hello azure upstream", tools=[{"type": "web_search"}])
    response = raw.parse()
    sent = fake_upstream.last("/openai/v1/responses")
    assert sent.headers["api-key"] == CANARY_KEYS["azure-openai"]
    assert "authorization" not in sent.headers
    assert sent.body["model"] == "gpt-4o"
    assert sent.body["tools"] == [{"type": "web_search"}]  # passed through, not dropped
    assert sent.body["store"] is False
    assert "x-unigate-dropped-params" not in raw.headers
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text == "fake reply to: hello azure upstream"
    assert response.model == "gpt-4o@azure-openai"
    assert before - credits_of(server) == cost_of(response.usage) == Decimal(raw.headers["x-unigate-cost"]) > 0
    # The OpenAI surface's /v1/responses takes the same path, streamed too.
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0, timeout=30)
    with client.responses.create(model="gpt-4o@azure-openai", input="stream from azure", stream=True) as stream:
        events = list(stream)
    assert fake_upstream.last("/openai/v1/responses").body["stream"] is True
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    assert events[-1].type == "response.completed"
    assert final.output_text == "fake reply to: stream from azure"
    assert before - credits_of(server) == cost_of(response.usage) + cost_of(final.usage)
