"""The local server's store on disk, so that what `make dev` holds survives a restart.

Every write the embedded AWS accepts (DynamoDB's item writes, Secrets Manager's secret writes) is appended
to a journal under the state directory before its answer goes back, and the journal is replayed at the next
start: accounts, keys, balances, the ledger, deployments, custom keys and endpoints, metrics and the query log
come back as they were, also after a killed server (a line cut short by the kill is the one write that never
answered, and is skipped). After the replay the store is written anew as one put per item and one secret per
secret, so the journal holds the data rather than its whole history.

The journal holds what the store holds: hashes of unigate keys, never their plaintext, and the provider keys
that were added to the embedded Secrets Manager; so the file is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WRITES = {
    "dynamodb": frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}),
    "secretsmanager": frozenset({"CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret",
                                 "RestoreSecret"}),
}


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: Any = None

    def record(self, service: str, action: str, body: str | bytes) -> None:
        """Journals a write that was accepted; `body` is its request as sent (both services speak JSON, whose
        request body is the operation's parameters as boto3 takes them)."""
        if self._file is None or action not in WRITES.get(service, ()):
            return
        line = json.dumps({"service": service, "action": action, "params": json.loads(body)})
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # the last line of a killed server

    def open(self, snapshot: list[dict[str, Any]]) -> None:
        """Replaces the journal with `snapshot` (written to a side file, then renamed over it) and appends
        every write from now on."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        side = self.path.with_suffix(".new")
        descriptor = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            for entry in snapshot:
                out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(side, self.path)
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# The journal the embedded AWS writes to: at most one, the local server's (a list, so it is set in place).
_journals: list[Journal] = []


def record(service: str, action: str, body: str | bytes) -> None:
    for journal in _journals:
        journal.record(service, action, body)


def replay(journal: Journal, clients: dict[str, Any]) -> int:
    """Applies the journal's writes through boto3 `clients` (by service); returns how many were applied."""
    from botocore import xform_name
    from botocore.exceptions import ClientError

    applied = 0
    for entry in journal.entries():
        client = clients.get(entry.get("service", ""))
        if client is None:
            continue
        try:
            getattr(client, xform_name(entry["action"]))(**entry["params"])
        except ClientError:
            continue  # refused now as it was then (a condition replayed against the same state)
        applied += 1
    return applied


def snapshot(clients: dict[str, Any], tables: list[str]) -> list[dict[str, Any]]:
    """The store as one put per item and one secret per secret."""
    entries: list[dict[str, Any]] = []
    dynamodb = clients["dynamodb"]
    for table in tables:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            entries += [{"service": "dynamodb", "action": "PutItem", "params": {"TableName": table, "Item": item}}
                        for item in page.get("Items", [])]
    secrets = clients["secretsmanager"]
    for page in secrets.get_paginator("list_secrets").paginate():
        for listed in page.get("SecretList", []):
            value = secrets.get_secret_value(SecretId=listed["ARN"])
            if "SecretString" in value:  # unigate writes no binary secrets
                entries.append({"service": "secretsmanager", "action": "CreateSecret",
                                "params": {"Name": listed["Name"], "SecretString": value["SecretString"]}})
    return entries


def restore_and_keep(path: Path, clients: dict[str, Any], tables: list[str]) -> int:
    """Replays the journal at `path` (if any), compacts it, and journals every later write there."""
    stop()
    journal = Journal(path)
    applied = replay(journal, clients)
    journal.open(snapshot(clients, tables))
    _journals.append(journal)
    return applied


def stop() -> None:
    while _journals:
        _journals.pop().close()
