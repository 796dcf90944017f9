"""One cold start, measured in a fresh process: `python -m unigate_tools.coldstart <Function|baseline>`.

The embedded AWS (moto, which itself imports boto3) is set up first and seeded with raw DynamoDB calls, so
that nothing of unigate the handler needs is imported before the clock starts (but unigate.infra.dynamodb, whose
transport the emulator points at moto in this process); then the handler module is imported and one
sample event from events/ is invoked. Prints {"seconds", "max_rss_mb", "rss_growth_mb"} as JSON.
Baselines: `baseline-boto3` (a bare handler: a DynamoDB client and one GetItem) and `baseline-fastapi`
(a minimal FastAPI app wrapped by Mangum, answering one GET).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

SAMPLE_EVENTS = {
    "AuthorizerFunction": "authorizer/valid_key.json",
    "CreditsFunction": "credits/credits.json",
    "ChatCompletionsFunction": "chat_completions/echo.json",
    "CatalogFunction": "catalog/models.json",
    "EndpointProbeFunction": "endpoint_probe/scheduled.json",
    "EmbeddingsFunction": "embeddings/echo.json",
    "InferenceFunction": "inference/chat.json",
    "AdminFunction": "admin/show_account.json",
    "CustomKeysFunction": "custom_keys/list.json",
    "QueriesFunction": "queries/recent.json",
    "CreditTopupFunction": "credit_topup/scheduled.json",
    "HoldSweeperFunction": "hold_sweeper/scheduled.json",
    "baseline-boto3": "authorizer/valid_key.json",
    "baseline-fastapi": "credits/credits.json",
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed(root: Path) -> None:
    import boto3

    from unigate_tools.template import Template

    template = Template(root / "template.yaml")
    for name, value in template.environment().items():
        os.environ[name] = value
    # A session of its own, so that nothing the measured handler (or the boto3 baseline) loads is warm.
    client = boto3.session.Session().client("dynamodb")
    template.create_tables(client)
    key = json.loads((root / "events/authorizer/valid_key.json").read_text())["headers"]["Authorization"][7:]
    client.put_item(TableName=os.environ["UNIGATE_KEYS_TABLE"], Item={
        "key_hash": {"S": hashlib.sha256(key.encode()).hexdigest()}, "key_id": {"S": "key_bench"},
        "account_id": {"S": "acct_events"}, "status": {"S": "active"}, "created_at": {"S": "2026-01-01T00:00:00Z"}})
    client.put_item(TableName=os.environ["UNIGATE_ACCOUNTS_TABLE"], Item={
        "account_id": {"S": "acct_events"}, "sk": {"S": "ACCOUNT"}, "balance": {"N": "10000000"},
        "status": {"S": "active"}, "created_at": {"S": "2026-01-01T00:00:00Z"}})


def start_seeded(root: Path) -> Any:
    """moto in this process, seeded, with unigate's DynamoDB calls routed into it. Its writes are serialised
    and journalled, as the local server runs it, rather than moto copying every table per transaction (about
    3 ms of a chat function's first invocation)."""
    from moto import mock_aws

    from unigate_tools.emulator import make_writes_atomic, serve_dynamodb_in_process

    make_writes_atomic()
    mock = mock_aws()
    mock.start()
    _seed(root)
    serve_dynamodb_in_process()
    return mock


def _baseline_boto3() -> Any:
    def handler(event: dict[str, Any], context: Any) -> Any:
        import boto3

        return boto3.client("dynamodb").get_item(TableName=os.environ["UNIGATE_KEYS_TABLE"],
                                                 Key={"key_hash": {"S": "x"}})

    return handler


def _baseline_fastapi() -> Any:
    from fastapi import FastAPI
    from mangum import Mangum

    app = FastAPI()

    @app.get("/v0/credits")
    def credits() -> dict[str, object]:
        return {"id": "acct", "credits": 1.0}

    return Mangum(app, lifespan="off")


def _sample_event(root: Path, target: str) -> Path:
    """The function's chosen sample event, or the first of its events/ folder."""
    if target in SAMPLE_EVENTS:
        return root / "events" / SAMPLE_EVENTS[target]
    from unigate_tools.template import Template

    folder = Template(root / "template.yaml").functions()[target].code_dir.name
    return sorted((root / "events" / folder).glob("*.json"))[0]


def main() -> None:
    target = sys.argv[1]
    root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path.cwd()
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true",
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    mock = start_seeded(root)
    event = json.loads(_sample_event(root, target).read_text())
    from unigate_tools.invoke import LambdaContext

    context = LambdaContext(function_name=target)
    spec = None
    if not target.startswith("baseline"):
        from unigate_tools.template import Template

        # Reading template.yaml (about 170 ms of YAML) is the harness's work, not the function's: done
        # before the clock starts, as it is for the baselines.
        spec = Template(root / "template.yaml").functions()[target]
    from unigate_tools.invoke import load_handler

    before = _rss_mb()
    started = time.perf_counter()
    if target == "baseline-boto3":
        handler = _baseline_boto3()
    elif target == "baseline-fastapi":
        handler = _baseline_fastapi()
    else:
        assert spec is not None
        handler = load_handler(spec)
    result = handler(event, context)
    elapsed = time.perf_counter() - started
    if isinstance(result, dict) and "statusCode" in result and result["statusCode"] >= 400:
        raise SystemExit(f"{target} answered {result['statusCode']}: {result.get('body')}")
    print(json.dumps({"seconds": elapsed, "max_rss_mb": round(_rss_mb(), 1),
                      "rss_growth_mb": round(_rss_mb() - before, 1)}))
    mock.stop()


if __name__ == "__main__":
    main()
