"""The local API: what API Gateway does in front of the Lambda functions, on 127.0.0.1.

For each HTTP request it matches a route of template.yaml, runs the real authorizer handler (caching
its decision per identity source for the template's TTL, as API Gateway does, when it names any), answers with the
template's gateway responses where API Gateway would, builds a REST API proxy event with a faithful
requestContext, runs the real function handler and maps its result back to HTTP.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.types import Message, Receive, Scope, Send

from unigate.web.caller import LWA_CONTEXT_HEADER
from unigate_tools.invoke import Handler, call, context_for, load_handler, load_module
from unigate_tools.template import Route, Template

ACCOUNT_ID = "123456789012"
API_ID = "local"
# API Gateway's own payload limit for REST APIs.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class _Decision:
    policy: dict[str, Any]
    expires: float


class GatewayError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_SIGV4 = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
                    r"/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<signature>[0-9a-f]{64})$")


def verify_sigv4(scope: Scope, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """API Gateway's AWS_IAM authorization, locally: the request must be signed (SigV4, service
    execute-api) with the local credentials (unigate_tools.emulator.FAKE_CREDENTIALS, what `unigate --local`
    uses too). Returns the identity API Gateway would pass on."""
    import hmac

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from unigate_tools.emulator import FAKE_CREDENTIALS

    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization:
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
    found = _SIGV4.match(authorization)
    if found is None or "x-amz-date" not in lowered:
        raise GatewayError("INCOMPLETE_SIGNATURE", "Authorization header requires SigV4 parameters.")
    access_key = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    if found["key"] != access_key or found["service"] != "execute-api":
        raise GatewayError("INVALID_SIGNATURE", "The security token included in the request is invalid.")
    query = scope.get("query_string", b"").decode()
    url = f"http://{lowered.get('host', 'localhost')}{scope['path']}" + (f"?{query}" if query else "")
    signed = {name: lowered.get(name, "") for name in found["signed"].split(";")}
    request = AWSRequest(method=scope["method"], url=url, data=body, headers=signed)
    request.context["timestamp"] = lowered["x-amz-date"]
    credentials = Credentials(access_key, FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    signer = SigV4Auth(credentials, "execute-api", found["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise GatewayError("INVALID_SIGNATURE", "The request signature we calculated does not match.")
    return {"accessKey": access_key, "caller": access_key, "accountId": ACCOUNT_ID,
            "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/local-admin", "user": access_key}


def _policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    allowed = False
    for statement in policy.get("policyDocument", {}).get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class LocalApi:
    def __init__(self, template: Template) -> None:
        self.template = template
        self.stage = template.stage()
        self.routes = template.routes()
        self.functions = template.functions()
        self.responses = template.gateway_responses()
        self.authorizer_spec = template.authorizer()
        self.handlers: dict[str, Handler] = {name: load_handler(spec) for name, spec in self.functions.items()}
        self._cache: dict[str, _Decision] = {}
        self.timing = os.environ.get("UNIGATE_DEV_TIMING") == "1"
        if self.timing:
            from unigate_tools import awstiming

            awstiming.install()

    async def _timings(self, scope: Scope, send: Send) -> None:
        from unigate_tools import awstiming

        if scope["method"] == "DELETE":
            awstiming.reset()
        payload = json.dumps(awstiming.snapshot()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    # --- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        if self.timing:
            if scope["path"] == "/_unigate/aws-calls":
                await self._timings(scope, send)
                return
            send = _charging_aws_time(send)
        try:
            body = await self._read_body(receive)
            route, path_params = self._match(scope["method"], scope["path"])
            headers, multi_headers = _headers(scope)
            authorizer: dict[str, Any] = {}
            identity: dict[str, Any] = {}
            if route.iam:
                identity = verify_sigv4(scope, headers, body)
            if route.authorized:
                method_arn = (
                    f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{API_ID}/{self.stage}/{scope['method']}{route.path}"
                )
                authorizer = await self._authorize(
                    scope, headers=headers, multi_headers=multi_headers, method_arn=method_arn, route=route,
                    request_id=request_id,
                )
            if route.streaming:
                context = self._request_context(scope, route, headers, request_id)
                if authorizer:
                    context["authorizer"] = authorizer
                await self._stream_through(scope, receive, send, route=route, body=body, context=context)
                return
            event = self._proxy_event(
                scope, route=route, path_params=path_params, headers=headers, multi_headers=multi_headers, body=body,
                request_id=request_id, authorizer=authorizer,
            )
            event["requestContext"]["identity"].update(identity)
            status, response_headers, payload = await self._invoke(route, event)
        except GatewayError as error:
            status, response_headers, payload = self._gateway_response(error)
        response_headers = [(k, v) for k, v in response_headers if k.lower() != "content-length"]
        response_headers.append(("content-length", str(len(payload))))
        response_headers.append(("x-amzn-requestid", request_id))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _stream_through(
        self, scope: Scope, receive: Receive, send: Send, *, route: Route, body: bytes, context: dict[str, Any]
    ) -> None:
        """Runs a response-streaming function's ASGI app as the Lambda Web Adapter does on the deployed API:
        the same app under an ASGI server, API Gateway's requestContext in x-amzn-request-context, and
        every chunk passed on as it is produced."""
        app = load_module(self.functions[route.function]).app
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != LWA_CONTEXT_HEADER.encode()]
        headers.append((LWA_CONTEXT_HEADER.encode(), json.dumps(context, separators=(",", ":")).encode()))
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # the client's own disconnect, when it comes

        await app({**scope, "headers": headers}, replay_body, send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_PAYLOAD_BYTES:
                raise GatewayError("REQUEST_TOO_LARGE", "Request Too Long")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    # --- the gateway ------------------------------------------------------------------------------
    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")

    def _gateway_response(self, error: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
        fallback = "DEFAULT_5XX" if error.kind in ("AUTHORIZER_FAILURE", "INTEGRATION_FAILURE") else "DEFAULT_4XX"
        response = self.responses.get(error.kind) or self.responses.get(fallback)
        if response is None:
            return 500, [("content-type", "application/json")], json.dumps({"message": error.message}).encode()
        body = response.body.replace("$context.error.messageString", json.dumps(error.message))
        return response.status, [("content-type", "application/json")], body.encode()

    async def _invoke(self, route: Route, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        spec = self.functions[route.function]
        handler = self.handlers[route.function]
        try:
            result = await anyio.to_thread.run_sync(call, handler, event, context_for(spec))
        except Exception as exc:  # a crashed function is a 5xx at API Gateway too
            # What CloudWatch would show for the function.
            traceback.print_exc()
            raise GatewayError("DEFAULT_5XX", "Internal server error") from exc
        return _proxy_result(result)

    async def _authorize(
        self,
        scope: Scope,
        *,
        headers: dict[str, str],
        multi_headers: dict[str, list[str]],
        method_arn: str,
        route: Route,
        request_id: str,
    ) -> dict[str, Any]:
        # As API Gateway: a missing identity source is answered before the authorizer runs; without identity
        # sources the authorizer runs on every request and nothing is cached here.
        identity = [headers.get(h.lower(), "") for h in self.authorizer_spec.identity_headers]
        if not all(v.strip() for v in identity):
            raise GatewayError("UNAUTHORIZED", "Unauthorized")
        cache_key = "\x00".join(identity)
        decision = self._cache.get(cache_key) if identity else None
        if decision is None or decision.expires < time.monotonic():
            event = {
                "type": "REQUEST",
                "methodArn": method_arn,
                "resource": route.path,
                "path": scope["path"],
                "httpMethod": scope["method"],
                "headers": headers,
                "multiValueHeaders": multi_headers,
                "queryStringParameters": _query(scope)[0],
                "multiValueQueryStringParameters": _query(scope)[1],
                "pathParameters": {},
                "stageVariables": None,
                "requestContext": self._request_context(scope, route, headers, request_id),
            }
            spec = self.functions[self.authorizer_spec.function]
            handler = self.handlers[self.authorizer_spec.function]
            try:
                policy = await anyio.to_thread.run_sync(call, handler, event, context_for(spec))
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    raise GatewayError("UNAUTHORIZED", "Unauthorized") from exc
                raise GatewayError("AUTHORIZER_FAILURE", "Authorizer failure") from exc
            decision = _Decision(policy, time.monotonic() + self.authorizer_spec.ttl_seconds)
            if self.authorizer_spec.ttl_seconds > 0 and identity:
                self._cache[cache_key] = decision
        if not _policy_allows(decision.policy, method_arn):
            raise GatewayError("ACCESS_DENIED", "User is not authorized to access this resource")
        return {**decision.policy.get("context", {}), "principalId": decision.policy.get("principalId")}

    def _request_context(self, scope: Scope, route: Route, headers: dict[str, str], request_id: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        client = scope.get("client") or ("127.0.0.1", 0)
        return {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": scope["method"],
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{self.stage}{scope['path']}",
            "accountId": ACCOUNT_ID,
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "stage": self.stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": client[0], "userAgent": headers.get("user-agent"), "accountId": None,
                         "caller": None, "user": None, "userArn": None, "accessKey": None,
                         "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                         "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None},
            "domainName": headers.get("host", "localhost"),
            "apiId": API_ID,
        }

    def _proxy_event(
        self,
        scope: Scope,
        *,
        route: Route,
        path_params: dict[str, str],
        headers: dict[str, str],
        multi_headers: dict[str, list[str]],
        body: bytes,
        request_id: str,
        authorizer: dict[str, Any],
    ) -> dict[str, Any]:
        query, multi_query = _query(scope)
        context = self._request_context(scope, route, headers, request_id)
        if authorizer:
            context["authorizer"] = authorizer
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        return {
            "resource": route.path,
            "path": scope["path"],
            "httpMethod": scope["method"],
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": text if body else None,
            "isBase64Encoded": encoded,
        }


def _charging_aws_time(send: Send) -> Send:
    """Charges the AWS calls made from here on to this request, and notes their time when its first body
    byte goes out (unigate_tools.awstiming)."""
    from unigate_tools import awstiming

    tally = awstiming.start_request()
    sent = False

    async def send_noting_first_byte(message: Message) -> None:
        nonlocal sent
        if not sent and message["type"] == "http.response.body" and message.get("body"):
            sent = True
            awstiming.first_byte_sent(tally)
        await send(message)

    return send_noting_first_byte


def _headers(scope: Scope) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _query(scope: Scope) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        multi.setdefault(k, []).append(v)
    return {k: v[-1] for k, v in multi.items()}, multi


def _proxy_result(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(result, dict) or "statusCode" not in result:
        raise GatewayError("DEFAULT_5XX", "Internal server error")
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values if (name, str(v)) not in headers)
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), headers, payload
