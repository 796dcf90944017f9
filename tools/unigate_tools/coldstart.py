"""One cold start, measured in a fresh process (`command` gives its command line; the bench runs it).

AWS is a moto server in the bench's process, seeded (`serve_seeded`), passed as AWS_ENDPOINT_URL, so that the
measured process imports boto3 itself, as a cold start does. The measured process sees only what a Lambda
function sees: the dependency layer (`runtime_site`), the unigate layer and its own code. The handler module
is imported and one sample event from events/ is invoked. Prints
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
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

SAMPLE_EVENTS = {
    "AuthorizerFunction": "authorizer/valid_key.json",
    "CreditsFunction": "credits/credits.json",
    "ChatCompletionsFunction": "chat_completions/echo.json",
    "CompletionsFunction": "completions/echo.json",
    "AzureOpenAIFunction": "azure_openai/chat.json",
    "MessagesFunction": "messages/echo.json",
    "ResponsesFunction": "responses/echo.json",
    "ConsoleFunction": "console/page.json",
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
    # The Azure surface's sample event calls a deployment, made through unigate itself against that server.
    saved = dict(os.environ)
    os.environ.update({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": url})
    try:
        from unigate.catalog import deployments
        from unigate.infra import aws

        deployments.create("Echo-Team", "echo@echo")
        aws.reset()
    finally:
        os.environ.clear()
        os.environ.update(saved)
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


def _sample_event(root: Path, target: str, code_dir: Path | None) -> Path:
    """The function's chosen sample event, or the first of its events/ folder."""
    if target in SAMPLE_EVENTS:
        return root / "events" / SAMPLE_EVENTS[target]
    assert code_dir is not None
    return sorted((root / "events" / code_dir.name).glob("*.json"))[0]


def runtime_site(root: Path) -> Path:
    """The dependency layer as Lambda has it: exactly layers/deps/requirements.txt (what `sam build` puts in
    /opt/python), installed once per version of that file, with bytecode. The dev environment holds more
    (moto's cryptography, pyOpenSSL, awscrt), and botocore imports those when it finds them."""
    requirements = root / "layers" / "deps" / "requirements.txt"
    site = root / ".tools" / "lambda-site" / hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    if not site.is_dir():
        partial = site.with_name(site.name + ".partial")
        subprocess.run([str(root / ".tools" / "bin" / "uv"), "pip", "install", "--quiet", "--python", sys.executable,
                        "--target", str(partial), "--compile-bytecode", "-r", str(requirements)], check=True)
        partial.rename(site)
    return site


@cache
def _template(root: Path) -> Any:
    """template.yaml, read once for all the targets' commands: parsing it is slow YAML work."""
    from unigate_tools.template import Template

    return Template(root / "template.yaml")


def command(root: Path, target: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one cold start of `target`: a Python isolated from the dev
    environment (-I -S), whose path holds only the dependency layer, the unigate layer and this harness, as a
    Lambda function's holds /opt/python; the function's environment from template.yaml."""
    template = _template(root)
    env = {**os.environ, **template.environment()}
    spec, code_dir = None, None
    if not target.startswith("baseline"):
        found = template.functions()[target]
        env.update(found.environment)
        spec, code_dir = {"name": found.name, "code_dir": str(found.code_dir), "handler": found.handler}, found.code_dir
    payload = {"target": target, "spec": spec, "event": str(_sample_event(root, target, code_dir)),
               "path": [str(runtime_site(root)), str(root / "layers" / "unigate" / "python"), str(root / "tools")]}
    bootstrap = ("import json, sys; payload = json.loads(sys.argv[1]); sys.path[:0] = payload['path']; "
                 "from unigate_tools.coldstart import main; main(payload)")
    return [sys.executable, "-I", "-S", "-c", bootstrap, json.dumps(payload)], env


def main(payload: dict[str, Any]) -> None:
    """In the fresh process: load the handler, invoke it once with the sample event, print the figures."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true",
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"})
    target = payload["target"]
    event = json.loads(Path(payload["event"]).read_text())
    from unigate_tools.invoke import LambdaContext, load_handler_file

    context = LambdaContext(function_name=target)
    before = _rss_mb()
    started = time.perf_counter()
    if target == "baseline-boto3":
        handler = _baseline_boto3()
    elif target == "baseline-fastapi":
        handler = _baseline_fastapi()
    elif target == "baseline-fastapi-boto3":
        handler = _baseline_fastapi_boto3()
    else:
        spec = payload["spec"]
        handler = load_handler_file(spec["name"], Path(spec["code_dir"]), spec["handler"])
    result = handler(event, context)
    elapsed = time.perf_counter() - started
    if isinstance(result, dict) and "statusCode" in result and result["statusCode"] >= 400:
        raise SystemExit(f"{target} answered {result['statusCode']}: {result.get('body')}")
    print(json.dumps({"seconds": elapsed, "max_rss_mb": round(_rss_mb(), 1),
                      "rss_growth_mb": round(_rss_mb() - before, 1)}))
