"""Canary provider keys and user keys through success and error paths: they appear in no response body,
no log line and no DynamoDB item in plain text."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx

from tests.fakes.upstream import CANARY_KEYS


def _dump_tables(server: Any) -> str:
    state = json.loads((server.state_dir / "dev.json").read_text())
    client = boto3.client("dynamodb", endpoint_url=state["aws_endpoint_url"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    dump = []
    for table in client.list_tables()["TableNames"]:
        paginator = client.get_paginator("scan")
        for page in paginator.paginate(TableName=table):
            dump.append(json.dumps(page["Items"]))
    return "\n".join(dump)


def test_secrets_never_leak(server: Any, fake_upstream: Any) -> None:
    auth = {"Authorization": f"Bearer {server.key}"}
    made_up_user_key = server.key[:-8] + "AAAAAAAA"
    requests: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "scenario:leak:401"}]}, auth),
        ({"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "scenario:leak:400"}]}, auth),
        ({"model": "gpt-4o@azure-openai", "messages": [{"role": "user", "content": "scenario:leak:400"}]}, auth),
        ({"model": "mistral-large@azure-ai", "messages": [{"role": "user", "content": "scenario:leak:500"}]}, auth),
        ({"model": "gpt-4o@openai", "stream": True, "messages": [{"role": "user", "content": "scenario:leak:401"}]},
         auth),
        ({"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "scenario:error:401"}]}, auth),
        ({"model": "claude-haiku-4.5@anthropic", "messages": [{"role": "user", "content": "scenario:error:401"}]},
         auth),
        ({"model": "gpt-4o@openai", "api_key": CANARY_KEYS["openai"], "messages": [{"role": "user", "content": "x"}]},
         auth),
        ({"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}]}, auth),
        ({"model": "gpt-4o@openai", "stream": True, "messages": [{"role": "user", "content": "hello"}]}, auth),
        ({"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}]},
         {"Authorization": f"Bearer {made_up_user_key}"}),
    ]
    bodies = []
    for body, headers in requests:
        for path in ("/v0/chat/completions", "/v1/chat/completions"):
            response = httpx.post(server.url + path, json=body, headers=headers, timeout=30)
            bodies.append(f"{response.status_code} {dict(response.headers)} {response.text}")
    # The leaking provider really did echo the key back to the gateway: the canary was there to be leaked.
    assert any("leak" in str(r.body) for r in fake_upstream.received)

    log = (server.state_dir / "server.log").read_text()
    log_after_banner = log.split("manages it", 1)[-1]  # the banner prints the demo key on purpose
    tables = _dump_tables(server)
    secrets = {**CANARY_KEYS, "demo key": server.key, "made-up key": made_up_user_key}
    for name, secret in secrets.items():
        for place, text in (("responses", "\n".join(bodies)), ("server log", log_after_banner), ("DynamoDB", tables)):
            assert secret not in text, f"the {name} leaked into the {place}"
            assert secret[-12:] not in text, f"part of the {name} leaked into the {place}"
