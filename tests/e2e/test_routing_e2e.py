"""Benchmarks measured through the local server, and routing by them through the official SDK."""

from __future__ import annotations

import httpx
import openai

from tests.e2e.conftest import LocalServer


def test_endpoint_metrics_after_traffic_and_routing_by_them(server: LocalServer, fake_upstream: object) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    fake_upstream.delays.update({"alpha": 0.15, "beta": 0.0})  # type: ignore[attr-defined]
    try:
        for provider in ("alpha", "beta"):
            for _ in range(6):
                list(client.chat.completions.create(model=f"routing-test@{provider}", stream=True,
                                                    messages=[{"role": "user", "content": "measure me"}]))
        rows = httpx.get(f"{server.url}/v0/endpoint-metrics", params={"model": "routing-test"},
                         headers={"Authorization": f"Bearer {server.key}"}).json()
        by_name = {row["endpoint"]: row for row in rows}
        assert set(by_name) == {"routing-test@alpha", "routing-test@beta"}
        for row in rows:
            assert row["samples"] == 6
            assert row["ttft"] is not None
            assert row["ttft_p90"] >= row["ttft"]
            assert row["itl"] is not None
            assert row["error_rate"] == 0.0
            assert row["measured_at"].endswith("Z")
        assert by_name["routing-test@alpha"]["ttft"] > by_name["routing-test@beta"]["ttft"]
        assert by_name["routing-test@alpha"]["input_cost"] == 0.5

        # The local server caches summaries for a few seconds; the ranking is already clear.
        import time

        time.sleep(5.1)
        reply = client.chat.completions.create(model="routing-test@lowest-ttft",
                                               messages=[{"role": "user", "content": "route me"}])
        assert reply.model == "routing-test@beta"
        reply = client.chat.completions.create(model="routing-test@lowest-input-cost|t<100000",
                                               messages=[{"role": "user", "content": "route me"}])
        assert reply.model == "routing-test@alpha"
    finally:
        fake_upstream.delays.clear()  # type: ignore[attr-defined]
