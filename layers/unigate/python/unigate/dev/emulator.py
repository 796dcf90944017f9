"""The embedded AWS: moto's DynamoDB and Secrets Manager, in this process.

Two fixes make moto faithful enough for money, and one keeps it fast:
- DynamoDB applies each write request (PutItem, UpdateItem, TransactWriteItems...) atomically.
  moto checks conditions and then applies them without a lock, so two threads can both pass
  `balance >= :amount`. `make_writes_atomic` serialises moto's write operations, which is exactly
  the guarantee DynamoDB gives; without it, concurrency tests would test moto, not unigate.
- moto makes a transaction all-or-nothing by deep-copying every table it touches before applying it,
  so each transaction costs time in proportion to the whole ledger (82 ms per request after a few
  hundred requests). With writes serialised, it is enough to remember the few items a transaction
  touches and put them back if it is cancelled; the table copies become no-ops.
- moto parses every condition expression three times per transaction item and every update expression
  twice, and again on every request, though unigate sends the same few expressions each time.
  `make_writes_atomic` memoises both parsers (the parsed trees are not mutated: moto's validator works
  on a deep copy).
- A moto server on a side port shares this process's in-memory backends, so the `unigate` CLI in
  another process can manage the same store the local API serves.
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


class _TableCopiesSkipped:
    """Stands in for the `copy` module inside moto's DynamoDB backend: tables are not deep-copied (the
    journal in _journalled restores what a cancelled transaction touched); everything else is."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self.table_type) else copy.deepcopy(value, memo)

    def copy(self, value: Any) -> Any:
        return copy.copy(value)


def _journalled(original: Any) -> Any:
    @functools.wraps(original)
    def transact(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        journal = []
        for entry in transact_items:
            (_, operation), = entry.items()
            name = operation.get("TableName")
            if name not in self.tables:
                continue  # moto reports the missing table itself
            table = self.tables[name]
            key = operation.get("Key") or {
                attr: operation.get("Item", {}).get(attr) for attr in (table.hash_key_attr, table.range_key_attr)
                if attr
            }
            if any(value is None for value in key.values()):
                continue
            current = self.get_item(name, key)
            journal.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            return original(self, transact_items)
        except BaseException:
            for name, key, before in reversed(journal):
                if before is None:
                    self.tables[name].delete_item(*_key_values(self.tables[name], key))
                else:
                    self.put_item(name, before)
            raise

    return transact


def _key_values(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _memoise_parsers() -> None:
    import json

    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import expressions

    parser: Any = expressions.UpdateExpressionParser  # type: ignore[attr-defined]
    make: Any = functools.lru_cache(maxsize=512)(parser.make.__func__)
    parser.make = classmethod(make)

    parse = ConditionExpressionParser.parse
    parsed: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    @functools.wraps(parse)
    def parse_once(self: Any) -> Any:
        key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True),
               json.dumps(self.expression_attribute_values, sort_keys=True))
        if key not in parsed:
            op = parse(self)
            if len(parsed) >= 4096:
                parsed.clear()
            parsed[key] = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
        op, names, values = parsed[key]
        self.expr_attr_names_found, self.expr_attr_values_found = list(names), list(values)
        return op

    ConditionExpressionParser.parse = parse_once  # type: ignore[method-assign]


def make_writes_atomic() -> None:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, "_unigate_atomic", False):
        return
    _memoise_parsers()
    DynamoDBBackend.transact_write_items = _journalled(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    dynamodb_models.copy = _TableCopiesSkipped(Table)  # type: ignore[assignment]

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
