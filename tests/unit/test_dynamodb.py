"""unigate.infra.dynamodb, the botocore-free DynamoDB client: its SigV4 signature against botocore's own signer,
its reading of DynamoDB's error answers, its retries, and its HTTP/1.1 against a scripted socket server."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from unigate.infra import dynamodb
from unigate.infra.aws import is_busy

NOW = 1_790_000_000.0  # 2026-09-21T14:13:20Z


@pytest.mark.parametrize(("host", "token"), [("dynamodb.eu-west-1.amazonaws.com", None),
                                             ("dynamodb.eu-west-1.amazonaws.com", "session-token"),
                                             ("127.0.0.1:8000", "session-token")])
def test_the_signature_is_botocores(host: str, token: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps({"TableName": "t", "Key": {"k": {"S": "v é"}}}).encode()
    creds = dynamodb.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = dynamodb.signed_headers(host, "GetItem", body, creds=creds, region_name="eu-west-1", now=NOW)

    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None))
    request = AWSRequest(method="POST", url=f"http://{host}/", data=body,
                         headers={"Content-Type": dynamodb.CONTENT_TYPE, "X-Amz-Target": "DynamoDB_20120810.GetItem"})
    botocore.auth.SigV4Auth(Credentials(creds.access_key, creds.secret_key, token), "dynamodb",
                            "eu-west-1").add_auth(request)

    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"] == "20260921T141320Z"
    assert ours.get("x-amz-security-token") == request.headers.get("X-Amz-Security-Token")


def test_error_answers_become_the_exceptions_stores_catch() -> None:
    cancelled = dynamodb.error_for(400, json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled [None, ConditionalCheckFailed]",
        "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]}).encode(), "TransactWriteItems")
    assert isinstance(cancelled, dynamodb.DynamoDB.exceptions.TransactionCanceledException)
    assert cancelled.response["CancellationReasons"][1]["Code"] == "ConditionalCheckFailed"
    assert cancelled.response["Error"] == {"Code": "TransactionCanceledException",
                                           "Message": "Transaction cancelled [None, ConditionalCheckFailed]"}

    failed = dynamodb.error_for(400, json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed", "Item": {"r": {"N": "3"}}}).encode(), "UpdateItem")
    assert isinstance(failed, dynamodb.ConditionalCheckFailedException)
    assert failed.response["Item"] == {"r": {"N": "3"}}
    assert "ConditionalCheckFailedException" in str(failed)
    assert "UpdateItem" in str(failed)

    throttled = dynamodb.error_for(400, b'{"__type":"com.amazon.coral.availability#ThrottlingException"}', "Query")
    assert type(throttled) is dynamodb.ClientError
    assert is_busy(throttled)
    broken = dynamodb.error_for(502, b"<html>bad gateway</html>", "GetItem")
    assert broken.response["Error"]["Code"] == "InternalServerError"
    assert is_busy(broken)


def _scripted(answers: list[Any]) -> tuple[dynamodb.DynamoDB, list[tuple[str, bytes]]]:
    seen: list[tuple[str, bytes]] = []

    def transport(operation: str, body: bytes) -> tuple[int, bytes]:
        seen.append((operation, body))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, payload = answer
        return status, json.dumps(payload).encode()

    return dynamodb.DynamoDB(transport), seen


THROTTLED = (400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"})


def test_throttling_and_failures_are_retried_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unigate.infra.dynamodb.time.sleep", lambda _: None)
    client, seen = _scripted([THROTTLED, (500, {}), (200, {"Item": {"k": {"S": "v"}}})])
    assert client.get_item(TableName="t", Key={"k": {"S": "v"}}) == {"Item": {"k": {"S": "v"}}}
    assert [op for op, _ in seen] == ["GetItem"] * 3
    assert json.loads(seen[0][1]) == {"TableName": "t", "Key": {"k": {"S": "v"}}}

    client, seen = _scripted([THROTTLED] * 3)
    with pytest.raises(dynamodb.ClientError) as raised:
        client.put_item(TableName="t", Item={})
    assert len(seen) == dynamodb.MAX_ATTEMPTS
    assert is_busy(raised.value)

    client, seen = _scripted([ConnectionRefusedError("refused")] * 3)
    with pytest.raises(dynamodb.ClientError, match="could not be reached") as raised:
        client.query(TableName="t")
    assert len(seen) == 3
    assert is_busy(raised.value)


def test_a_refused_request_is_not_retried() -> None:
    client, seen = _scripted([(400, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                                     "message": "One or more parameter values were invalid"})])
    with pytest.raises(dynamodb.ClientError, match="parameter values were invalid"):
        client.update_item(TableName="t")
    assert len(seen) == 1


Reply = Callable[[bytes], bytes | None]  # a request in, raw answer bytes out (None: close without answering)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reply: Reply) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.connections += 1
        while head := self._read_head():
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            request = head + self.rfile.read(length)
            self.server.requests.append(request)
            answer = self.server.reply(request)
            if answer is None:
                return
            self.wfile.write(answer)

    def _read_head(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            lines.append(line)
        return b"".join(lines) + b"\r\n" if lines else b""


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Reply], tuple[_Server, dynamodb.DynamoDB]]]:
    servers: list[_Server] = []
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    def start(reply: Reply) -> tuple[_Server, dynamodb.DynamoDB]:
        server = _Server(reply)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        port = server.server_address[1]
        return server, dynamodb.DynamoDB(dynamodb.HttpTransport(f"http://127.0.0.1:{port}"))

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n{head}".encode() + (
        b"content-length: %d\r\n\r\n" % len(body) + body)


def test_calls_share_one_kept_connection_and_are_signed(serve: Any) -> None:
    server, client = serve(lambda request: _ok(b'{"Count":0,"Items":[]}'))
    assert client.query(TableName="t") == {"Count": 0, "Items": []}
    assert client.query(TableName="t") == {"Count": 0, "Items": []}
    assert server.connections == 1
    head = server.requests[0].split(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("post / http/1.1")
    assert f"host: 127.0.0.1:{server.server_address[1]}" in head
    assert "x-amz-target: dynamodb_20120810.query" in head
    assert "authorization: aws4-hmac-sha256 credential=akidexample/" in head
    assert "/eu-west-1/dynamodb/aws4_request" in head


def test_a_chunked_answer_is_read_whole(serve: Any) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
               b"5\r\n{\"Ite\r\n9;ext=1\r\nms\":[],\"C\r\n8\r\nount\":0}\r\n0\r\n\r\n")
    _, client = serve(lambda request: chunked)
    assert client.query(TableName="t") == {"Items": [], "Count": 0}


def test_a_kept_connection_dropped_while_idle_is_replaced_without_a_retry(serve: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    answered: list[int] = []

    def reply(request: bytes) -> bytes | None:
        if len(answered) == 1 and not getattr(reply, "dropped", False):
            reply.dropped = True  # type: ignore[attr-defined]
            return None  # as a server timing out an idle connection: closed, no answer
        answered.append(1)
        return _ok(b"{}")

    server, client = serve(reply)
    sleeps: list[float] = []
    monkeypatch.setattr("unigate.infra.dynamodb.time.sleep", sleeps.append)
    client.get_item(TableName="t")
    client.get_item(TableName="t")
    assert server.connections == 2
    assert len(answered) == 2
    assert sleeps == []  # a fresh connection at once, not a backed-off retry


def test_connection_close_is_honoured(serve: Any) -> None:
    server, client = serve(lambda request: _ok(b"{}", "connection: close"))
    client.get_item(TableName="t")
    client.get_item(TableName="t")
    assert server.connections == 2


def test_nothing_listening_is_a_busy_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unigate.infra.dynamodb.time.sleep", lambda _: None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = dynamodb.DynamoDB(dynamodb.HttpTransport(f"http://127.0.0.1:{port}"))
        with pytest.raises(dynamodb.ClientError, match="could not be reached") as raised:
            client.get_item(TableName="t")
    assert is_busy(raised.value)


def test_the_endpoint_follows_the_sdk_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert dynamodb.endpoint_url() == "https://dynamodb.ap-southeast-2.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    assert dynamodb.endpoint_url() == "http://localhost:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    assert dynamodb.endpoint_url() == "http://localhost:8000"


def test_a_timeout_on_a_kept_connection_is_a_backed_off_retry_not_a_silent_resend(
        serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def reply(request: bytes) -> bytes | None:
        if len(server.requests) == 2:  # DynamoDB may be working on it: resending at once could apply it twice
            threading.Event().wait(0.5)  # not time.sleep, which the test replaces
        return _ok(b"{}")

    monkeypatch.setattr("unigate.infra.dynamodb.READ_TIMEOUT", 0.2)
    server, client = serve(reply)
    sleeps: list[float] = []
    monkeypatch.setattr("unigate.infra.dynamodb.time.sleep", sleeps.append)
    client.get_item(TableName="t")
    assert client.get_item(TableName="t") == {}
    assert len(server.requests) == 3
    assert len(sleeps) == 1  # the second request's retry went through the client's backoff


def test_without_lambdas_variables_credentials_and_region_come_from_the_profile(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from unigate.infra import aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDPROFILE\n"
                                          "aws_secret_access_key = profile-secret\n")
    (tmp_path / "config").write_text("[default]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    aws.reset()
    try:
        assert dynamodb.credentials() == dynamodb.Credentials("AKIDPROFILE", "profile-secret", None)
        assert dynamodb.region() == "eu-north-1"
    finally:
        aws.reset()
