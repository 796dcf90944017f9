"""One cold start, measured in a fresh process: `python -m unigate_tools.coldstart <Function|baseline>`.

AWS is a moto server in another process, seeded (`serve_seeded`: the bench starts one for all its cold
starts and passes it as AWS_ENDPOINT_URL), so that the measured process imports boto3 itself, as a cold
start does; without AWS_ENDPOINT_URL, this process starts one, and moto's own import of boto3 then comes
before the clock. The handler module is imported and one sample event from events/ is invoked. Prints
{"seconds", "max_rss_mb", "rss_growth_mb"} as JSON. Baselines: `baseline-boto3` (a bare handler that
imports boto3, makes a DynamoDB client and one GetItem), `baseline-fastapi` (a minimal FastAPI app
wrapped by Mangum, answering one GET) and `baseline-fastapi-boto3` (the same app, its GET reading one item
through boto3, as every route function's first request reads or writes DynamoDB).
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
    "CompletionsFunction": "completions/echo.json",
    # A paid request to a deployment (seeded below), as chat's is: a refused one would stop the measurement.
    "AzureOpenAIFunction": "azure_openai/chat.json",
    "MessagesFunction": "messages/echo.json",
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
    "baseline-fastapi-boto3": "credits/credits.json",
}


def _rss_mb() -> float:
    """This process's peak resident memory. On Linux from /proc (VmHWM): getrusage's peak survives exec, and
    would report the bench process that started this one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed(root: Path, client: Any) -> None:
    from unigate_tools.template import Template

    template = Template(root / "template.yaml")
    for name, value in template.environment().items():
        os.environ[name] = value
    template.create_tables(client)
    key = json.loads((root / "events/authorizer/valid_key.json").read_text())["headers"]["Authorization"][7:]
    client.put_item(TableName=os.environ["UNIGATE_KEYS_TABLE"], Item={
        "key_hash": {"S": hashlib.sha256(key.encode()).hexdigest()}, "key_id": {"S": "key_bench"},
        "account_id": {"S": "acct_events"}, "status": {"S": "active"}, "created_at": {"S": "2026-01-01T00:00:00Z"}})
    client.put_item(TableName=os.environ["UNIGATE_ACCOUNTS_TABLE"], Item={
        "account_id": {"S": "acct_events"}, "sk": {"S": "ACCOUNT"}, "balance": {"N": "10000000000"},
        "status": {"S": "active"}, "created_at": {"S": "2026-01-01T00:00:00Z"}})
    # The deployment the Azure surface's sample event names (events/azure_openai/chat.json).
    client.put_item(TableName=os.environ["UNIGATE_ACCOUNTS_TABLE"], Item={
        "account_id": {"S": "#deployments"}, "sk": {"S": "echo-team"}, "name": {"S": "Echo-Team"},
        "endpoint": {"S": "echo@echo"}, "capacity_type": {"S": "on-demand"},
        "created_at": {"S": "2026-01-01T00:00:00Z"}})


def start_seeded(root: Path) -> Any:
    """moto in this process (mock_aws: every boto3 client made while it runs is answered here), seeded."""
    import boto3
    from moto import mock_aws

    from unigate_tools.emulator import make_writes_atomic

    make_writes_atomic()
    mock = mock_aws()
    mock.start()
    # A session of its own, so that nothing the measured handler (or the boto3 baseline) loads is warm.
    _seed(root, boto3.session.Session().client("dynamodb"))
    return mock


def serve_seeded(root: Path) -> tuple[Any, str]:
    """A moto server in this process, seeded: (the server, its URL for AWS_ENDPOINT_URL)."""
    import boto3

    from unigate_tools.emulator import FAKE_CREDENTIALS, make_writes_atomic, start_server

    make_writes_atomic()
    server, url = start_server()
    session = boto3.session.Session(aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                    region_name=FAKE_CREDENTIALS["AWS_REGION"])
    _seed(root, session.client("dynamodb", endpoint_url=url))
    return server, url


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

    # With its response model, as unigate's routes have theirs: FastAPI then builds the same machinery.
    @app.get("/v0/credits")
    def credits() -> dict[str, object]:
        return {"id": "acct", "credits": 1.0}

    return Mangum(app, lifespan="off")


def _baseline_fastapi_boto3() -> Any:
    """The minimal FastAPI app whose GET reads one DynamoDB item through boto3, as a route function does."""
    from fastapi import FastAPI
    from mangum import Mangum

    app = FastAPI()

    @app.get("/v0/credits")
    async def credits() -> dict[str, object]:
        import boto3

        boto3.client("dynamodb").get_item(TableName=os.environ["UNIGATE_KEYS_TABLE"], Key={"key_hash": {"S": "x"}})
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
    server = None
    if os.environ.get("AWS_ENDPOINT_URL"):
        from unigate_tools.template import Template

        for name, value in Template(root / "template.yaml").environment().items():
            os.environ[name] = value
    else:
        server, os.environ["AWS_ENDPOINT_URL"] = serve_seeded(root)
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
    elif target == "baseline-fastapi-boto3":
        handler = _baseline_fastapi_boto3()
    else:
        assert spec is not None
        handler = load_handler(spec)
    result = handler(event, context)
    elapsed = time.perf_counter() - started
    if isinstance(result, dict) and "statusCode" in result and result["statusCode"] >= 400:
        raise SystemExit(f"{target} answered {result['statusCode']}: {result.get('body')}")
    print(json.dumps({"seconds": elapsed, "max_rss_mb": round(_rss_mb(), 1),
                      "rss_growth_mb": round(_rss_mb() - before, 1)}))
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
