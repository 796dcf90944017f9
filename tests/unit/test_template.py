"""Invariants of template.yaml that a lint cannot see: routes, events, IAM, gateway responses, tables."""

import tomllib

from tests.conftest import EVENTS, ROOT, template


def _functions() -> dict:
    return {k: r for k, r in template().resources.items() if r["Type"] == "AWS::Serverless::Function"}


def test_every_function_has_events_and_every_events_folder_a_function() -> None:
    folders = {f.name for f in EVENTS.iterdir() if f.is_dir()}
    code_dirs = {r["Properties"]["CodeUri"].strip("/").split("/")[-1] for r in _functions().values()}
    assert folders == code_dirs
    for folder in folders:
        assert list((EVENTS / folder).glob("*.json")), folder


def test_routes_of_the_contract_are_declared_and_authorized() -> None:
    routes = {(r.method, r.path): r for r in template().routes()}
    assert ("GET", "/v0/credits") in routes
    assert ("GET", "/v0/get_credits") in routes
    assert ("POST", "/v0/chat/completions") in routes
    assert ("POST", "/v1/chat/completions") in routes
    assert ("POST", "/v1/messages") in routes
    assert ("POST", "/v1/messages/count_tokens") in routes
    for path in ("/v0/models", "/v0/providers", "/v0/endpoints", "/v0/endpoint-metrics", "/v1/models", "/v0/queries",
                 "/v0/custom_api_key/list"):
        assert ("GET", path) in routes
    # Every route takes unigate keys, except the admin API, which only AWS IAM (SigV4) reaches, and the
    # console's static files (its page calls the API with the user's key).
    assert [path for (_, path), r in routes.items() if r.iam] == ["/admin/{proxy+}"]
    open_routes = {key: r for key, r in routes.items() if not r.authorized and not r.iam}
    assert set(open_routes) == {("GET", "/"), ("HEAD", "/"), ("GET", "/console/{proxy+}")}
    assert {r.function for r in open_routes.values()} == {"ConsoleFunction"}
    assert all(r.authorized != r.iam for key, r in routes.items() if key not in open_routes)
    for method, path in (("POST", "/v1/responses"), ("POST", "/v1/responses/input_tokens"),
                         ("GET", "/v1/responses/{response_id}"), ("DELETE", "/v1/responses/{response_id}"),
                         ("GET", "/v1/responses/{response_id}/input_items"),
                         ("POST", "/v1/responses/{response_id}/cancel"), ("POST", "/openai/responses"),
                         ("GET", "/openai/responses/{response_id}"), ("DELETE", "/openai/responses/{response_id}"),
                         ("GET", "/openai/responses/{response_id}/input_items")):
        assert routes[(method, path)].function == "ResponsesFunction"
        assert routes[(method, path)].streaming


def test_gateway_responses_give_the_contract_statuses() -> None:
    responses = template().gateway_responses()
    assert responses["UNAUTHORIZED"].status == 403
    assert responses["UNAUTHORIZED"].body == '{"detail": "Not authenticated"}'
    assert responses["ACCESS_DENIED"].status == 401
    assert responses["ACCESS_DENIED"].body == '{"error": "Invalid API key"}'


def test_the_authorizer_has_no_identity_source_and_caches_lookups_itself_for_the_ttl_parameter() -> None:
    # Keys come in Authorization, x-api-key or api-key: with an identity source API Gateway would answer 401
    # itself when that one header is missing, so it calls the authorizer every time and caches nothing.
    authorizer = template().authorizer()
    assert authorizer.identity_headers == ()
    assert authorizer.ttl_seconds == 0
    env = _functions()["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["UNIGATE_AUTHORIZER_CACHE_SECONDS"] == {"Ref": "AuthorizerCacheTtl"}
    assert template().parameters["AuthorizerCacheTtl"]["Default"] == 300


def _statements(function: str) -> list[dict]:
    statements = []
    for policy in _functions()[function]["Properties"].get("Policies", []):
        statements.extend(policy.get("Statement", []))
    return statements


def test_iam_is_least_privilege() -> None:
    for name in _functions():
        for statement in _statements(name):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in a for a in actions), (name, actions)
            assert statement["Resource"] != "*", name
            # The ledger is append-only: nobody may rewrite or delete an entry.
            if "LedgerTable" in str(statement["Resource"]):
                assert not {"dynamodb:DeleteItem", "dynamodb:UpdateItem"} & set(actions), name
    # The console serves its own files and reads nothing else.
    assert _statements("ConsoleFunction") == []
    assert _statements("AuthorizerFunction") == [
        {"Sid": "ReadKeysOnly", "Effect": "Allow", "Action": "dynamodb:GetItem",
         "Resource": {"Fn::GetAtt": ["KeysTable", "Arn"]}},
        {"Sid": "ReadAccountStatus", "Effect": "Allow", "Action": "dynamodb:GetItem",
         "Resource": {"Fn::GetAtt": ["AccountsTable", "Arn"]}},
    ]


def test_tables_are_protected() -> None:
    for name, props in template().tables().items():
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name
        assert props["SSESpecification"]["SSEEnabled"], name
        # Money and keys survive a stack deletion; measurements are disposable.
        expected = "Delete" if name == "MetricsTable" else "Retain"  # the query log is the caller's history
        assert template().resources[name]["DeletionPolicy"] == expected, name


def test_every_function_has_a_log_group_with_retention() -> None:
    groups = [r["Properties"] for r in template().resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    named = {g["LogGroupName"]["Fn::Sub"].split("${")[1].rstrip("}") for g in groups}
    assert named == set(_functions())
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)


def test_dependency_layer_is_the_locked_runtime_closure() -> None:
    """The layer ships exactly the runtime dependencies uv.lock resolved, at the locked versions
    (`make lock` writes both)."""
    lock = {p["name"]: p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    closure: dict[str, str] = {}
    pending = [d["name"] for d in lock["unigate"]["dependencies"]]
    while pending:
        name = pending.pop()
        if name not in closure:
            closure[name] = lock[name]["version"]
            pending.extend(d["name"] for d in lock[name].get("dependencies", []))
    pinned = {}
    lines = (ROOT / "layers/deps/requirements.txt").read_text().splitlines()
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if line and not line[0].isspace() and not line.startswith("#"):
            name, _, version = line.split(";")[0].split()[0].partition("==")
            pinned[name] = version
            assert following.strip().startswith("--hash=sha256:"), f"{name} is not hashed"
    assert pinned == closure


def _transformed() -> dict:
    """The template as CloudFormation will see it after the SAM transform (run locally, no AWS)."""
    import os

    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in document["Resources"].values():
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in props:
                props[uri] = "s3://bucket/artifact.zip"

    class Policies:
        def load(self) -> dict[str, str]:
            return {"AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(document, {}, Policies())


# The routes API Gateway streams (responseTransferMode: STREAM), and the function behind each.
STREAMING = {
    "/v0/chat/completions": "ChatCompletionsFunction", "/v1/chat/completions": "ChatCompletionsFunction",
    "/v0/completions": "CompletionsFunction", "/v1/completions": "CompletionsFunction",
    "/v1/messages": "MessagesFunction", "/v1/messages/count_tokens": "MessagesFunction",
    # Every Responses route: the Lambda Web Adapter serves only streaming invocations.
    **dict.fromkeys(("/v1/responses", "/v1/responses/input_tokens", "/v1/responses/{response_id}",
                     "/v1/responses/{response_id}/input_items", "/v1/responses/{response_id}/cancel"),
                    "ResponsesFunction"),
    # and Azure's Responses routes, on the function whose role holds the stored responses.
    **dict.fromkeys(("/openai/responses", "/openai/responses/{response_id}",
                     "/openai/responses/{response_id}/input_items"), "ResponsesFunction"),
    **{f"/openai/deployments/{{deployment}}/{route}": "AzureOpenAIFunction"
       for route in ("chat/completions", "completions", "embeddings")},
}


def test_the_deployed_api_has_every_route_but_the_consoles_behind_the_authorizer_and_chat_streams() -> None:
    resources = _transformed()["Resources"]
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    paths = api["Properties"]["Body"]["paths"]
    deployed = {(m.upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"), p) for p, methods in paths.items()
                for m in methods}
    assert deployed == {(r.method, r.path) for r in template().routes()}
    for path, methods in paths.items():
        for spec in methods.values():
            expected = ([{"AWS_IAM": []}] if path.startswith("/admin/") else [{"NONE": []}]
                        if path == "/" or path.startswith("/console/") else [{"ApiKeyAuthorizer": []}])
            assert spec["security"] == expected, path
            integration = spec["x-amazon-apigateway-integration"]
            uri = integration["uri"]["Fn::Sub"]
            streamed_by = STREAMING.get(path)
            if streamed_by is not None:
                assert integration["responseTransferMode"] == "STREAM"
                assert f"/2021-11-15/functions/${{{streamed_by}.Arn}}/response-streaming-invocations" in uri
            else:
                assert "responseTransferMode" not in integration
                assert uri.endswith("/invocations")
    for function in set(STREAMING.values()):
        streaming = resources[function]["Properties"]
        assert streaming["Handler"] == "run.sh"
        assert streaming["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
        assert streaming["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_alarms_cover_what_operators_need_and_notify_the_topic() -> None:
    alarms = {k: r["Properties"] for k, r in template().resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms.values()}
    assert ("AWS/ApiGateway", "5XXError") in watched
    assert ("AWS/Lambda", "Throttles") in watched
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched
    assert ("unigate", "HoldFailures") in watched
    assert ("unigate", "LedgerNearLimit") in watched
    # Issue #29: money the gateway could not collect, settles that never landed, holds the sweeper charged.
    assert {("unigate", name) for name in ("UncollectedMicros", "SettleFailures", "StaleHoldsCharged")} <= watched
    errors = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms.values() if a["MetricName"] == "Errors"}
    assert {"AuthorizerFunction", "ChatCompletionsFunction", "CompletionsFunction", "AzureOpenAIFunction",
            "CreditsFunction", "CatalogFunction", "CreditTopupFunction"} <= errors
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_dashboard_renders_to_json_and_charts_the_metrics_the_code_emits() -> None:
    import json
    import re

    body, _ = template().resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    rendered = re.sub(r"\$\{[^}]+\}", "x", body)
    widgets = json.loads(rendered)["widgets"]
    text = json.dumps(widgets)
    for metric in ("UpstreamLatency", "TimeToFirstToken", "OutputTokens", "CostMicroCredits", "HoldFailures"):
        assert metric in text, metric
    source = "".join(p.read_text() for p in (ROOT / "layers/unigate/python/unigate").rglob("*.py"))
    for metric in ("UpstreamLatency", "TimeToFirstToken", "OutputTokens", "CostMicroCredits", "HoldFailures"):
        assert f'"{metric}"' in source, f"{metric} is charted but never emitted"


def test_the_built_unigate_layer_carries_no_local_tools_and_its_runtimes_bytecode() -> None:
    import pytest

    built = ROOT / ".aws-sam/build/UnigateLayer/python/unigate"
    if not built.exists():
        pytest.skip("run `make build` first (make test does)")
    assert (built / "gateway/chat.py").exists()
    assert not (built.parent / "unigate_tools").exists()
    # Lambda cannot write bytecode under /opt: each module ships compiled for python3.13, as a pyc that is
    # used without checking the source's time (flags 0b01: hash-based, unchecked), and nothing else.
    sources = {p.relative_to(built).with_suffix("") for p in built.rglob("*.py")}
    compiled = {p.parent.parent.relative_to(built) / p.name.split(".")[0] for p in built.rglob("*.pyc")}
    assert compiled == sources
    for pyc in built.rglob("*.pyc"):
        assert pyc.name.endswith(".cpython-313.pyc"), pyc
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01, pyc
