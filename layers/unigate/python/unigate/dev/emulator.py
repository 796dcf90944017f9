"""The embedded AWS: moto's DynamoDB and Secrets Manager, in this process.

Two fixes make moto faithful enough for money:
- DynamoDB applies each write request (PutItem, UpdateItem, TransactWriteItems...) atomically.
  moto checks conditions and then applies them without a lock, so two threads can both pass
  `balance >= :amount`. `make_writes_atomic` serialises moto's write operations, which is exactly
  the guarantee DynamoDB gives; without it, concurrency tests would test moto, not unigate.
- A moto server on a side port shares this process's in-memory backends, so the `unigate` CLI in
  another process can manage the same store the local API serves.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

_WRITE_METHODS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
)
_lock = threading.RLock()


def make_writes_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_unigate_atomic", False):
        return

    for name in _WRITE_METHODS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def serialised(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, serialised)
    DynamoDBBackend._unigate_atomic = True  # type: ignore[attr-defined]


def use_fake_credentials() -> None:
    for name, value in FAKE_CREDENTIALS.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Embedded:
    mock: Any
    server: Any
    endpoint_url: str

    def stop(self) -> None:
        self.server.stop()
        self.mock.stop()


def start_embedded() -> Embedded:
    """Starts moto in-process (for the handlers) and as a server on a free port (for the CLI)."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    use_fake_credentials()
    make_writes_atomic()
    # The side server's per-request access log would drown the local gateway's own output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    mock = mock_aws()
    mock.start()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return Embedded(mock=mock, server=server, endpoint_url=f"http://127.0.0.1:{port}")
