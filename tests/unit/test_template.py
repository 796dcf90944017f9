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
    for path in ("/v0/models", "/v0/providers", "/v0/endpoints", "/v0/endpoint-metrics", "/v1/models"):
        assert ("GET", path) in routes
    assert all(r.authorized for r in routes.values())


def test_gateway_responses_give_the_contract_statuses() -> None:
    responses = template().gateway_responses()
    assert responses["UNAUTHORIZED"].status == 403
    assert responses["UNAUTHORIZED"].body == '{"detail": "Not authenticated"}'
    assert responses["ACCESS_DENIED"].status == 401
    assert responses["ACCESS_DENIED"].body == '{"error": "Invalid API key"}'


def test_authorizer_caches_on_the_authorization_header_for_the_ttl_parameter() -> None:
    authorizer = template().authorizer()
    assert authorizer.identity_headers == ("Authorization",)
    assert authorizer.ttl_seconds == 300


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
    assert _statements("AuthorizerFunction") == [
        {"Sid": "ReadKeysOnly", "Effect": "Allow", "Action": "dynamodb:GetItem",
         "Resource": {"Fn::GetAtt": ["KeysTable", "Arn"]}}
    ]


def test_tables_are_protected() -> None:
    for name, props in template().tables().items():
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], name
        assert props["SSESpecification"]["SSEEnabled"], name
        # Money and keys survive a stack deletion; measurements are disposable.
        expected = "Delete" if name == "MetricsTable" else "Retain"
        assert template().resources[name]["DeletionPolicy"] == expected, name


def test_every_function_has_a_log_group_with_retention() -> None:
    groups = [r["Properties"] for r in template().resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    named = {g["LogGroupName"]["Fn::Sub"].split("${")[1].rstrip("}") for g in groups}
    assert named == set(_functions())
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)


def test_dependency_layer_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = (ROOT / "layers/deps/requirements.txt").read_text().split()

    def names(requirements: list[str]) -> set[str]:
        return {r.split(">")[0].split("=")[0].split("[")[0].lower() for r in requirements}

    # boto3 ships with the Lambda runtime; everything else must be in the layer.
    assert names(project) - {"boto3"} == names(layer)
