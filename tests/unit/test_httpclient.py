"""The upstream HTTP client against a scripted HTTP/1.1 server on 127.0.0.1 (raw asyncio streams, so every
byte of framing is under the test's control): framing, line splitting, keep-alive, failures, TLS names."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from unigate.infra import httpclient

Script = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    script: Script
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    server_names: list[str | None] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                await self.script(request, writer)
                await writer.drain()
                if writer.is_closing():
                    return
        finally:
            writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = server.sockets[0].getsockname()[1]
        return server


def serve(script: Script, test: Callable[[Server, httpclient.Client], Awaitable[None]]) -> Server:
    recorded = Server(script)

    async def main() -> None:
        server = await recorded.start()
        client = httpclient.Client()
        try:
            await test(recorded, client)
        finally:
            await client.aclose()
            server.close()

    asyncio.run(main())
    return recorded


def answer(body: bytes, *headers: str, status: str = "200 OK") -> Script:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status}", *headers]
        if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return script


def test_a_json_answer_and_the_connection_kept_for_the_next_call() -> None:
    async def test(server: Server, client: httpclient.Client) -> None:
        for n in range(3):
            response = await client.request("POST", f"http://127.0.0.1:{server.port}/v1/chat?x=1",
                                            content=b'{"n":%d}' % n, headers={"Authorization": "Bearer k"})
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert await response.aread() == b'{"ok":true}'

    server = serve(answer(b'{"ok":true}', "Content-Type: application/json"), test)
    assert server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /v1/chat?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first
    assert "Authorization: Bearer k\r\n" in first
    assert first.endswith('Content-Length: 7\r\n\r\n{"n":0}')


def test_chunked_lines_split_only_at_http_line_ends() -> None:
    # CR LF split across chunks, a bare CR, a bare LF, U+2028 inside a line (str.splitlines would break
    # there), a multi-byte character split across chunks, chunk extensions and trailers.
    pieces = [b"data: one\r", b"\n\r\n", "data: two\u2028half".encode(),
              b"\rdata: \xc3", b"\xa9t\xc3\xa9\n\n", b"tail"]

    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")

    lines: list[str] = []

    async def test(server: Server, client: httpclient.Client) -> None:
        response = await client.request("POST", f"http://127.0.0.1:{server.port}/s")
        lines.extend([line async for line in response.aiter_lines()])
        again = await client.request("POST", f"http://127.0.0.1:{server.port}/s")
        assert [line async for line in again.aiter_lines()] == lines

    server = serve(script, test)
    assert lines == ["data: one", "", "data: two\u2028half", "data: été", "", "tail"]
    assert server.connections == 1  # the chunked answer ended cleanly: the connection was reused


def _event_stream(end_after: float, *, extra: bytes = b"") -> Script:
    """[DONE], then (after `end_after` seconds, and `extra` bytes) the chunked body's empty last chunk."""
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for event in (b"data: one\n\n", b"data: [DONE]\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
        await asyncio.sleep(end_after)
        if extra:
            writer.write(b"%x\r\n%s\r\n" % (len(extra), extra))
        writer.write(b"0\r\n\r\n")

    return script


async def _read_to_done(client: httpclient.Client, port: int, **finish: Any) -> None:
    response = await client.request("POST", f"http://127.0.0.1:{port}/stream")
    async for line in response.aiter_lines():  # left at [DONE], as the providers' readers leave it
        if line == "data: [DONE]":
            break
    await response.finish(**finish)


def test_finishing_a_stream_read_to_its_last_event_keeps_the_connection() -> None:
    async def test(server: Server, client: httpclient.Client) -> None:
        for _ in range(3):
            # The body's end comes after the reader has stopped; the lines reader it left behind is
            # collected meanwhile, and must not drop the connection finish is reading.
            await _read_to_done(client, server.port)

    assert serve(_event_stream(0.01), test).connections == 1


@pytest.mark.parametrize(("end_after", "extra", "finish"), [
    (0.5, b"", {"within": 0.05}),  # the end does not come in time
    (0.0, b"x" * 100, {"limit": 10}),  # more body than a stream's end
])
def test_finishing_gives_up_on_a_body_that_does_not_end_and_drops_the_connection(
        end_after: float, extra: bytes, finish: dict[str, Any]) -> None:
    async def test(server: Server, client: httpclient.Client) -> None:
        for _ in range(2):
            await _read_to_done(client, server.port, **finish)

    assert serve(_event_stream(end_after, extra=extra), test).connections == 2


def test_an_answer_delimited_by_close_is_read_to_the_end_and_not_reused() -> None:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        writer.close()

    async def test(server: Server, client: httpclient.Client) -> None:
        for _ in range(2):
            response = await client.request("GET", f"http://127.0.0.1:{server.port}/")
            assert await response.aread() == b"until the end"

    assert serve(script, test).connections == 2


def test_gzip_answers_are_decoded() -> None:
    async def test(server: Server, client: httpclient.Client) -> None:
        response = await client.request("POST", f"http://127.0.0.1:{server.port}/")
        assert await response.aread() == b'{"big":"' + b"x" * 5000 + b'"}'

    body = gzip.compress(b'{"big":"' + b"x" * 5000 + b'"}')
    serve(answer(body, "Content-Encoding: gzip"), test)


def test_an_answer_cut_short_is_a_protocol_error_and_the_connection_is_dropped() -> None:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        writer.close()

    async def test(server: Server, client: httpclient.Client) -> None:
        response = await client.request("POST", f"http://127.0.0.1:{server.port}/")
        with pytest.raises(httpclient.ProtocolError):
            await response.aread()

    serve(script, test)


def test_a_silent_upstream_times_out() -> None:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)

    async def test(server: Server, client: httpclient.Client) -> None:
        with pytest.raises(httpclient.Timeout):
            await client.request("POST", f"http://127.0.0.1:{server.port}/", timeout=0.1)

    serve(script, test)


def test_a_stream_that_stops_sending_times_out() -> None:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async def test(server: Server, client: httpclient.Client) -> None:
        response = await client.request("POST", f"http://127.0.0.1:{server.port}/", timeout=0.2)
        chunks = response.aiter_bytes()
        assert await chunks.__anext__() == b"first"
        with pytest.raises(httpclient.Timeout):
            await chunks.__anext__()

    serve(script, test)


def test_nothing_listening_is_a_connect_error() -> None:
    async def main() -> None:
        client = httpclient.Client()
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(httpclient.ConnectError):
            await client.request("POST", f"http://127.0.0.1:{port}/")

    asyncio.run(main())


def test_a_header_with_a_line_break_is_never_sent() -> None:
    async def test(server: Server, client: httpclient.Client) -> None:
        with pytest.raises(httpclient.ConnectError):
            await client.request("POST", f"http://127.0.0.1:{server.port}/",
                                 headers={"Authorization": "Bearer k\r\nX-Injected: 1"})

    assert serve(answer(b"{}"), test).requests == []


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(b"{}")(request, writer)
        await writer.drain()
        writer.close()  # after answering, without "Connection: close"

    async def test(server: Server, client: httpclient.Client) -> None:
        for _ in range(3):
            response = await client.request("POST", f"http://127.0.0.1:{server.port}/")
            assert await response.aread() == b"{}"
            await asyncio.sleep(0.05)

    assert serve(script, test).connections == 3


def test_interim_answers_are_skipped_and_an_unread_body_drops_the_connection() -> None:
    async def script(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await answer(b"x" * 10, status="503 Service Unavailable")(request, writer)

    async def test(server: Server, client: httpclient.Client) -> None:
        for _ in range(2):
            response = await client.request("POST", f"http://127.0.0.1:{server.port}/")
            assert response.status_code == 503
            await response.aclose()  # the body was never read: the connection cannot carry another answer

    assert serve(script, test).connections == 2


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_to_a_pinned_address_verifies_the_host_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Custom endpoints connect to the address they vetted: the URL names 127.0.0.1, and the certificate
    must still be valid for the host name, which is also what the server is told (SNI)."""
    cert, key = _certificate(tmp_path, "models.example.test")
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(httpclient, "_tls_context", lambda: trusting)
    recorded = Server(answer(b'{"secure":true}'))
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert, key)
    serving.sni_callback = lambda sock, name, ctx: recorded.server_names.append(name)  # type: ignore[assignment,func-returns-value]

    async def main() -> Any:
        server = await recorded.start(serving)
        client = httpclient.Client()
        try:
            url = f"https://127.0.0.1:{recorded.port}/v1"
            response = await client.request("POST", url, server_name="models.example.test",
                                            headers={"Host": "models.example.test"})
            assert await response.aread() == b'{"secure":true}'
            with pytest.raises(httpclient.ConnectError):  # not the certificate's name
                await client.request("POST", url, server_name="other.example.test")
            with pytest.raises(httpclient.ConnectError):  # the address itself is not a name on it either
                await client.request("POST", url)
        finally:
            await client.aclose()
            server.close()

    asyncio.run(main())
    assert recorded.server_names[0] == "models.example.test"
    assert "Host: models.example.test\r\n" in recorded.requests[0].decode()
    assert len(recorded.requests) == 1
