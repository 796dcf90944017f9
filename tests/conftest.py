"""Shared fixtures: moto-backed AWS with the tables of template.yaml, and the keys the events/ files use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from unigate_tools.emulator import FAKE_CREDENTIALS, make_writes_atomic
from unigate_tools.template import Template

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

# The keys that appear in events/: fixtures, not secrets. The tests seed them into moto.
EVENT_KEYS = {
    "valid": "ug_Enoa1U1C7EwJ4EHbPeoVwP8GuSAECSoO38TXPe",
    "revoked": "ug_o1A8ZRxI3gIBae08dgGf1lGU7v3TtQSl3RV1Gf",
    "expired": "ug_EW84nw5LtFFXYXyB7Wz96GQ8lYstJq7A4MQvNp",
    "unknown": "ug_WP9hr4As89RG0UTiTQ3sgRwjz1Tx0biU0Srv1r",
}
EVENT_ACCOUNT = "acct_events"


@cache
def template() -> Template:
    return Template(ROOT / "template.yaml")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's DynamoDB and Secrets Manager with every table of template.yaml, and the functions' environment."""
    from moto import mock_aws

    from unigate.infra import aws as aws_clients
    from unigate.infra.config import get_settings

    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in template().environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    get_settings.cache_clear()
    _forget_process_state()
    aws_clients.reset()
    make_writes_atomic()
    with mock_aws():
        template().create_tables(aws_clients.client("dynamodb"))
        yield
    aws_clients.reset()
    get_settings.cache_clear()


def _forget_process_state() -> None:
    """What a warm Lambda keeps between invocations must not leak from one test into the next."""
    from unigate.accounts import authorizer
    from unigate.catalog import deployments, metrics
    from unigate.gateway import routing
    from unigate.stores import secrets

    authorizer.forget()
    deployments.forget()
    metrics.reset_cache()
    routing._known_failures.clear()
    secrets._last_good.clear()


@pytest.fixture
def account(aws: None) -> str:
    """An account holding 10 credits."""
    from unigate.accounts import accounts, billing

    accounts.create_account(name="test", account_id="acct_test")
    billing.grant("acct_test", 10_000_000, idempotency_key="initial")
    return "acct_test"


@pytest.fixture
def event_keys(aws: None) -> dict[str, str]:
    """Seeds the account and keys the events/ files refer to: valid, revoked, expired (unknown stays unknown)."""
    from unigate.accounts import accounts, auth, billing

    accounts.create_account(name="events", account_id=EVENT_ACCOUNT)
    billing.grant(EVENT_ACCOUNT, 10_000_000, idempotency_key="initial")
    auth.create_key(EVENT_ACCOUNT, name="valid", plaintext=EVENT_KEYS["valid"])
    revoked, _ = auth.create_key(EVENT_ACCOUNT, name="revoked", plaintext=EVENT_KEYS["revoked"])
    auth.revoke_key(revoked.key_id)
    auth.create_key(EVENT_ACCOUNT, name="expired", plaintext=EVENT_KEYS["expired"], expires_in_days=-1)
    return dict(EVENT_KEYS)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[Any]:
    """The fake provider server on 127.0.0.1 (see tests/fakes/upstream.py)."""
    from tests.fakes.upstream import start

    fake, server = start()
    yield fake
    server.should_exit = True


@pytest.fixture(scope="session")
def fake_bedrock() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The fake Bedrock runtime on 127.0.0.1 (see tests/fakes/bedrock.py): its URL and what it received."""
    from tests.fakes.bedrock import start

    received: list[dict[str, Any]] = []
    url, server = start(received)
    yield url, received
    server.should_exit = True


def use_catalog(doc: dict[str, Any], path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes `doc` the operator's catalog (written to `path`, named by UNIGATE_CATALOG_PATH), read afresh."""
    import json

    from unigate.catalog.entries import get_catalog
    from unigate.infra.config import get_settings

    path.write_text(json.dumps(doc))
    monkeypatch.setenv("UNIGATE_CATALOG_PATH", str(path))
    get_settings.cache_clear()
    get_catalog.cache_clear()


@pytest.fixture
def providers(aws: None, fake_upstream: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The catalog pointed at the fake upstream (UNIGATE_CATALOG_PATH) and canary provider keys in Secrets Manager."""
    from tests.fakes.upstream import CANARY_KEYS, catalog_override
    from unigate.catalog.entries import get_catalog
    from unigate.infra import aws as aws_clients
    from unigate.infra.config import get_settings

    # Adapter tests see each upstream answer as it is; retries are tested on their own (test_routing).
    monkeypatch.setenv("UNIGATE_UPSTREAM_RETRIES", "0")
    use_catalog(catalog_override(fake_upstream.url), tmp_path / "catalog.json", monkeypatch)
    for name, key in CANARY_KEYS.items():
        aws_clients.client("secretsmanager").create_secret(Name=f"unigate/providers/{name}", SecretString=key)
    fake_upstream.received.clear()
    fake_upstream.delays.clear()
    fake_upstream.failures.clear()
    yield fake_upstream
    get_catalog.cache_clear()
    get_settings.cache_clear()
