"""The embedded emulator's changes to moto keep moto's answers: the same operations, run on plain moto (its
whole request layer, no patches) and on the emulator as the local server runs it (the direct route into moto's
handler, serialised writes, journalled transactions, memoised parsers and the faster update validation), give
the same items and the same errors, each in a fresh process. And the stores move
money the same way through unigate.infra.dynamodb's HTTP transport to a moto server as through the in-process one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT, template
from unigate_tools import emulator
from unigate_tools.emulator import FAKE_CREDENTIALS, free_port, make_writes_atomic

SCRIPT = r'''
import base64, json, sys
from unigate_tools import emulator
emulator.use_fake_credentials()
from moto import mock_aws
from unigate.infra import dynamodb

mock_aws().start()
handled = []
if sys.argv[1] == "emulated":  # the emulator as the local server runs it
    emulator.make_writes_atomic()
    direct = emulator._call_handler
    emulator._call_handler = lambda *args: handled.append(args[0]) or direct(*args)
    dynamodb.use_transport(emulator.moto_transport)
else:  # moto as it comes: its whole request layer, no patches
    dynamodb.use_transport(emulator.moto_dispatch)
ddb = dynamodb.client()
ddb.call("CreateTable", {"TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                         {"AttributeName": "sk", "KeyType": "RANGE"}],
                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}],
                         "BillingMode": "PAY_PER_REQUEST"})
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
        out.append(ddb.call(operation, params))
    except dynamodb.ClientError as exc:
        out.append(exc.response)
for expression, names, values in UPDATES:
    args = {"TableName": "t", "Key": KEY, "UpdateExpression": expression, "ReturnValues": "ALL_NEW"}
    if names:
        args["ExpressionAttributeNames"] = names
    if values:
        args["ExpressionAttributeValues"] = values
    for _ in range(2):  # twice: the second run meets the memoised parse and the cached walker maps
        answer("UpdateItem", **args)
bump = {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET n = n + :v",
                   "ConditionExpression": "n >= :min", "ExpressionAttributeValues": {":v": {"N": "1"},
                                                                                     ":min": {"N": "0"}}}}
fresh = {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                 "ConditionExpression": "attribute_not_exists(sk)"}}
answer("TransactWriteItems", TransactItems=[bump, fresh])
answer("TransactWriteItems", TransactItems=[bump, fresh])  # the put's condition fails: the bump is not applied
answer("TransactWriteItems", TransactItems=[{"Delete": {"TableName": "t", "Key": {"pk": {"S": "c"}, "sk": {"S": "1"}},
                                                        "ConditionExpression": "attribute_exists(sk)"}}])
answer("TransactWriteItems", TransactItems=[{"ConditionCheck": {"TableName": "t", "Key": KEY,
                                                                "ConditionExpression": "n > :big",
                                                                "ExpressionAttributeValues": {":big": {"N": "99"}},
                                                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
# cancelled after a put replaced one item and a delete removed another: both come back as they were
answer("TransactWriteItems", TransactItems=[
    {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}, "v": {"S": "replaced"}}}},
    {"Delete": {"TableName": "t", "Key": KEY}},
    {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)"}}])
answer("GetItem", TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "1"}})
answer("GetItem", TableName="t", Key=KEY)
# cancelled after an update changed a map's member and a list's in place: both come back as they were
answer("TransactWriteItems", TransactItems=[
    {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET m.k = :v, l[0] = :v",
                "ExpressionAttributeValues": {":v": {"S": "changed"}}}},
    {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)"}}])
answer("GetItem", TableName="t", Key=KEY)
answer("UpdateItem", TableName="t", Key=KEY, UpdateExpression="SET n = n + :v", ExpressionAttributeValues={
    ":v": {"N": "1"}}, ReturnValues="ALL_NEW")  # the item put back is a live one
answer("PutItem", TableName="t", Item={**KEY, "n": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)",
       ReturnValuesOnConditionCheckFailure="ALL_OLD")
answer("PutItem", TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "2"}, "v": {"S": "null, but a string"}},
       ReturnValues="ALL_OLD")
BINARY = {"B": base64.b64encode(b"\0x").decode()}
answer("PutItem", TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "3"}, "b": BINARY})
answer("PutItem", TableName="t", Item={"pk": {"S": ""}, "sk": {"S": "1"}})
# an empty key refused in a transaction's put and in its update (each with its own message); an empty string
# that is not a key is an attribute like any other
answer("TransactWriteItems", TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": ""}}}}])
answer("TransactWriteItems", TransactItems=[{"Update": {"TableName": "t", "Key": {"pk": {"S": ""}, "sk": {"S": "1"}},
                                                        "UpdateExpression": "SET n = :v",
                                                        "ExpressionAttributeValues": {":v": {"N": "1"}}}}])
answer("PutItem", TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "4"}, "v": {"S": ""}, "w": {"SS": ["", "x"]}},
       ReturnValues="ALL_OLD")
# moto's item size limit, just over and just under it, with no one attribute near it
BIG = {"S": "x" * 135_000}
OVER = {"pk": {"S": "big"}, "sk": {"S": "1"}, "a": BIG, "b": BIG, "c": {"M": {"d": BIG}}}
UNDER = {"pk": {"S": "big"}, "sk": {"S": "2"}, "a": BIG, "b": BIG, "c": {"M": {"d": {"S": "x" * 134_000}}}}
answer("PutItem", TableName="t", Item=OVER)
answer("TransactWriteItems", TransactItems=[{"Put": {"TableName": "t", "Item": OVER}}])
answer("PutItem", TableName="t", Item=UNDER)
# the same limit in UTF-8's bytes, not in characters: two bytes each, just over and just under
WIDE = {"S": "é" * 67_500}
answer("PutItem", TableName="t", Item={**OVER, "a": WIDE, "b": WIDE, "c": {"M": {"d": WIDE}}})
answer("PutItem", TableName="t", Item={**UNDER, "sk": {"S": "3"}, "a": WIDE, "b": WIDE,
                                       "c": {"M": {"d": {"S": "é" * 67_000}}}})
answer("GetItem", TableName="t", Key={"pk": {"S": "big"}, "sk": {"S": "2"}}, ProjectionExpression="sk")
answer("GetItem", TableName="t", Key={"pk": {"S": "big"}, "sk": {"S": "1"}})
answer("GetItem", TableName="t", Key=KEY, ProjectionExpression=None)
answer("GetItem", TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "3"}})
answer("GetItem", TableName="t", Key={"pk": {"S": "nobody"}, "sk": {"S": "1"}})
answer("GetItem", TableName="missing", Key=KEY)
answer("Query", TableName="t", KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
       FilterExpression="attribute_exists(n)", ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"S": ""}},
       ScanIndexForward=False, Limit=5)
answer("Query", TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
       Limit=1, ExclusiveStartKey=KEY)
answer("BatchGetItem", RequestItems={"t": {"Keys": [KEY, {"pk": {"S": "a"}, "sk": {"S": "2"}}]}})
answer("DeleteItem", TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "2"}}, ReturnValues="ALL_OLD")
answer("DeleteItem", TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "2"}},
       ConditionExpression="attribute_exists(pk)")
answer("GetItem", TableName="t", Key=KEY)
print(json.dumps({"answers": out, "handled_directly": handled}, sort_keys=True))
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
    assert len(errors) >= 22  # the error cases really errored, so they were compared too
    cancelled = [answer["CancellationReasons"] for answer in errors if "CancellationReasons" in answer]
    assert [[reason["Code"] for reason in reasons] for reasons in cancelled] == [
        ["None", "ConditionalCheckFailed"], ["ConditionalCheckFailed"], ["ConditionalCheckFailed"],
        ["None", "None", "ConditionalCheckFailed"], ["None", "ConditionalCheckFailed"]]
    assert cancelled[2][0]["Item"]["n"]  # the old item comes with the reason, as asked
    # unigate's operations took the direct route into moto's handler; nulls and binary values did not.
    direct = emulated["handled_directly"]
    assert len(direct) == 1 + len(answers) - 3  # the setup's put, and all but three answers
    assert set(direct) == {"UpdateItem", "TransactWriteItems", "PutItem", "GetItem", "Query", "BatchGetItem",
                           "DeleteItem"}


@pytest.fixture
def over_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stores talking to a moto server through unigate.infra.dynamodb's HTTP transport (SigV4, keep-alive)."""
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from unigate.infra import aws, dynamodb
    from unigate.infra.config import get_settings

    make_writes_atomic()
    # The server shares this process's backends; mock_aws empties them before and after, so no other test
    # on this worker meets these tables.
    reset = mock_aws()
    reset.start()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {**FAKE_CREDENTIALS, **template().environment(),
                        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    dynamodb.use_transport(None)
    aws.reset()
    template().create_tables(aws.client("dynamodb"))
    yield
    server.stop()
    reset.stop()
    aws.reset()
    get_settings.cache_clear()


def test_money_moves_the_same_over_http(over_http: None) -> None:
    from unigate.accounts import accounts, billing
    from unigate.domain.errors import InsufficientCredits
    from unigate.infra import dynamodb
    from unigate.stores import ratelimits
    from unigate.stores.accounts import ledger_sum

    assert isinstance(dynamodb.client().transport, dynamodb.HttpTransport)
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


def _layout(obj: Any, numbered: dict[int, int], original: set[int]) -> Any:
    """A tree's classes, attributes and scalars, with shared objects and cycles (parent links) numbered."""
    if isinstance(obj, str | int | float | bool | type(None)):
        return obj
    assert id(obj) not in original  # nothing of the copy is shared with the memoised tree
    if id(obj) in numbered:
        return ("same as", numbered[id(obj)])
    numbered[id(obj)] = len(numbered)
    if type(obj) is list:
        return [_layout(item, numbered, original) for item in obj]
    return type(obj).__name__, {name: _layout(value, numbered, original) for name, value in vars(obj).items()}


def _objects(obj: Any, found: set[int]) -> set[int]:
    if not isinstance(obj, str | int | float | bool | type(None)) and id(obj) not in found:
        found.add(id(obj))
        for value in obj if type(obj) is list else vars(obj).values():
            _objects(value, found)
    return found


@pytest.mark.parametrize("expression", [
    "SET balance = balance - :amount",
    "ADD #a0 :a0, #a1 :a1 SET expires_at = :exp, ws = :ws",
    "SET a = if_not_exists(a, :z) + :one, b = list_append(b, :l) REMOVE c, d[1] DELETE s :s",
    "SET #m.#k[2].x = :v",
])
def test_a_memoised_expression_is_copied_as_a_deep_copy_would(expression: str) -> None:
    """The validator deep-copies the memoised parse for every update; the emulator copies it from a plan
    made at its first copy. Both copies have the same layout, parent links included, and share nothing."""
    import copy

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    make_writes_atomic()
    tree = UpdateExpressionParser.make(expression)
    assert UpdateExpressionParser.make(expression) is tree
    original = _objects(tree, set())
    by_deepcopy = copy.deepcopy(tree, {id(None): None})  # a started memo: copy's own recursive path
    for _ in range(2):  # the first copy makes the plan; the second only follows it
        assert _layout(copy.deepcopy(tree), {}, original) == _layout(by_deepcopy, {}, original)
    assert emulator._MEMOISED[id(tree)].plan is not None  # the copies came from a plan


def test_the_items_a_request_makes_are_not_kept_after_it(account: str) -> None:
    """moto keeps every model it makes in a list on its class (for its server's dashboard): a hold and its
    settle made five items, three of them copies and a record deleted at the settle, that the local server
    would have kept for as long as it runs."""
    from moto.dynamodb.models.dynamo_type import Item

    from unigate.accounts import billing

    before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    for _ in range(3):
        assert billing.settle(billing.hold(account, 5_000), 1_000)
    assert len(Item.instances_tracked) == before  # type: ignore[attr-defined]


@pytest.mark.parametrize("account", [None, "111122223333"])
def test_the_direct_route_writes_to_the_account_moto_would_pick(account: str | None,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct route names the caller as moto finds it for an unsigned request (its placeholder key, then
    MOTO_ACCOUNT_ID or the default account) without asking moto each time: a table made through moto's whole
    request layer is the one it writes to."""
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    if account is None:
        monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    else:
        monkeypatch.setenv("MOTO_ACCOUNT_ID", account)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    make_writes_atomic()
    probe = DynamoHandler()
    probe.headers, probe.querystring = {"Content-Type": "application/x-amz-json-1.0"}, {}
    assert probe.get_access_key() == emulator._UNSIGNED_ACCESS_KEY
    with mock_aws():
        table = {"TableName": "accounts_probe", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                 "BillingMode": "PAY_PER_REQUEST"}
        assert emulator.moto_dispatch("CreateTable", json.dumps(table).encode())[0] == 200
        item = {"TableName": "accounts_probe", "Item": {"pk": {"S": probe.get_current_account()}}}
        assert emulator.moto_transport("PutItem", json.dumps(item).encode())[0] == 200
        key = {"TableName": "accounts_probe", "Key": item["Item"]}
        status, answer = emulator.moto_dispatch("GetItem", json.dumps(key).encode())
        assert (status, json.loads(answer)["Item"]) == (200, item["Item"])
