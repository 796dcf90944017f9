"""The address rules of custom endpoint URLs (no DNS involved: literal addresses and the resolver stubbed)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from unigate.infra import ssrf


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "169.254.170.2",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.8",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "2002:7f00:1::", "64:ff9b::a9fe:a9fe", "ff02::1", "168.63.129.16", "100.100.100.200",
])
def test_blocked_addresses(address: str) -> None:
    assert ssrf.blocked(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert not ssrf.blocked(address)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://api.example.com/v1", "must use https"),
    ("ftp://api.example.com/v1", "must use https"),
    ("https://user:secret@api.example.com/v1", "must not carry credentials"),
    ("https:///v1", "has no host"),
    ("https://2130706433/v1", "not a canonical address"),
    ("https://0x7f000001/v1", "not a canonical address"),
    ("https://0x7f.0.0.1/v1", "not a canonical address"),
    ("https://0177.0.0.1/v1", "not a canonical address"),
    ("https://127.1/v1", "not a canonical address"),
    ("https://[::ffff:127.0.0.1]/v1", "resolves to ::ffff:127.0.0.1"),
    ("https://[::1]:8443/v1", "resolves to ::1"),
    ("https://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254"),
    ("https://100.64.0.7/v1", "resolves to 100.64.0.7"),
    ("https://localhost/v1", "resolves to 127.0.0.1"),
    ("https://api.example.com:99999/v1", "not a valid URL"),
])
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl) as refused:
        asyncio.run(ssrf.pin(url))
    assert reason in refused.value.message
    assert refused.value.status == 400


def resolving(*addresses: str) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def test_every_resolved_address_must_be_public_and_the_connection_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "_resolve", resolving("93.184.216.34", "10.0.0.5"))
    with pytest.raises(ssrf.UnsafeUrl, match=r"10\.0\.0\.5"):
        asyncio.run(ssrf.pin("https://api.example.com/v1"))
    monkeypatch.setattr(ssrf, "_resolve", resolving("2606:4700::1", "93.184.216.34"))
    assert asyncio.run(ssrf.pin("https://api.example.com:8443/v1/")) == ssrf.Pinned(
        "https://[2606:4700::1]:8443/v1", "api.example.com:8443", "api.example.com")


def test_names_are_resolved_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow DNS answer must hold up its own request only: the lookup runs on a worker thread, not on the
    thread that runs the event loop (and every other request of the process)."""
    threads: list[threading.Thread] = []
    real = socket.getaddrinfo

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real("127.0.0.1", *args[1:], **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)

    async def main() -> threading.Thread:
        with pytest.raises(ssrf.UnsafeUrl, match=r"resolves to 127\.0\.0\.1"):  # what matters is where it was looked up
            await ssrf.pin("https://api.example.com/v1")
        return threading.current_thread()

    loop_thread = asyncio.run(main())
    assert threads
    assert all(thread is not loop_thread for thread in threads)
