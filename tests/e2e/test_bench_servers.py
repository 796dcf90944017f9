"""The bench's servers as `make bench` starts them: the fake upstream, the pass-through proxy (the floor the
bench compares the gateway with) and the local gateway in front of them, over real HTTP. Timings are the
bench's to report; here only what the numbers rest on: each path answers the same completion, and a paced
stream's chunks arrive one by one through the proxy and through the gateway alike."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from unigate_tools import bench


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bench.Servers]:
    # Placed as `make bench` places them, where the machine allows it (two or more CPUs, Linux).
    started = bench._start(Path(tmp_path_factory.mktemp("bench")), bench._cpu_split())
    yield started
    for process in started.processes:
        process.terminate()
        process.wait(timeout=10)


def test_the_gateway_and_the_proxy_run_on_a_cpu_of_their_own(servers: bench.Servers) -> None:
    split = bench._cpu_split()
    if split is None:
        pytest.skip("one CPU, or no sched_setaffinity: the bench leaves placement to the scheduler")
    load, own = split
    assert load
    assert own
    assert not load & own
    upstream, gateway, proxy = servers.processes
    for process, cpus in ((upstream, load), (gateway, own), (proxy, own)):
        threads = [int(task.name) for task in Path(f"/proc/{process.pid}/task").iterdir()]
        assert len(threads) > 1  # started after the first pinning: uvloop's resolver threads
        assert {frozenset(os.sched_getaffinity(thread)) for thread in threads} == {frozenset(cpus)}


def test_placement_is_left_to_the_scheduler_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PIN", "0")
    assert bench._cpu_split() is None


def test_the_proxy_passes_the_upstream_answer_through_unchanged(servers: bench.Servers) -> None:
    direct = httpx.post(f"{servers.upstream}/v1/chat/completions", json=bench._direct_body())
    proxied = httpx.post(f"{servers.proxy}/v1/chat/completions", json=bench._direct_body())
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content
    assert proxied.headers["content-length"] == str(len(direct.content))


def test_the_gateway_answers_the_bench_model_with_a_charge(servers: bench.Servers) -> None:
    response = httpx.post(f"{servers.gateway}/v1/chat/completions", json=bench._body(),
                          headers={"Authorization": f"Bearer {servers.key}"})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == bench.MODEL
    assert body["choices"][0]["message"]["content"] == "ok"
    assert float(body["usage"]["cost"]) > 0


def test_the_bench_measures_the_messages_surface_against_the_same_upstream(servers: bench.Servers) -> None:
    response = httpx.post(f"{servers.gateway}/v1/messages", json=bench._messages_body(),
                          headers={"x-api-key": servers.key, "anthropic-version": "2023-06-01"})
    assert response.status_code == 200
    assert response.json()["content"] == [{"type": "text", "text": "ok"}]
    assert float(response.headers["x-unigate-cost"]) > 0
    client = httpx.Client(timeout=30, headers={"x-api-key": servers.key})
    first, last, _ = bench._stream_once(client, f"{servers.gateway}/v1/messages", bench._messages_body(True, "paced"))
    assert 0 < first < last


@pytest.mark.parametrize("path", ["proxy", "gateway"])
def test_paced_chunks_arrive_one_by_one(servers: bench.Servers, path: str) -> None:
    if path == "proxy":
        client, url, body = httpx.Client(timeout=30), servers.proxy, bench._direct_body(True, "paced")
    else:
        client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {servers.key}"})
        url, body = servers.gateway, bench._body(True, "paced")
    first, _, arrivals = bench._stream_once(client, f"{url}/v1/chat/completions", body)
    assert len(arrivals) == 20
    # 20 chunks paced 5 ms apart: spread over most of 95 ms, not delivered together at the end.
    assert arrivals[-1] - arrivals[0] > 19 * 5 * 0.6
    assert first < arrivals[-1]


def test_the_proxy_relays_the_stream_bytes_as_the_upstream_sent_them(servers: bench.Servers) -> None:
    def events(url: str) -> list[dict[str, object]]:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=bench._direct_body(True)) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: {")]
        return [json.loads(line[len("data: "):]) for line in lines]

    assert events(servers.proxy) == events(servers.upstream)


def test_the_gateways_own_work_is_measured_through_the_chat_route() -> None:
    """unigate_tools.overhead drives the local API and the chat app in process; it stops with an error unless
    every request is answered 200, so a number means the whole route ran."""
    milliseconds = bench.own_work()
    assert 0 < milliseconds < 50


def test_the_aws_time_before_the_first_byte_is_a_streams_hold_and_all_of_a_plain_request(
    servers: bench.Servers,
) -> None:
    """The bench splits the added time to first byte as it splits the added latency. A stream's hold comes
    before its first byte and its settle after, so only part of its AWS time is counted; a plain answer is
    sent after both."""
    client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {servers.key}"})
    timings = f"{servers.gateway}/_unigate/aws-calls"
    # The authorizer's decision cached, as in the bench: its GetItems would count before the first byte too.
    client.post(f"{servers.gateway}/v1/chat/completions", json=bench._body()).raise_for_status()

    httpx.delete(timings)
    bench._stream_once(client, f"{servers.gateway}/v1/chat/completions", bench._body(True))
    streamed = httpx.get(timings).json()
    assert streamed["calls"] == {"dynamodb:TransactWriteItems": 2}
    assert streamed["before_first_byte"]["requests"] == 1
    assert 0 < streamed["before_first_byte"]["seconds"] < streamed["seconds"]

    httpx.delete(timings)
    client.post(f"{servers.gateway}/v1/chat/completions", json=bench._body()).raise_for_status()
    plain = httpx.get(timings).json()
    assert plain["calls"] == {"dynamodb:TransactWriteItems": 2}
    assert plain["before_first_byte"] == {"requests": 1, "seconds": plain["seconds"]}


def test_the_responses_api_answers_the_bench_upstream_like_chat(servers: bench.Servers) -> None:
    headers = {"Authorization": f"Bearer {servers.key}"}
    response = httpx.post(f"{servers.gateway}/v1/responses", json=bench._responses_body(), headers=headers,
                          timeout=30)
    assert response.status_code == 200, response.text
    chat = httpx.post(f"{servers.gateway}/v1/chat/completions", json=bench._body(), headers=headers, timeout=30)
    assert response.json()["output"][0]["content"][0]["text"] == chat.json()["choices"][0]["message"]["content"]


def _answer_text(surface: str, body: dict) -> str:
    if surface == "messages":
        return str(body["content"][0]["text"])
    if surface == "responses":
        return str(body["output"][0]["content"][0]["text"])
    choice = body["choices"][0]
    return str(choice["text"] if surface == "completions" else choice["message"]["content"])


@pytest.mark.parametrize("name", bench.SURFACES)
def test_every_surface_the_bench_measures_answers_the_same_upstream_charged_and_streams_paced(
        servers: bench.Servers, name: str) -> None:
    """What each surface's figures rest on: the surface answers the bench model's reply through the same fast
    upstream with a charge, and its paced stream carries the upstream's 20 chunks over their pacing, not at once."""
    spec = bench.surfaces(servers.key)[name]
    client = httpx.Client(timeout=30, headers=spec.headers)
    response = client.post(f"{servers.gateway}{spec.path}", json=spec.body())
    assert response.status_code == 200, response.text
    assert _answer_text(name, response.json()) == "ok"
    assert response.headers["x-unigate-endpoint"] == bench.MODEL
    assert float(response.headers["x-unigate-cost"]) > 0
    if name == "azure":
        assert response.headers["x-unigate-deployment"] == bench.AZURE_DEPLOYMENT
    started = time.perf_counter()
    reads: list[tuple[float, bytes]] = []
    with client.stream("POST", f"{servers.gateway}{spec.path}", json=spec.body(True, "paced")) as stream:
        assert stream.status_code == 200
        reads.extend((time.perf_counter() - started, raw) for raw in stream.iter_raw())
    received = b"".join(raw for _, raw in reads).decode()
    positions = [received.find(f'"w{index} "') for index in range(20)]
    assert -1 not in positions
    assert positions == sorted(positions)
    # The 20 words came over the upstream's pacing (5 ms apart), not in one read at the end: in several reads,
    # the first well before the last. (How far apart depends on the machine's load, so only its sign is checked.)
    word_reads = [at for at, raw in reads if b'"w' in raw]
    assert len(word_reads) >= 4, reads
    first_word = next(at for at, raw in reads if b'"w0 "' in raw)
    last_word = next(at for at, raw in reads if b'"w19 "' in raw)
    assert last_word > first_word


def test_one_surface_section_reports_its_figures_with_few_requests(servers: bench.Servers,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The section `make bench` runs per surface, with small counts: every figure it reports, and its AWS calls
    (the Azure surface's deployment is read from the per-process cache, as deployed, so its calls are chat's
    two writes, not a read of the deployments per request)."""
    monkeypatch.setattr(bench, "SEQUENTIAL", 3)
    monkeypatch.setattr(bench, "STREAMS", 2)
    chat = {"direct_p50_ms": 1.0, "gateway_p50_ms": 2.0}
    streaming = {"direct_ttfb_p50_ms": 1.0, "gateway_ttfb_p50_ms": 2.0}
    for name in ("azure", "completions"):
        out = bench.surface(servers, bench.surfaces(servers.key)[name], chat, streaming)
        assert set(out) == {"title", "path", "requests", "streams", "gateway_p50_ms", "gateway_p99_ms",
                            "gateway_ttfb_p50_ms", "aws_ms_per_request", "aws_calls_per_request", "added_p50_ms",
                            "added_p50_outside_aws_ms", "added_ttfb_p50_ms", "vs_chat_p50_ms", "vs_chat_ttfb_p50_ms"}
        assert out["requests"] == 3
        assert out["gateway_p50_ms"] > 0
        assert out["gateway_ttfb_p50_ms"] > 0
        calls = out["aws_calls_per_request"]
        assert calls["dynamodb:TransactWriteItems"] == 2.0
        # At most the cache's refresh, when its 10 s ran out during the few requests; never one per request.
        assert set(calls) <= {"dynamodb:TransactWriteItems", "dynamodb:Query"}
        assert calls.get("dynamodb:Query", 0) < 1
    assert bench.stored_responses(servers) > 0


def test_a_key_without_a_budget_makes_two_writes_and_no_read_and_one_with_a_budget_at_most_two_writes(
        servers: bench.Servers) -> None:
    """What the bench's AWS-call targets rest on (counted by the local server, not timed)."""
    assert bench.aws_calls(servers, servers.key, 5) == {"dynamodb:TransactWriteItems": 2.0}
    budgeted = bench.budgeted_calls(servers, 5)
    assert bench.writes(budgeted) == 2.0
    assert budgeted == {"dynamodb:TransactWriteItems": 2.0, "dynamodb:GetItem": 1.0}  # the alert check's read
