"""Reads template.yaml, the single source of routes, function settings, gateway responses and tables.

The local server and the tests both build from this, so neither can drift from what is deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml


def _project_root() -> Path:
    """The checkout this package lives in (it is installed in editable mode for local work)."""
    for candidate in (*Path(__file__).resolve().parents, Path.cwd()):
        if (candidate / "template.yaml").is_file():
            return candidate
    raise FileNotFoundError("template.yaml not found above the unigate package or the working directory")


PROJECT_ROOT = _project_root()
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short-form tags (!Ref, !GetAtt, !Sub...) into their long form."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. /v0/credits or /v0/items/{id}
    function: str
    authorized: bool
    # Authorized by AWS IAM: the request must be SigV4-signed (the admin API).
    iam: bool = False
    # API Gateway streams the function's response (responseTransferMode: STREAM).
    streaming: bool = False

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{([^}/+]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        regex = re.sub(r"\\\{([^}/]+)\\\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    body: str


@dataclass(frozen=True)
class Authorizer:
    function: str
    identity_headers: tuple[str, ...]
    ttl_seconds: int


class Template:
    def __init__(self, path: Path = TEMPLATE_PATH) -> None:
        self.path = path
        self.doc: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
        self.resources: dict[str, Any] = self.doc.get("Resources", {})
        self.parameters: dict[str, Any] = self.doc.get("Parameters", {})
        self.globals: dict[str, Any] = self.doc.get("Globals", {}).get("Function", {})

    # --- names -------------------------------------------------------------------------------------
    def table_name(self, logical_id: str) -> str:
        """The physical table name used locally (CloudFormation generates one when deployed)."""
        return f"unigate-{logical_id}"

    def resolve(self, value: Any) -> Any:
        """Resolves the intrinsic functions the local server needs: Ref to a parameter or a table."""
        if isinstance(value, dict) and list(value) == ["Ref"]:
            ref = value["Ref"]
            if ref in self.parameters:
                return self.parameters[ref].get("Default")
            resource = self.resources.get(ref, {})
            if resource.get("Type") == "AWS::DynamoDB::Table":
                return self.table_name(ref)
            return ref
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        return value

    # --- tables --------------------------------------------------------------------------------------
    def tables(self) -> dict[str, dict[str, Any]]:
        return {lid: r["Properties"] for lid, r in self.resources.items() if r.get("Type") == "AWS::DynamoDB::Table"}

    def create_tables(self, client: Any) -> dict[str, str]:
        """Creates every table of the template through `client`; returns logical id -> table name."""
        created = {}
        for logical_id, props in self.tables().items():
            name = self.table_name(logical_id)
            kwargs: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if props.get(index_kind):
                    kwargs[index_kind] = [
                        {k: v for k, v in index.items() if k != "ProvisionedThroughput"} for index in props[index_kind]
                    ]
            client.create_table(**kwargs)
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
            created[logical_id] = name
        return created

    # --- functions and routes ------------------------------------------------------------------------
    def functions(self) -> dict[str, FunctionSpec]:
        specs = {}
        global_env = self.globals.get("Environment", {}).get("Variables", {})
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = resource["Properties"]
            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            metadata = resource.get("Metadata", {})
            specs[logical_id] = FunctionSpec(
                name=logical_id,
                code_dir=self.path.parent / props["CodeUri"],
                # A function deployed behind the Lambda Web Adapter names its Python entry point for local
                # use (tests, events/) in Metadata.LocalHandler; its Handler is the adapter's start script.
                handler=metadata.get("LocalHandler", props.get("Handler", "app.lambda_handler")),
                timeout=int(self.resolve(props.get("Timeout", self.globals.get("Timeout", 3)))),
                memory=int(self.resolve(props.get("MemorySize", self.globals.get("MemorySize", 128)))),
                environment={k: str(self.resolve(v)) for k, v in env.items()},
                metadata=metadata,
            )
        return specs

    def environment(self) -> dict[str, str]:
        """The union of every function's environment (the local server runs them in one process)."""
        merged: dict[str, str] = {}
        for spec in self.functions().values():
            merged.update(spec.environment)
        return merged

    def _api(self) -> dict[str, Any]:
        for resource in self.resources.values():
            if resource.get("Type") == "AWS::Serverless::Api":
                return dict(resource["Properties"])
        raise LookupError("template.yaml has no AWS::Serverless::Api")

    def routes(self) -> list[Route]:
        api = self._api()
        auth = api.get("Auth", {})
        default_authorizer = auth.get("DefaultAuthorizer")
        routes = self._definition_routes(api, default_authorizer)
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in resource["Properties"].get("Events", {}).values():
                if event.get("Type") != "Api":
                    continue
                props = event["Properties"]
                authorizer = props.get("Auth", {}).get("Authorizer", default_authorizer)
                routes.append(
                    Route(
                        method=props["Method"].upper(),
                        path=props["Path"],
                        function=logical_id,
                        authorized=authorizer not in (None, "NONE", "AWS_IAM"),
                        iam=authorizer == "AWS_IAM",
                    )
                )
        return routes

    @staticmethod
    def _definition_routes(api: dict[str, Any], default_authorizer: str | None) -> list[Route]:
        """Routes declared in the Api's inline OpenAPI body (those needing integration settings that
        function events cannot express, such as response streaming)."""
        routes = []
        for path, methods in (api.get("DefinitionBody") or {}).get("paths", {}).items():
            for method, spec in methods.items():
                integration = spec.get("x-amazon-apigateway-integration") or {}
                uri = integration.get("uri", {})
                found = re.search(r"\$\{(\w+)\.Arn\}", uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri))
                if not found:
                    continue
                security = [name for entry in spec.get("security", []) for name in entry]
                routes.append(Route(
                    method=method.upper(),
                    path=path,
                    function=found.group(1),
                    authorized=bool(security) or default_authorizer is not None,
                    streaming=integration.get("responseTransferMode") == "STREAM",
                ))
        return routes

    def authorizer(self) -> Authorizer:
        auth = self._api()["Auth"]
        spec = auth["Authorizers"][auth["DefaultAuthorizer"]]
        identity = spec.get("Identity", {})
        return Authorizer(
            function=self.resolve(spec["FunctionArn"]),
            # No Headers: no identity source (API Gateway then calls the authorizer on every request).
            identity_headers=tuple(identity.get("Headers", [])),
            ttl_seconds=int(self.resolve(identity.get("ReauthorizeEvery", 300))),
        )

    def gateway_responses(self) -> dict[str, GatewayResponse]:
        responses = {}
        for kind, spec in self._api().get("GatewayResponses", {}).items():
            default_status = 500 if kind.endswith("5XX") else 400
            responses[kind] = GatewayResponse(
                status=int(spec.get("StatusCode", default_status)),
                body=spec.get("ResponseTemplates", {}).get("application/json", '{"message": null}'),
            )
        return responses

    def stage(self) -> str:
        return str(self.resolve(self._api().get("StageName", "api")))
