"""DynamoDB's JSON API over HTTP(S), signed with SigV4, without botocore.

Every Lambda of unigate reads or writes DynamoDB on its first request, and creating a boto3 session and a
DynamoDB client costs 55-70 ms of each cold start (most of what the authorizer and the route functions
add), plus about 1 ms of parameter validation, endpoint rules and signing on every call. The stores need
none of it: they already speak the wire format (attribute-value dicts, the API's parameter names), so
this client sends their parameters as the JSON body and returns the JSON answer, as boto3's low-level
client would (binary attributes stay base64 text; unigate stores none).

What botocore gave that is kept:
- credentials and region from the environment (Lambda's), and otherwise from the process's boto3
  session (unigate.infra.aws: profiles, SSO, instance roles), imported only then;
- the endpoint from AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL, as every AWS SDK reads them;
- retries with jittered backoff of throttling, 5xx answers and broken connections (3 attempts);
- errors that carry `response` (Error.Code, Error.Message and the rest of the body, such as a
  transaction's CancellationReasons) and `client.exceptions.<Code>` classes for the codes stores catch.

A transport is (operation, JSON body) -> (status, body). The default one is HTTP/1.1 over one kept-alive
socket per thread; the embedded emulator replaces it with a call into moto in the same process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
MAX_ATTEMPTS = 3
# Codes that mean "slow down" or "our side failed", retried like botocore's standard mode retries them.
RETRYABLE_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
})

Transport = Callable[[str, bytes], tuple[int, bytes]]


class ClientError(Exception):
    """An error answer from DynamoDB; built like botocore's ClientError (error_response, operation_name)."""

    def __init__(self, error_response: dict[str, Any], operation_name: str) -> None:
        error = error_response.get("Error", {})
        super().__init__(f"An error occurred ({error.get('Code')}) when calling the {operation_name} "
                         f"operation: {error.get('Message', '')}")
        self.response = error_response
        self.operation_name = operation_name


class ConditionalCheckFailedException(ClientError):
    pass


class TransactionCanceledException(ClientError):
    pass


class Exceptions:
    """`client.exceptions`, as on a boto3 client, for the codes unigate catches."""

    ClientError = ClientError
    ConditionalCheckFailedException = ConditionalCheckFailedException
    TransactionCanceledException = TransactionCanceledException


_BY_CODE: dict[str, type[ClientError]] = {
    cls.__name__: cls
    for cls in (ConditionalCheckFailedException, TransactionCanceledException)
}


def error_for(status: int, body: bytes, operation: str) -> ClientError:
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = str(payload.pop("__type", "")).rpartition("#")[2] or ("InternalServerError" if status >= 500 else "Unknown")
    message = payload.pop("message", None) or payload.pop("Message", None) or ""
    response = {**payload, "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status}}
    return _BY_CODE.get(code, ClientError)(response, operation)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def credentials() -> Credentials:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:  # Lambda's own: read each call, as they are set per sandbox and by tests
        return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    from unigate.infra.aws import session

    found = session().get_credentials()
    if found is None:
        raise ClientError({"Error": {"Code": "NoCredentials", "Message": "No AWS credentials found."}}, "Sign")
    frozen = found.get_frozen_credentials()  # refreshes temporary credentials when they near expiry
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def region() -> str:
    configured = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if configured:
        return configured
    from unigate.infra.aws import session

    return session().region_name or "us-east-1"


def endpoint_url() -> str:
    configured = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
    return configured or f"https://dynamodb.{region()}.amazonaws.com"


@cache
def _signing_key(secret: str, day: str, region_name: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region_name, "dynamodb", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_headers(host: str, operation: str, body: bytes, *, creds: Credentials, region_name: str,
                   now: float) -> dict[str, str]:
    """The headers of a SigV4-signed POST / to DynamoDB (`host` with its port when not the default)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = stamp[:8]
    headers = {"content-type": CONTENT_TYPE, "host": host, "x-amz-date": stamp,
               "x-amz-target": TARGET_PREFIX + operation}
    if creds.token:
        headers["x-amz-security-token"] = creds.token
    names = sorted(headers)
    canonical = "\n".join([
        "POST", "/", "", *(f"{name}:{headers[name].strip()}" for name in names), "",
        ";".join(names), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{day}/{region_name}/dynamodb/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(creds.secret_key, day, region_name), to_sign.encode(), hashlib.sha256)
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature.hexdigest()}")
    return headers


class _Broken(Exception):
    """The connection failed; `reused` says it was a kept connection (which may have gone stale)."""

    def __init__(self, cause: BaseException, *, reused: bool) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.reused = reused


class HttpTransport:
    """HTTP/1.1 to one endpoint, one kept-alive connection per thread (TLS for https)."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.tls = parts.scheme == "https"
        self.hostname = parts.hostname or "localhost"
        default_port = 443 if self.tls else 80
        self.port = parts.port or default_port
        self.host = self.hostname if self.port == default_port else f"{self.hostname}:{self.port}"
        self.path = parts.path or "/"
        self._local = threading.local()

    def __call__(self, operation: str, body: bytes) -> tuple[int, bytes]:
        headers = signed_headers(self.host, operation, body, creds=credentials(), region_name=region(),
                                 now=time.time())
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"POST {self.path} HTTP/1.1\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body
        try:
            return self._exchange(request)
        except _Broken as broken:
            if not broken.reused:
                raise
            # A kept connection the server (or a frozen Lambda's network) dropped while idle, found reset or
            # closed when used: once more at once on a fresh one (the caller's backed-off retries are for
            # failures of a request DynamoDB may have seen).
            return self._exchange(request)

    def _exchange(self, request: bytes) -> tuple[int, bytes]:
        conn = getattr(self._local, "conn", None)
        reused = conn is not None
        try:
            if conn is None:
                conn = self._local.conn = self._connect()
            sock, reader = conn
            sock.sendall(request)
            status, close, body = _read_response(reader)
        except (OSError, ValueError) as exc:
            self.close()
            # A timeout is not a stale connection: DynamoDB may be working on the request.
            raise _Broken(exc, reused=reused and not isinstance(exc, TimeoutError)) from exc
        if close:
            self.close()
        return status, body

    def _connect(self) -> tuple[socket.socket, Any]:
        sock = socket.create_connection((self.hostname, self.port), timeout=CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = _tls_context().wrap_socket(sock, server_hostname=self.hostname)
        sock.settimeout(READ_TIMEOUT)
        return sock, sock.makefile("rb")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn[1].close()
            conn[0].close()


@cache
def _tls_context() -> Any:
    import ssl

    bundle = os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle or None)


def _read_response(reader: Any) -> tuple[int, bool, bytes]:
    """Status, whether the server closes the connection, and the body (content-length or chunked)."""
    status_line = reader.readline(65537)
    if not status_line:
        raise ConnectionResetError("the connection closed before an answer")
    version, _, rest = status_line.decode("latin-1").partition(" ")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(65537)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ConnectionResetError("the connection closed inside the headers")
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int(reader.readline(1026).split(b";")[0], 16):
            chunks.append(_read_exactly(reader, size))
            reader.readline(3)
        while reader.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        return status, close, b"".join(chunks)
    if "content-length" in headers:
        return status, close, _read_exactly(reader, int(headers["content-length"]))
    return status, True, reader.read()


def _read_exactly(reader: Any, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise ConnectionResetError("the connection closed inside the body")
    return bytes(data)


class DynamoDB:
    """The calls unigate's stores make, with boto3's names and parameters."""

    exceptions = Exceptions

    def __init__(self, transport: Transport | None = None) -> None:
        self.transport = transport or HttpTransport(endpoint_url())

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        for attempt in range(MAX_ATTEMPTS):
            last = attempt == MAX_ATTEMPTS - 1
            try:
                status, data = self.transport(operation, body)
            except (_Broken, OSError) as exc:
                if last:
                    raise ClientError({"Error": {"Code": "ServiceUnavailable",
                                                 "Message": f"DynamoDB could not be reached: {exc}"}},
                                      operation) from None
            else:
                if status == 200:
                    answer: dict[str, Any] = json.loads(data) if data else {}
                    return answer
                error = error_for(status, data, operation)
                if last or not (status >= 500 or error.response["Error"]["Code"] in RETRYABLE_CODES):
                    raise error
            time.sleep(random.random() * min(1.0, 0.025 * 2**attempt))  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("GetItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self.call("PutItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self.call("UpdateItem", params)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self.call("DeleteItem", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self.call("Query", params)

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("BatchGetItem", params)

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self.call("TransactWriteItems", params)


class _Process:
    """What a warm Lambda keeps: the client, and the transport the emulator chose (None: HTTP)."""

    def __init__(self) -> None:
        self.client: DynamoDB | None = None
        self.transport: Transport | None = None
        self.lock = threading.Lock()


_process = _Process()


def client() -> DynamoDB:
    """The process's client, created on first use (its endpoint is read then)."""
    if _process.client is None:
        with _process.lock:
            if _process.client is None:
                _process.client = DynamoDB(_process.transport)
    return _process.client


def use_transport(transport: Transport | None) -> None:
    """Routes every call through `transport` (the embedded emulator's), or back to HTTP with None."""
    _process.transport = transport
    reset()


def reset() -> None:
    with _process.lock:
        if _process.client is not None and isinstance(_process.client.transport, HttpTransport):
            _process.client.transport.close()
        _process.client = None
