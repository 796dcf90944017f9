"""The embedded AWS: moto's DynamoDB and Secrets Manager, in this process.

Two fixes make moto faithful enough for money, and the rest make it fast without changing its answers:
- DynamoDB applies each write request (PutItem, UpdateItem, TransactWriteItems...) atomically.
  moto checks conditions and then applies them without a lock, so two threads can both pass
  `balance >= :amount`. `make_writes_atomic` serialises moto's write operations, which is exactly
  the guarantee DynamoDB gives; without it, concurrency tests would test moto, not unigate.
- moto makes a transaction all-or-nothing by deep-copying every table it touches before applying it,
  so each transaction costs time in proportion to the whole ledger (82 ms per request after a few
  hundred requests). With writes serialised, it is enough to remember the few items a transaction
  touches and put them back if it is cancelled; the table copies become no-ops. Only an item an update
  changes in place needs a copy, and moto's update makes one before it starts: the journal keeps that.
  That copy is made without copy's generic machinery (`_item_copy`).
- moto parses every condition expression three times per transaction item and every update expression
  twice, and again on every request, though unigate sends the same few expressions each time.
  `make_writes_atomic` memoises both parsers (the parsed trees are not mutated: moto's validator works
  on a deep copy), and makes the validator's ten walks over that copy and the copy itself cheaper
  (`_faster_update_validation`). It also measures a new item against the size limit once rather than
  once per attribute (`_items_sized_once`), answers two lookups that never change once
  (`_lookups_once`), serialises the one empty answer of a successful transaction once
  (`_empty_results_serialised_once`), builds, hashes, compares and measures typed values with less
  asking (`_typed_values_faster`), and lists a table's key attributes for the empty-key check only
  when a value is empty (`_empty_keys_found_once`). tests/integration/test_emulator.py checks that
  moto's answers and errors stay the same.
- moto keeps every item it ever makes in a list for its dashboard, copies and deleted ones included:
  `_items_untracked` stops that, which would otherwise grow the local server by about 5 KB a request.
- unigate's DynamoDB client (unigate.infra.dynamodb) calls moto's DynamoDB handler in this process directly
  (`serve_dynamodb_in_process`): no HTTP, no signing, and none of botocore's work, as in Lambda. For
  unigate's own operations moto's request layer is skipped too (a werkzeug request, the body re-parsed
  against the service model, the caller looked up among IAM's keys): the handler's own call_action
  runs on the JSON body (`moto_transport`).
- A moto server on a side port shares this process's in-memory backends, so the `unigate` CLI in
  another process can manage the same store the local API serves.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
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
    journal in _journalled restores what a cancelled transaction touched); everything else is. moto's
    update_item copies its item before changing it in place; during a transaction that copy is noted, as
    the item's state to restore."""

    def __init__(self, table_type: type, item_type: type) -> None:
        self.table_type = table_type
        self.item_type = item_type
        # The running transaction's copies, by the id of the live item. Writes are serialised
        # (make_writes_atomic), so one transaction at a time sets it.
        self.before_change: dict[int, Any] | None = None

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self.table_type):
            return value
        if type(value) is not self.item_type:
            return copy.deepcopy(value, memo)
        copied = _item_copy(value)
        if self.before_change is not None:
            self.before_change.setdefault(id(value), copied)
        return copied

    def copy(self, value: Any) -> Any:
        return copy.copy(value)


_SCALAR_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL"})


def _item_copy(item: Any) -> Any:
    """An item as moto's Item.__deepcopy__ copies it (every typed value a new object, nothing re-measured),
    without copy's dispatch, memo and keep-alive list for each value: every update copies its item first
    (3% of a hold's instructions). A scalar's value is immutable and shared, as moto shares it; sets, lists
    and maps, which an update may change in place, go through moto's own copy."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    copied = object.__new__(type(item))
    copied.hash_key = _typed_copy(item.hash_key)
    copied.range_key = None if item.range_key is None else _typed_copy(item.range_key)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, {name: _typed_copy(value) for name, value in item.attrs.items()})
    copied.attrs = attrs
    return copied


def _typed_copy(value: Any) -> Any:
    if value.type not in _SCALAR_TYPES:
        return copy.deepcopy(value)
    copied = object.__new__(type(value))
    copied.type, copied.value = value.type, value.value
    return copied


def _journalled(original: Any, copies: _TableCopiesSkipped) -> Any:
    @functools.wraps(original)
    def transact(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        # The items as the transaction finds them. A put or a delete replaces or removes an item and leaves
        # the object as it was; an update changes it in place, after copying it (noted by `copies`).
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
            journal.append((table, key, self.get_item(name, key)))
        before_change: dict[int, Any] = {}
        copies.before_change = before_change
        try:
            return original(self, transact_items)
        except BaseException:
            for table, key, found in reversed(journal):
                _restore(table, key, before_change.get(id(found), found))
            raise
        finally:
            copies.before_change = None

    return transact


def _restore(table: Any, key: dict[str, Any], before: Any) -> None:
    """Puts an item back as a cancelled transaction found it (the object, or the copy an update made of it
    before changing it), or removes the item the transaction made."""
    if before is None:
        table.delete_item(*_key_values(table, key))
    elif before.range_key is not None:
        table.items[before.hash_key][before.range_key] = before
    else:
        table.items[before.hash_key] = before


def _key_values(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _memoise_parsers() -> None:
    from moto.core import responses, utils
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import expressions

    parser: Any = expressions.UpdateExpressionParser  # type: ignore[attr-defined]
    cached: Any = functools.lru_cache(maxsize=512)(parser.make.__func__)

    def make(cls: Any, expression: str) -> Any:
        tree = cached(cls, expression)
        if id(tree) not in _MEMOISED:
            if len(_MEMOISED) >= 4096:
                _MEMOISED.clear()
            _MEMOISED[id(tree)] = _Memoised(tree)
        return tree

    parser.make = classmethod(make)

    parse = ConditionExpressionParser.parse
    parsed: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    @functools.wraps(parse)
    def parse_once(self: Any) -> Any:
        # repr, not sorted JSON: the same request's dicts come in the same order, and a differently
        # ordered one only misses the cache.
        key = (self.condition_expression, repr(self.expression_attribute_names),
               repr(self.expression_attribute_values))
        if key not in parsed:
            op = parse(self)
            if len(parsed) >= 4096:
                parsed.clear()
            parsed[key] = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
        op, names, values = parsed[key]
        self.expr_attr_names_found, self.expr_attr_values_found = list(names), list(values)
        return op

    ConditionExpressionParser.parse = parse_once  # type: ignore[method-assign]
    # Every call lists the handler class's methods with inspect.getmembers, to check the action exists.
    responses.method_names_from_class = functools.cache(utils.method_names_from_class)
    # And turns the operation's name into its method's, character by character (a pure function of a name).
    responses.camelcase_to_underscores = functools.cache(utils.camelcase_to_underscores)


_ATOMIC = (str, int, float, bool, type(None))


@dataclass
class _Memoised:
    """A memoised update expression, which every update's validator deep-copies and checks: the tree (held,
    so that its id is not reused), its clone plan once its first copy has made one (None: it has none),
    and the (names, table, key) it has passed the static checks for."""

    tree: Any
    planned: bool = False
    plan: tuple[list[type], list[Any]] | None = None
    passed: set[tuple[Any, ...]] = field(default_factory=set)
    clauses: dict[tuple[type, ...], list[Any]] = field(default_factory=dict)


_MEMOISED: dict[int, _Memoised] = {}


def _memoised(tree: Any) -> _Memoised | None:
    found = _MEMOISED.get(id(tree))
    return found if found is not None and found.tree is tree else None


class _Unplannable(Exception):
    pass


def _clone_plan(root: Any, node_class: type) -> tuple[list[type], list[Any]]:
    """A tree of nodes (a __dict__ of nodes, lists and scalars, with parent links) as a flat list: each
    node's class, or list, and what fills it, scalars as they are and nodes and lists by position."""
    position: dict[int, int] = {}
    kinds: list[type] = []
    fills: list[Any] = []

    def place(obj: Any) -> int:
        if id(obj) in position:
            return position[id(obj)]
        index = position[id(obj)] = len(kinds)
        kinds.append(list if type(obj) is list else type(obj))
        fills.append(None)
        if type(obj) is list:
            fills[index] = [(False, v) if isinstance(v, _ATOMIC) else (True, place(v)) for v in obj]
        elif isinstance(obj, node_class):
            fills[index] = [(name, False, v) if isinstance(v, _ATOMIC) else (name, True, place(v))
                            for name, v in obj.__dict__.items()]
        else:
            raise _Unplannable
        return index

    place(root)
    return kinds, fills


def _planned_copy(node: Any, node_class: type) -> Any:
    """A memoised expression, copied for every update, from a plan made at its first copy (None for any
    other node)."""
    memoised = _memoised(node)
    if memoised is None:
        return None
    if not memoised.planned:
        memoised.planned = True
        with contextlib.suppress(_Unplannable):
            memoised.plan = _clone_plan(node, node_class)
    return None if memoised.plan is None else _cloned(memoised.plan)


def _cloned(plan: tuple[list[type], list[Any]]) -> Any:
    kinds, fills = plan
    made: list[Any] = [[] if kind is list else object.__new__(kind) for kind in kinds]
    for target, fill in zip(made, fills, strict=True):
        if type(target) is list:
            target.extend([made[v] if ref else v for ref, v in fill])
        else:
            target.__dict__.update({name: made[v] if ref else v for name, ref, v in fill})
    return made[0]


def _node_copier(node_class: type) -> Any:
    """Node.__deepcopy__: a memoised expression from its plan; any other node as copy's generic protocol
    would copy it, knowing a node is a __dict__ of nodes, lists and scalars."""
    from copy import deepcopy

    def node_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        planned = None if memo else _planned_copy(self, node_class)
        if planned is not None:
            return planned
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        for name, value in self.__dict__.items():
            if isinstance(value, _ATOMIC):
                copied.__dict__[name] = value
            elif type(value) is list:
                if id(value) not in memo:
                    items: list[Any] = []
                    memo[id(value)] = items  # registered first, as copy does, for cycles
                    items.extend(v if isinstance(v, _ATOMIC) else deepcopy(v, memo) for v in value)
                copied.__dict__[name] = memo[id(value)]
            else:
                copied.__dict__[name] = deepcopy(value, memo)
        return copied

    return node_deepcopy


def _faster_update_validation() -> None:
    """moto validates an update expression by walking its tree ten times, and on every node of every walk
    rebuilds the walker's type map and tests types through ABCMeta; before that it deep-copies the tree
    through copy's generic reduce protocol. That was about 40% of a settle. The same walks and the same
    copy, done with each walker class's map looked up once, type tests cached per node class, and a deep
    copy that knows a node is a __dict__ of nodes, lists and scalars (for a memoised expression, from a
    plan made at its first copy)."""
    from moto.dynamodb.parsing import ast_nodes

    # ast_nodes is untyped (`# type: ignore` at its top), so mypy sees none of its names.
    traverser: Any = ast_nodes.DepthFirstTraverser  # type: ignore[attr-defined]
    node_class: Any = ast_nodes.Node  # type: ignore[attr-defined]

    is_node: dict[type, bool] = {}
    dispatches: dict[type, dict[type, Any]] = {}
    no_hook = traverser.pre_processing_of_child
    missing = object()

    def walk(self: Any, node: Any, child_id: int, dispatch: dict[type, Any], hook: bool) -> Any:
        cls = type(node)
        known = is_node.get(cls)
        if known is None:
            known = is_node[cls] = isinstance(node, node_class)
        if not known:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                if hook:
                    self.pre_processing_of_child(node, i)
                walk(self, child_node, i, dispatch, hook)
        processor = dispatch.get(cls, missing)
        if processor is missing:  # the first match in the walker's map, as its process() picks it
            found = next((found for kind, found in self._processing_map().items() if isinstance(node, kind)), None)
            # Every map holds the walker's own methods: kept unbound, for every walker of its class.
            processor = dispatch[cls] = None if found is None else found.__func__
        if processor is not None:
            node = processor(self, node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        walker = type(self)  # a new walker for every validation: its map is looked up once per class
        dispatch = dispatches.get(walker)
        if dispatch is None:
            dispatch = dispatches[walker] = {}
        return walk(self, node, child_id, dispatch, walker.pre_processing_of_child is not no_hook)

    traverser.traverse_node_recursively = traverse_node_recursively
    node_class.__deepcopy__ = _node_copier(node_class)
    _static_checks_once()


def _lookups_once() -> None:
    """Two lookups on every update, each the same answer every time: the clauses of a kind in a memoised
    expression (its attribute names, found by walking the whole tree per transaction item), and whether a
    name is one of DynamoDB's 573 reserved words (a list, scanned word by word)."""
    from moto.dynamodb.parsing import ast_nodes
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    node_class: Any = ast_nodes.Node  # type: ignore[attr-defined]
    find_clauses = node_class.find_clauses

    @functools.wraps(find_clauses)
    def find_clauses_once(self: Any, clause_types: Any) -> Any:
        memoised = _memoised(self)
        if memoised is None:
            return find_clauses(self, clause_types)
        kinds = tuple(clause_types)
        if kinds not in memoised.clauses:
            memoised.clauses[kinds] = find_clauses(self, clause_types)
        return list(memoised.clauses[kinds])

    node_class.find_clauses = find_clauses_once
    # Only ever tested for membership (`word.upper() in keywords`).
    ReservedKeywords.KEYWORDS = frozenset(ReservedKeywords.get_reserved_keywords())  # type: ignore[assignment]


def _empty_results_serialised_once() -> None:
    """moto serialises every result by walking the operation's output shapes member by member, about 5% of
    a hold. A successful TransactWriteItems always answers {"ConsumedCapacity": [], "ItemCollectionMetrics":
    {}}: a result whose every value is an empty list or map has one answer per operation, member names and
    response headers, so that answer is serialised once and handed out again."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    serialized = DynamoHandler.serialized
    answers: dict[tuple[Any, ...], tuple[int, dict[str, Any], str | bytes]] = {}

    @functools.wraps(serialized)
    def serialized_once(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if (type(action_result) is not ActionResult or type(result) is not dict
                or any(value or type(value) not in (list, dict) for value in result.values())):
            return serialized(self, action_result)
        key = (self._get_action(), tuple(result), tuple(self.response_headers.items()))
        if key not in answers:
            answers[key] = serialized(self, action_result)
        status, headers, body = answers[key]
        return status, dict(headers), body  # the caller may add to its headers

    DynamoHandler.serialized = serialized_once  # type: ignore[method-assign]


def _static_checks_once() -> None:
    """Three of the validator's ten walks check only the expression's shape, its names and the table's key
    (one clause of each kind, no overlapping paths, no key attribute updated), and return the tree as they
    found it; the first of them finds clauses over every subtree, quadratic in the expression. Once an
    expression (a memoised parse: the same object each time) has passed them for a table, they are skipped;
    an expression that fails them is checked, and fails, every time."""
    from moto.dynamodb.parsing import validators

    static = (validators.ActionCountValidator, validators.OverlappingPathsValidator,
              validators.UpdateHashRangeKeyValidator)
    validator: Any = validators.UpdateExpressionValidator
    original_init = validator.__init__

    @functools.wraps(original_init)
    def init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, expression, *args, **kwargs)
        self._unigate_source = expression

    def validate(self: Any) -> Any:
        memoised = _memoised(self._unigate_source)
        key = (tuple(sorted((self.expression_attribute_names or {}).items())), self.table.name,
               tuple(self.table.table_key_attrs))
        known = memoised is not None and key in memoised.passed
        node = self.node_to_validate
        for processor in self.processors:
            if not (known and isinstance(processor, static)):
                node = processor.traverse(node)
        if memoised is not None:  # only reached when every check passed
            memoised.passed.add(key)
        return node

    validator.__init__ = init
    validator.validate = validate


# moto's item size limit (LimitedSizeDict): DynamoDB's documented 400 KB, as measured between 409 and 410 KB.
_MOTO_ITEM_SIZE_LIMIT = 405000


def _items_sized_once() -> None:
    """moto builds an item attribute by attribute, and before each one re-measures every attribute already
    in it against the item size limit: quadratic in the attributes, about a tenth of a hold's time (the
    ledger entry and the hold record have eight attributes each). Measuring the whole item once gives the
    same answer, since sizes are never negative and the running total only grows, at linear cost. An
    attribute set later (an update) still goes through moto's own check."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        typed = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in typed.items()) > _MOTO_ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict(typed)  # its constructor fills the dict without the per-key check

    Item.__init__ = init  # type: ignore[method-assign]


def _typed_values_faster() -> None:
    """moto wraps every attribute value in a DynamoType, about 40 per hold, and hashes and compares them by
    their cast value, a property that asks whether the value is a number, a set, a list, a map or null
    before it gives a string back as it is. Items are found by their keys, strings, a few dozen times per
    transaction: 8% of a hold's instructions went to those questions, and 3% to building each value's
    type and value from two lists of its one-entry dict. A string's cast value is now the string itself,
    and a one-entry dict is unpacked directly; every other case runs moto's own code."""
    from moto.dynamodb.models.dynamo_type import DDBType, DynamoType

    cast = DynamoType.cast_value.fget  # type: ignore[attr-defined]
    init = DynamoType.__init__
    measure = DynamoType.size
    string, nested = DDBType.STRING, (DDBType.LIST, DDBType.MAP)

    def cast_value(self: Any) -> Any:
        return self.value if self.type == string else cast(self)

    def hashed(self: Any) -> int:  # moto's __hash__, with the cast above inlined
        return hash((self.type, self.value if self.type == string else cast(self)))

    def size(self: Any) -> int:  # moto's, which asks four questions of every value before it measures a string
        value = self.value
        if type(value) is str and self.type == string:
            return len(value.encode("utf-8"))
        return measure(self)

    def typed(self: Any, type_as_dict: Any) -> None:
        if type(type_as_dict) is dict and len(type_as_dict) == 1:
            (self.type, self.value), = type_as_dict.items()
            if self.type not in nested:  # moto wraps a list's or map's members too
                return
        init(self, type_as_dict)

    DynamoType.cast_value = property(cast_value)  # type: ignore[method-assign,assignment]
    DynamoType.__hash__ = hashed  # type: ignore[method-assign]
    DynamoType.__init__ = typed  # type: ignore[method-assign]
    DynamoType.size = size  # type: ignore[method-assign]


def _empty_keys_found_once() -> None:
    """moto refuses a write whose key (or index key) is an empty string by first listing the table's key
    and every index's key attributes, for every item of every write: 5% of a hold's time. Those lists only
    matter when some attribute is an empty string or binary, so the attributes are looked at first, in the
    same order and with the same expressions (the same errors for a malformed value), and moto's own check
    runs only when one is empty."""
    from moto.dynamodb import responses

    check = responses.validate_put_has_empty_keys

    def validate_put_has_empty_keys(field_updates: dict[str, Any], table: Any, custom_error_msg: str | None = None
                                    ) -> None:
        if not table:
            return
        for value in field_updates.values():
            if next(iter(value.keys())) in ("S", "B") and next(iter(value.values())) == "":
                check(field_updates, table, custom_error_msg)
                return

    responses.validate_put_has_empty_keys = validate_put_has_empty_keys


def _items_untracked() -> None:
    """moto's models append every instance they make to a list on their class, for the moto server's
    dashboard, and keep it there: every item a write makes, and every copy an update or a transaction makes
    of one, deleted or not. The local server made seven a chat request, four of them garbage (three copies
    and the hold's record, deleted at its settle) kept for as long as it runs. DynamoDB's items are no
    longer listed (nothing here reads that dashboard)."""
    from moto.dynamodb.models.dynamo_type import Item

    def untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    Item.__new__ = staticmethod(untracked)  # type: ignore[method-assign]


def make_writes_atomic() -> None:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, "_unigate_atomic", False):
        return
    _memoise_parsers()
    _faster_update_validation()
    _items_sized_once()
    _lookups_once()
    _empty_results_serialised_once()
    _typed_values_faster()
    _empty_keys_found_once()
    _items_untracked()
    copies = _TableCopiesSkipped(Table, Item)
    DynamoDBBackend.transact_write_items = _journalled(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items, copies)
    dynamodb_models.copy = copies  # type: ignore[assignment]

    for name in _WRITE_METHODS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def serialised(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, serialised)
    DynamoDBBackend._unigate_atomic = True  # type: ignore[attr-defined]


# The operations unigate's stores send, which moto_transport hands to moto's handler directly.
_DIRECT_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem",
                                "TransactWriteItems"})
# Binary attribute values are base64 on the wire; moto's model-driven parser decodes them, json.loads does not.
_BINARY_MARKERS = (b'"B":', b'"BS":')


def moto_transport(operation: str, body: bytes) -> tuple[int, bytes]:
    """unigate.infra.dynamodb's transport into moto's DynamoDB of this process, as moto's botocore hook would
    dispatch the request, without the HTTP, the signing or botocore's own work around it. unigate's own
    operations skip the rest of moto's request layer too (_call_handler)."""
    if operation in _DIRECT_OPERATIONS and not any(marker in body for marker in _BINARY_MARKERS):
        params = _json_parameters(body)
        if params is not None:
            return _call_handler(operation, params, body)
    return moto_dispatch(operation, body)


def moto_dispatch(operation: str, body: bytes) -> tuple[int, bytes]:
    """The request through moto's whole request layer: a werkzeug request, its URL, query string and headers
    read for the region and account, and the body parsed against the operation's model."""
    from moto.core.request import Request
    from moto.dynamodb.responses import DynamoHandler

    from unigate.infra.dynamodb import CONTENT_TYPE, TARGET_PREFIX, region

    request = Request.from_primitives(
        "POST", f"https://dynamodb.{region()}.amazonaws.com/",
        {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation}, body)
    return _answer(lambda: DynamoHandler.dispatch(request, request.raw_url, request.headers))


def _answer(handle: Any) -> tuple[int, bytes]:
    """moto's (status, headers, body) as the wire's status and bytes; moto raises some errors as HTTP."""
    from moto.core.exceptions import HTTPException

    try:
        status, _, answer = handle()
    except HTTPException as exc:
        status, answer = exc.code or 500, exc.get_body()
    return int(status), answer.encode() if isinstance(answer, str) else bytes(answer)


def _json_parameters(body: bytes) -> dict[str, Any] | None:
    """The body as moto's parser would give it for these operations, or None where the parser would change
    it: its model drops nulls, and a body that is not a JSON object is moto's to answer."""
    try:
        params = json.loads(body)
    except ValueError:
        return None
    if not isinstance(params, dict) or b"null" in body:
        return None
    return params


_UNSIGNED_ACCESS_KEY = "AKIAEXAMPLE"


def _call_handler(operation: str, params: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """What DynamoHandler.dispatch does once it has the request's parameters: the handler set up with this
    process's region and account, then moto's own call_action (its authorisation check, the operation, the
    error and result serialisation). The werkzeug request, the URL and query string parsing and the
    model-driven re-parse of the JSON body (a third of moto's time per transaction) are what is skipped, and
    so is the response's request id."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.responses import DynamoHandler
    from moto.utilities.utils import get_partition

    from unigate.infra.dynamodb import CONTENT_TYPE, TARGET_PREFIX, region

    handler = DynamoHandler()
    handler.region = region()
    handler.partition = get_partition(handler.region)
    handler.method = "POST"
    handler.uri = f"https://dynamodb.{handler.region}.amazonaws.com/"
    handler.path = "/"
    handler.headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation}
    handler.response_headers = {"server": "amazon.com"}
    handler.querystring = handler.data = {}
    handler.uri_match = {}
    handler.raw_body = body
    handler.body = handler.params = params
    # call_action's last step adds a request id (52 random characters) to headers this transport drops, and
    # sets it in an XML body's <RequestId>; DynamoDB's bodies are JSON. 3 to 4% of a chat request's instructions.
    handler._enrich_response = _unenriched  # type: ignore[method-assign]
    # What moto's get_access_key and get_current_account find for a request with no signature, header or
    # query string: its placeholder key, which no IAM user of moto's can have, and so the account of
    # MOTO_ACCOUNT_ID or the default one. Their search of every account's IAM keys in every partition,
    # and the IAM bookkeeping of the key's last use (none for a key IAM does not know), cost a chat
    # request 0.04 to 0.06 ms before its first byte.
    handler.access_key = _UNSIGNED_ACCESS_KEY
    handler.current_account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    return _answer(handler.call_action)


def _unenriched(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    return headers, body


def serve_dynamodb_in_process() -> None:
    """Sends unigate's DynamoDB calls to moto in this process (under mock_aws, or beside its server)."""
    from unigate.infra import dynamodb

    dynamodb.use_transport(moto_transport)


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
    serve_dynamodb_in_process()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return Embedded(mock=mock, server=server, endpoint_url=f"http://127.0.0.1:{port}")
