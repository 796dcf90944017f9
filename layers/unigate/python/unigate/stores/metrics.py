"""Endpoint measurements and health in DynamoDB (MetricsTable).

  endpoint (HASH), sk (RANGE)
  sk = "W#<window start, epoch seconds, 10 digits>#<shard>"   counters of one 5-minute window
  sk = "HEALTH"                                                consecutive failures and cooldown

Window items are sharded: each write picks one of SHARDS items at random, so a popular endpoint never
concentrates its writes on one hot item; readers sum the shards. Latencies are kept as histograms
(quarter-octave buckets, attributes t<b> for TTFT and i<b> for inter-token latency) so medians and
p90s come out of plain ADD counters. Windows expire through TTL after RETENTION_DAYS.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, query_all, unmarshal, values

WINDOW_SECONDS = 300
SHARDS = 8
RETENTION_DAYS = 7
MAX_BUCKET = 80
HEALTH_SK = "HEALTH"
OUTCOMES = ("ok", "rate_limited", "server_error", "timeout", "connect_error", "client_error")


def _table() -> str:
    return get_settings().metrics_table


def bucket(milliseconds: float) -> int:
    return min(MAX_BUCKET, max(0, int(4 * math.log2(1 + max(milliseconds, 0.0)))))


def bucket_value(index: int) -> float:
    """The geometric middle of a bucket, in milliseconds."""
    return float(2 ** ((index + 0.5) / 4) - 1)


def window_start(now: float) -> int:
    return int(now // WINDOW_SECONDS * WINDOW_SECONDS)


def window_of(row: dict[str, Any]) -> int:
    """A window item's start, from its sort key (W#<start>#<shard>). It is not also kept as an attribute:
    the key already carries it, and a copy would be one more action for every update of the item to set."""
    return int(row["sk"][2:12])


@dataclass(frozen=True)
class Measurement:
    endpoint: str
    outcome: str
    total_ms: float
    ttft_ms: float | None = None
    itl_ms: float | None = None
    output_tokens: int = 0
    at: float = field(default_factory=time.time)

    @property
    def tokens_per_second(self) -> float | None:
        generating_ms = self.total_ms - (self.ttft_ms or 0.0)
        if self.outcome != "ok" or self.output_tokens < 2 or generating_ms <= 0:
            return None
        return self.output_tokens / (generating_ms / 1000)


def window_update(measurement: Measurement) -> dict[str, Any]:
    """An `Update` item for TransactWriteItems: rides in the settle transaction, so recording a
    measurement costs no extra DynamoDB call. It counts only what routing reads: the outcome (their sum is
    the number of samples), the latency buckets and the throughput: DynamoDB charges an update for the
    whole item's size, so a counter nothing reads would make every later write of the window dearer. The
    latency goes to CloudWatch (unigate.catalog.metrics.emit)."""
    adds = {measurement.outcome: 1}
    if measurement.ttft_ms is not None:
        adds[f"t{bucket(measurement.ttft_ms)}"] = 1
    if measurement.itl_ms is not None:
        adds[f"i{bucket(measurement.itl_ms)}"] = 1
    tps = measurement.tokens_per_second
    if tps is not None:
        adds["tps_n"] = 1
        adds["tps_milli"] = round(tps * 1000)
    start = window_start(measurement.at)
    names = {f"#a{i}": name for i, name in enumerate(adds)}
    expression = "ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(adds))) + " SET expires_at = :exp"
    return {
        "Update": {
            "TableName": _table(),
            "Key": {"endpoint": {"S": measurement.endpoint},
                    "sk": {"S": f"W#{start:010d}#{random.randrange(SHARDS)}"}},  # noqa: S311 - sharding, not crypto
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                **{f":a{i}": {"N": str(v)} for i, v in enumerate(adds.values())},
                ":exp": {"N": str(start + RETENTION_DAYS * 86400)},
            },
        }
    }


def record(measurement: Measurement) -> None:
    """Writes a measurement on its own (for calls that settle no hold, such as probes)."""
    update = window_update(measurement)["Update"]
    ddb().update_item(**update)


def windows(endpoint: str, since: float) -> list[dict[str, Any]]:
    return query_all(
        TableName=_table(),
        KeyConditionExpression="endpoint = :e AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues=values(e=endpoint, lo=f"W#{window_start(since):010d}", hi="W#9999999999#~"),
    )


@dataclass(frozen=True)
class Health:
    failures: int = 0
    cooldown_until: float = 0.0

    def cooling(self, now: float) -> bool:
        return now < self.cooldown_until


def health(endpoints: list[str]) -> dict[str, Health]:
    if not endpoints:
        return {}
    found: dict[str, Health] = {}
    keys = [{"endpoint": {"S": e}, "sk": {"S": HEALTH_SK}} for e in dict.fromkeys(endpoints)]
    for offset in range(0, len(keys), 100):
        request = {_table(): {"Keys": keys[offset: offset + 100]}}
        while request:
            out = ddb().batch_get_item(RequestItems=request)
            for item in out.get("Responses", {}).get(_table(), []):
                row = unmarshal(item)
                until = int(row.get("cooldown_until_ms", 0)) / 1000
                found[row["endpoint"]] = Health(int(row.get("failures", 0)), until)
            request = out.get("UnprocessedKeys") or {}
    return {e: found.get(e, Health()) for e in endpoints}


def add_failure(endpoint: str, *, threshold: int, cooldown_seconds: float, now: float) -> Health:
    """Counts one more failure in a row; the threshold-th starts a cooldown."""
    out = ddb().update_item(
        TableName=_table(),
        Key={"endpoint": {"S": endpoint}, "sk": {"S": HEALTH_SK}},
        UpdateExpression="ADD failures :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    row = unmarshal(out["Attributes"])
    failures = int(row.get("failures", 0))
    # Milliseconds: stored numbers are integers, and whole seconds would stretch a cooldown by up to one.
    cooldown_until = int(row.get("cooldown_until_ms", 0)) / 1000
    if failures >= threshold and cooldown_until <= now:
        cooldown_until = now + cooldown_seconds
        ddb().update_item(
            TableName=_table(),
            Key={"endpoint": {"S": endpoint}, "sk": {"S": HEALTH_SK}},
            # The count is not reset: after the cooldown, one probe goes through, and if it fails too the
            # endpoint is cooled down again at once (a half-open circuit). A success resets the count.
            UpdateExpression="SET cooldown_until_ms = :until",
            ExpressionAttributeValues={":until": {"N": str(math.ceil(cooldown_until * 1000))}},
        )
    return Health(failures, cooldown_until)


def clear_failures(endpoint: str) -> None:
    ddb().update_item(
        TableName=_table(),
        Key={"endpoint": {"S": endpoint}, "sk": {"S": HEALTH_SK}},
        UpdateExpression="SET failures = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
