"""The embedded AWS: moto's DynamoDB and Secrets Manager, in this process (moto's `mock_aws`: every boto3
client the handlers create is answered by moto in this process) and, for the `unigate` CLI in another
process, as a moto server on a side port that shares the same in-memory backends.

moto as it comes, but for two things money needs, each as small as it can be (moto is pinned exactly in
pyproject.toml, since both touch moto's own classes):

- Atomic requests (`_one_request_at_a_time`, a wrapper of `DynamoHandler.call_action`, the one method
  every DynamoDB request goes through, in-process or over HTTP). moto checks a condition and then applies
  the write without a lock, so two threads can both pass `balance >= :amount`, and a transaction applies
  its items one by one where another request can see half of it. DynamoDB makes every write request
  atomic and isolates transactions from reads; serialising moto's DynamoDB requests gives exactly that
  (without it, the concurrency tests would test moto, not unigate).
- A flat cost per transaction (`_journalled`, a wrapper of `DynamoDBBackend.transact_write_items`, and
  `_TablesNotCopied` in place of moto's `copy` module in its DynamoDB models). moto makes a transaction
  all-or-nothing by deep-copying every table it touches before applying it, so each transaction costs
  time in proportion to the whole table; the ledger gains two items per paid request, and the local
  server slowed down with every request it served. With requests serialised, it is enough to copy the
  few items a transaction touches and put them back if it is cancelled.

And one call of moto's own: its lists of every model object made, for its server's dashboard, are emptied
every thousand requests (`reset_model_data`, what moto's reset does), so that the local server's memory
grows with its data only.

The same wrappers hand each accepted write (of DynamoDB and of Secrets Manager, whose `call_action` is wrapped
for this alone) to the local server's on-disk journal, `unigate_tools.persistence`, when it keeps one.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

from unigate_tools import persistence

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

_lock = threading.RLock()
# Every item and every copy of one, deleted or not, is on those lists: about 7 KB a chat request.
_UNTRACK_EVERY = 1000
_requests = [0]


def _one_request_at_a_time(call_action: Any) -> Any:
    from moto.core.model_instances import reset_model_data

    @functools.wraps(call_action)
    def serialised(self: Any) -> Any:
        with _lock:
            _requests[0] += 1
            if _requests[0] % _UNTRACK_EVERY == 0:
                reset_model_data()
            return _journalled_request("dynamodb", call_action, self)

    return serialised


def _journalled_request(service: str, call_action: Any, handler: Any) -> Any:
    """Runs one request and hands an accepted write to the on-disk journal (unigate_tools.persistence)."""
    body = handler.body  # the request as sent: moto's DynamoDB handler replaces it with parsed parameters
    status, headers, response = call_action(handler)
    if int(status) < 300:
        action = str(handler.headers.get("X-Amz-Target", "")).rpartition(".")[2]
        persistence.record(service, action, body)
    return status, headers, response


def _secrets_journalled(call_action: Any) -> Any:
    @functools.wraps(call_action)
    def journalled(self: Any) -> Any:
        return _journalled_request("secretsmanager", call_action, self)

    return journalled


class _TablesNotCopied:
    """moto's DynamoDB models' `copy` module, except that a table is not deep-copied (the journal restores
    what a cancelled transaction touched); every other copy is made as before."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self.table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _journalled(transact_write_items: Any) -> Any:
    @functools.wraps(transact_write_items)
    def transact(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        # The items as the transaction finds them, copied (an update changes its item in place).
        journal = []
        for entry in transact_items:
            operation = next(iter(entry.values()), None)
            if not isinstance(operation, dict) or operation.get("TableName") not in self.tables:
                continue  # moto reports a malformed item or a missing table itself
            name = operation["TableName"]
            table = self.tables[name]
            key = operation.get("Key") or {
                attr: operation.get("Item", {}).get(attr) for attr in (table.hash_key_attr, table.range_key_attr)
                if attr
            }
            if any(value is None for value in key.values()):
                continue
            journal.append((table, key, copy.deepcopy(self.get_item(name, key))))
        try:
            return transact_write_items(self, transact_items)
        except BaseException:
            for table, key, before in reversed(journal):
                _restore(table, key, before)
            raise

    return transact


def _restore(table: Any, key: dict[str, Any], before: Any) -> None:
    """Puts an item back as a cancelled transaction found it, or removes the item it made."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if before is None:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        table.delete_item(hash_value, range_value)
    elif before.range_key is not None:
        table.items[before.hash_key][before.range_key] = before
    else:
        table.items[before.hash_key] = before


def make_writes_atomic() -> None:
    """Serialises moto's DynamoDB requests and journals its transactions (see the module's docstring); hands
    accepted writes to the on-disk journal when the local server keeps one."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.secretsmanager.responses import SecretsManagerResponse

    if getattr(DynamoDBBackend, "_unigate_atomic", False):
        return
    DynamoHandler.call_action = _one_request_at_a_time(DynamoHandler.call_action)  # type: ignore[method-assign]
    SecretsManagerResponse.call_action = _secrets_journalled(  # type: ignore[method-assign]
        SecretsManagerResponse.call_action)
    DynamoDBBackend.transact_write_items = _journalled(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items)
    dynamodb_models.copy = _TablesNotCopied(Table)  # type: ignore[assignment]
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


def start_server() -> tuple[Any, str]:
    """A moto server on a free port of 127.0.0.1 (sharing this process's backends): (server, its URL)."""
    from moto.server import ThreadedMotoServer

    # The server's per-request access log would drown the local gateway's own output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def start_embedded() -> Embedded:
    """Starts moto in-process (for the handlers) and as a server on a free port (for the CLI)."""
    from moto import mock_aws

    use_fake_credentials()
    make_writes_atomic()
    mock = mock_aws()
    mock.start()
    server, url = start_server()
    return Embedded(mock=mock, server=server, endpoint_url=url)
