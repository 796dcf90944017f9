"""The bench's servers as `make bench` starts them: the fake upstream, the pass-through proxy (the floor the
bench compares the gateway with) and the local gateway in front of them, over real HTTP. Timings are the
bench's to report; here only what the numbers rest on: each path answers the same completion, and a paced
stream's chunks arrive one by one through the proxy and through the gateway alike."""

from __future__ import annotations

import json
import os
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


def test_a_key_without_a_budget_makes_two_writes_and_no_read_and_one_with_a_budget_at_most_two_writes(
        servers: bench.Servers) -> None:
    """What the bench's AWS-call targets rest on (counted by the local server, not timed)."""
    assert bench.aws_calls(servers, servers.key, 5) == {"dynamodb:TransactWriteItems": 2.0}
    budgeted = bench.budgeted_calls(servers, 5)
    assert bench.writes(budgeted) == 2.0
    assert budgeted == {"dynamodb:TransactWriteItems": 2.0, "dynamodb:GetItem": 1.0}  # the alert check's read
