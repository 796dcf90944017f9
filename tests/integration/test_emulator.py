"""The embedded emulator keeps moto's answers: the same operations, run on moto as it comes and with the
emulator's serialised requests and journalled transactions (cancelled ones put back what they touched, from
a copy of those items rather than of the whole table), give the same items and the same errors, each in a
fresh process. Concurrent conditional writes are atomic. And the stores move money the same way through a
moto server over HTTP (the CLI's path, its requests serialised too) as in process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import ROOT, template
from unigate_tools.emulator import FAKE_CREDENTIALS, free_port, make_writes_atomic

SCRIPT = r'''
import base64, json, sys
from unigate_tools import emulator
emulator.use_fake_credentials()
from moto import mock_aws
from botocore.exceptions import ClientError
from unigate.infra import aws

mock_aws().start()
if sys.argv[1] == "emulated":
    emulator.make_writes_atomic()
ddb = aws.client("dynamodb")
ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                           {"AttributeName": "sk", "KeyType": "RANGE"}],
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                       {"AttributeName": "sk", "AttributeType": "S"}],
                 BillingMode="PAY_PER_REQUEST")
KEY = {"pk": {"S": "a"}, "sk": {"S": "1"}}
ddb.put_item(TableName="t", Item={**KEY, "n": {"N": "5"}, "l": {"L": [{"S": "x"}]}, "m": {"M": {"k": {"N": "1"}}},
                                  "ss": {"SS": ["p"]}, "s": {"S": "text"}})
UPDATES = [
    ("SET n = n + :v", {}, {":v": {"N": "2"}}),
    ("SET n = n - :v, s = :s", {}, {":v": {"N": "1"}, ":s": {"S": "other"}}),
    ("ADD #c :one, #d :two SET expires_at = :e", {"#c": "c", "#d": "d"},
     {":one": {"N": "1"}, ":two": {"N": "2"}, ":e": {"N": "9"}}),
    ("SET l = list_append(l, :more)", {}, {":more": {"L": [{"S": "y"}]}}),
    ("SET fresh = if_not_exists(fresh, :zero) + :one", {}, {":zero": {"N": "0"}, ":one": {"N": "1"}}),
    ("SET m.k = m.k + :one, m.j = :one", {}, {":one": {"N": "1"}}),
    ("ADD n :v", {}, {":v": {"N": "-3"}}),  # how a hold takes from a balance
    ("ADD ss :more", {}, {":more": {"SS": ["q"]}}),
    ("DELETE ss :gone", {}, {":gone": {"SS": ["p"]}}),
    ("REMOVE l[0], s", {}, {}),
    ("SET #st = :st REMOVE fresh", {"#st": "status"}, {":st": {"S": "active"}}),
    # errors moto raises while validating
    ("SET pk = :v", {}, {":v": {"S": "b"}}),
    ("SET n = :a, n = :b", {}, {":a": {"N": "1"}, ":b": {"N": "2"}}),
    ("SET n = missing + :v", {}, {":v": {"N": "1"}}),
    ("SET n = s + :v", {}, {":v": {"N": "1"}}),
    ("ADD s :v", {}, {":v": {"N": "1"}}),
    ("SET n = :undefined", {}, {}),
    ("ADD a :v ADD b :v", {}, {":v": {"N": "1"}}),
    ("SET status = :v", {}, {":v": {"S": "x"}}),  # a reserved word
]
out = []
def answer(operation, **params):
    try:
        found = getattr(ddb, operation)(**params)
    except ClientError as exc:
        found = exc.response
    found.pop("ResponseMetadata", None)  # request ids and dates
    out.append(found)
for expression, names, values in UPDATES:
    args = {"TableName": "t", "Key": KEY, "UpdateExpression": expression, "ReturnValues": "ALL_NEW"}
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = values
    answer("update_item", **args)
bump = {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET n = n + :v",
                   "ConditionExpression": "n >= :min", "ExpressionAttributeValues": {":v": {"N": "1"},
                                                                                     ":min": {"N": "0"}}}}
fresh = {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                 "ConditionExpression": "attribute_not_exists(sk)"}}
answer("transact_write_items", TransactItems=[bump, fresh])
answer("transact_write_items", TransactItems=[bump, fresh])  # the put's condition fails: the bump is not applied
answer("transact_write_items", TransactItems=[{"Delete": {"TableName": "t", "Key": {"pk": {"S": "c"}, "sk": {"S": "1"}},
                                                        "ConditionExpression": "attribute_exists(sk)"}}])
answer("transact_write_items", TransactItems=[{"ConditionCheck": {"TableName": "t", "Key": KEY,
                                                                "ConditionExpression": "n > :big",
                                                                "ExpressionAttributeValues": {":big": {"N": "99"}},
                                                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
# cancelled after a put replaced one item and a delete removed another: both come back as they were
answer("transact_write_items", TransactItems=[
    {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}, "v": {"S": "replaced"}}}},
    {"Delete": {"TableName": "t", "Key": KEY}},
    {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)"}}])
answer("get_item", TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "1"}})
answer("get_item", TableName="t", Key=KEY)
# cancelled after an update changed a map's member and a list's in place: both come back as they were
answer("transact_write_items", TransactItems=[
    {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET m.k = :v, l[0] = :v",
                "ExpressionAttributeValues": {":v": {"S": "changed"}}}},
    {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)"}}])
answer("get_item", TableName="t", Key=KEY)
answer("update_item", TableName="t", Key=KEY, UpdateExpression="SET n = n + :v", ExpressionAttributeValues={
    ":v": {"N": "1"}}, ReturnValues="ALL_NEW")  # the item put back is a live one
answer("put_item", TableName="t", Item={**KEY, "n": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)",
       ReturnValuesOnConditionCheckFailure="ALL_OLD")
answer("put_item", TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "2"}, "v": {"S": "null, but a string"}},
       ReturnValues="ALL_OLD")
answer("put_item", TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "3"}, "b": {"B": b"\0x"}})
# a transaction cancelled after it put a new item: the item is gone again
answer("transact_write_items", TransactItems=[
    {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
    {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)"}}])
answer("get_item", TableName="t", Key={"pk": {"S": "new"}, "sk": {"S": "1"}})
answer("get_item", TableName="t", Key=KEY)
answer("get_item", TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "3"}})
answer("get_item", TableName="t", Key={"pk": {"S": "nobody"}, "sk": {"S": "1"}})
answer("get_item", TableName="missing", Key=KEY)
answer("query", TableName="t", KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
       FilterExpression="attribute_exists(n)", ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"S": ""}},
       ScanIndexForward=False, Limit=5)
answer("query", TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
       Limit=1, ExclusiveStartKey=KEY)
answer("batch_get_item", RequestItems={"t": {"Keys": [KEY, {"pk": {"S": "a"}, "sk": {"S": "2"}}]}})
answer("delete_item", TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "2"}}, ReturnValues="ALL_OLD")
answer("delete_item", TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "2"}},
       ConditionExpression="attribute_exists(pk)")
answer("get_item", TableName="t", Key=KEY)
print(json.dumps({"answers": out}, sort_keys=True, default=lambda value: base64.b64encode(value).decode()))
'''


def _run(mode: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_emulated_store_answers_exactly_as_plain_moto() -> None:
    plain, emulated = _run("plain"), _run("emulated")
    assert emulated["answers"] == plain["answers"]
    answers = plain["answers"]
    errors = [answer for answer in answers if "Error" in answer]
    assert len(errors) >= 12  # the error cases really errored, so they were compared too
    cancelled = [answer["CancellationReasons"] for answer in errors if "CancellationReasons" in answer]
    assert [[reason["Code"] for reason in reasons] for reasons in cancelled] == [
        ["None", "ConditionalCheckFailed"], ["ConditionalCheckFailed"], ["ConditionalCheckFailed"],
        ["None", "None", "ConditionalCheckFailed"], ["None", "ConditionalCheckFailed"],
        ["None", "ConditionalCheckFailed"]]
    assert cancelled[2][0]["Item"]["n"]  # the old item comes with the reason, as asked


def test_concurrent_conditional_writes_are_atomic(aws: None) -> None:
    """Fifty threads each take one from a balance of twenty, only while it is at least one: exactly twenty
    succeed, through single updates and through transactions alike, and the balance ends at zero. Threads
    switch as often as the interpreter can, so that plain moto (its check, then its write) overdraws."""
    from botocore.exceptions import ClientError

    from unigate.infra import aws as clients

    ddb = clients.client("dynamodb")
    table = template().table_name("AccountsTable")
    for sk in ("single", "transaction"):
        ddb.put_item(TableName=table, Item={"account_id": {"S": "race"}, "sk": {"S": sk}, "balance": {"N": "20"}})
    take = {"TableName": table, "UpdateExpression": "ADD balance :minus", "ConditionExpression": "balance >= :one",
            "ExpressionAttributeValues": {":minus": {"N": "-1"}, ":one": {"N": "1"}}}

    def single(_: int) -> bool:
        try:
            ddb.update_item(Key={"account_id": {"S": "race"}, "sk": {"S": "single"}}, **take)
        except ClientError:
            return False
        return True

    def transaction(_: int) -> bool:
        try:
            ddb.transact_write_items(TransactItems=[
                {"Update": {"Key": {"account_id": {"S": "race"}, "sk": {"S": "transaction"}}, **take}}])
        except ClientError:
            return False
        return True

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for sk, write in (("single", single), ("transaction", transaction)):
            with ThreadPoolExecutor(max_workers=16) as pool:
                assert sum(pool.map(write, range(50))) == 20
            item = ddb.get_item(TableName=table, Key={"account_id": {"S": "race"}, "sk": {"S": sk}})["Item"]
            assert item["balance"] == {"N": "0"}
    finally:
        sys.setswitchinterval(interval)


@pytest.fixture
def over_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stores talking to a moto server over HTTP (boto3 with AWS_ENDPOINT_URL), as the CLI does."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from unigate.infra import aws
    from unigate.infra.config import get_settings

    make_writes_atomic()
    # The server shares this process's backends; mock_aws empties them before and after, so no other test
    # on this worker meets these tables. Stopped before the test, it leaves boto3's requests to the server.
    reset = mock_aws()
    reset.start()
    reset.stop(remove_data=False)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {**FAKE_CREDENTIALS, **template().environment(),
                        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    aws.reset()
    template().create_tables(aws.client("dynamodb"))
    yield
    server.stop()
    # Empties the backends again; stopped too, so that the next test's own mock starts (and empties) afresh.
    emptied = mock_aws()
    emptied.start()
    emptied.stop()
    aws.reset()
    get_settings.cache_clear()


def test_money_moves_the_same_over_http(over_http: None) -> None:
    from unigate.accounts import accounts, billing
    from unigate.domain.errors import InsufficientCredits
    from unigate.infra import aws
    from unigate.stores import ratelimits
    from unigate.stores.accounts import ledger_sum

    seen: list[str] = []
    aws.client("dynamodb").meta.events.register("before-send.dynamodb", lambda request, **_: seen.append(request.url))
    accounts.create_account(name="http", account_id="acct_http")
    billing.grant("acct_http", 1_000, idempotency_key="first")
    billing.grant("acct_http", 1_000, idempotency_key="first")  # replayed: applied once
    held = billing.hold("acct_http", 600)
    with pytest.raises(InsufficientCredits):  # a cancelled transaction's reasons, read from the wire
        billing.hold("acct_http", 600)
    assert billing.settle(held, 250) is True
    assert billing.settle(held, 250) is False  # exactly once
    assert accounts.get_account("acct_http").balance_micros == 750 == ledger_sum("acct_http")

    assert ratelimits.take("acct_http", 1, rpm=1, tpm=None, tokens=5).admitted
    refused = ratelimits.take("acct_http", 1, rpm=1, tpm=None, tokens=5)  # the old item comes with the refusal
    assert (refused.admitted, refused.requests, refused.tokens) == (False, 1, 5)
    assert seen
    assert all(url.startswith("http://127.0.0.1:") for url in seen)  # over HTTP, to the server
