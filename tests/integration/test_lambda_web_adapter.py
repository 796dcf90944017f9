"""The chat app as the Lambda Web Adapter runs it on the deployed API: functions/chat_completions/run.sh
(the adapter's start command) on AWS_LWA_PORT, ready when AWS_LWA_READINESS_CHECK_PATH answers, with API
Gateway's request context in x-amzn-request-context, streaming chunk by chunk. AWS is a moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, template
from tests.fakes.upstream import catalog_override
from unigate_tools.emulator import FAKE_CREDENTIALS, free_port, make_writes_atomic


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from unigate.infra import aws
    from unigate.infra.config import get_settings

    make_writes_atomic()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for name, value in {**FAKE_CREDENTIALS, **template().environment(), "AWS_ENDPOINT_URL": url}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    aws.reset()
    client = aws.client("dynamodb")
    for table in client.list_tables()["TableNames"]:  # moto's backends outlive one server: start empty
        client.delete_table(TableName=table)
    template().create_tables(client)
    yield url
    server.stop()
    aws.reset()
    get_settings.cache_clear()


def _lambda_environment(moto_url: str, catalog: Path, port: int) -> dict[str, str]:
    spec = template().functions()["ChatCompletionsFunction"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("UNIGATE_")}
    env.update(spec.environment)  # what template.yaml gives the function, adapter settings included
    env.update({
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_LWA_PORT": str(port),
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "UNIGATE_CATALOG_PATH": str(catalog),
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    })
    return env


def test_run_sh_serves_and_streams_like_the_adapter(moto_server: str, fake_upstream, tmp_path: Path) -> None:
    from tests.fakes.upstream import CANARY_KEYS
    from unigate.accounts import accounts, billing
    from unigate.infra import aws

    aws.client("secretsmanager").create_secret(Name="unigate/providers/openai", SecretString=CANARY_KEYS["openai"])
    accounts.create_account(account_id="acct_lwa")
    billing.grant("acct_lwa", 1_000_000, idempotency_key="lwa")
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_override(fake_upstream.url)))
    port = free_port()
    env = _lambda_environment(moto_server, catalog, port)
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"
    process = subprocess.Popen(["sh", str(ROOT / "functions/chat_completions/run.sh")], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # the adapter's readiness check
            try:
                if httpx.get(base + env["AWS_LWA_READINESS_CHECK_PATH"], timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "run.sh did not become ready"
            time.sleep(0.1)

        context = {"requestId": "lwa-request-1", "stage": "api",
                   "authorizer": {"account_id": "acct_lwa", "key_id": "key_lwa", "allowed_models": "[]"}}
        body = {"model": "gpt-4o@openai", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "scenario:paced"}]}
        arrivals, lines = [], []
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=30,
                          headers={"x-amzn-request-context": json.dumps(context)}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-request-id"] == "lwa-request-1"
            for line in response.iter_lines():
                if line.startswith("data: "):
                    lines.append(line[6:])
                    arrivals.append(time.monotonic())
        assert lines[-1] == "[DONE]"
        usage = json.loads(lines[-2])["usage"]
        assert usage["cost"] > 0
        # The paced upstream sends a word every 150 ms: they must arrive spread out, not in one burst.
        assert arrivals[-2] - arrivals[1] > 0.3
        assert accounts.get_account("acct_lwa").balance_micros == 1_000_000 - round(usage["cost"] * 1_000_000)

        # No authorizer context (a request that did not come through API Gateway): refused.
        refused = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10)
        assert refused.status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_messages_run_sh_streams_anthropics_events_like_the_adapter(moto_server: str, fake_upstream,
                                                                        tmp_path: Path) -> None:
    from tests.fakes.upstream import CANARY_KEYS
    from unigate.accounts import accounts, billing
    from unigate.infra import aws

    aws.client("secretsmanager").create_secret(Name="unigate/providers/anthropic",
                                               SecretString=CANARY_KEYS["anthropic"])
    accounts.create_account(account_id="acct_lwa")
    billing.grant("acct_lwa", 1_000_000, idempotency_key="lwa")
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_override(fake_upstream.url)))
    port = free_port()
    env = _lambda_environment(moto_server, catalog, port)
    spec = template().functions()["MessagesFunction"]
    env.update({**spec.environment, "AWS_LWA_PORT": str(port), "LAMBDA_TASK_ROOT": str(spec.code_dir)})
    process = subprocess.Popen(["sh", str(ROOT / "functions/messages/run.sh")], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + env["AWS_LWA_READINESS_CHECK_PATH"], timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "run.sh did not become ready"
            time.sleep(0.1)
        context = {"requestId": "lwa-request-2", "stage": "api",
                   "authorizer": {"account_id": "acct_lwa", "key_id": "key_lwa", "allowed_models": "[]"}}
        body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True,
                "messages": [{"role": "user", "content": "scenario:paced"}]}
        arrivals, names = [], []
        with httpx.stream("POST", f"{base}/v1/messages", json=body, timeout=30,
                          headers={"x-amzn-request-context": json.dumps(context)}) as response:
            assert response.status_code == 200
            assert response.headers["x-request-id"] == "lwa-request-2"
            for line in response.iter_lines():
                if line.startswith("event: "):
                    names.append(line[7:])
                    arrivals.append(time.monotonic())
        assert names[0] == "message_start"
        assert names[-1] == "message_stop"
        assert arrivals[-2] - arrivals[1] > 0.3  # the paced words came as they were produced
        assert accounts.get_account("acct_lwa").balance_micros < 1_000_000
        refused = httpx.post(f"{base}/v1/messages", json=body, timeout=10)
        assert (refused.status_code, refused.json()["error"]["type"]) == (401, "authentication_error")
    finally:
        process.terminate()
        process.wait(timeout=10)
