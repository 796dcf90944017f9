"""unigate.jsoncodec gives `json`'s answers: the same values of the same types, and the same errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unigate import jsoncodec


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (1 and 1.0 differ; so do 0.0 and -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return bool(a == b)


def outcome(read: Any, document: Any) -> tuple[str, Any]:
    try:
        return "value", read(document)
    except ValueError as exc:
        return "error", (type(exc), str(exc))


DOCUMENTS = [
    '{"model":"gpt-4o@openai","messages":[{"role":"user","content":"héllo 😀"}],"max_tokens":16}',
    '{"big":123456789012345678901234567890,"small":-9223372036854775808,"edge":18446744073709551616}',
    '{"u64":18446744073709551615,"neg":-9999999999999999999}',
    '{"id":"chatcmpl-12345678901234567890","n":1}',
    '{"a":1,"a":2}',
    '{"x":-0,"y":-0.0,"z":1.5e-7,"w":1e308,"v":2.2250738585072014e-308}',
    '{"huge":1e400}',
    '{"nan":NaN,"inf":-Infinity}',
    '"\\ud800 a lone surrogate"',
    '["\ud800 a lone surrogate, unescaped"]',
    '"\\ud83d\\ude00 a pair"',
    '\ufeff{"bom":true}',
    '[' * 100 + ']' * 100,
    '{"long":"' + 'x' * 5000 + '","big":123456789012345678901234567890,"f":0.1}',
    ' \n {"spaced" : [ 1 , 2 ] } \n',
    '{"trailing":1,}',
    '{"unterminated":',
    '',
    'null',
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documents_read_as_json_reads_them(document: str) -> None:
    for form in (document, document.encode("utf-8", "surrogatepass")):
        kind, value = outcome(jsoncodec.loads, form)
        expected_kind, expected = outcome(json.loads, form)
        assert kind == expected_kind, (form, value, expected)
        assert same(value, expected) if kind == "value" else value == expected


def test_text_that_is_not_utf8_gets_jsons_answer() -> None:
    latin1 = '{"name":"café"}'.encode("latin-1")
    assert outcome(jsoncodec.loads, latin1) == outcome(json.loads, latin1)
    utf16 = '{"name":"café"}'.encode("utf-16")
    assert same(jsoncodec.loads(utf16), json.loads(utf16))


def test_a_slow_reader_is_called_for_what_orjson_does_not_read() -> None:
    calls: list[Any] = []

    def slow(data: Any) -> Any:
        calls.append(data)
        return "slow"

    assert jsoncodec.loads(b'{"a":1}', slow=slow) == {"a": 1}
    assert jsoncodec.loads(b'{"a":NaN}', slow=slow) == "slow"
    assert jsoncodec.loads(b'{"a":12345678901234567890}', slow=slow) == "slow"
    assert calls == [b'{"a":NaN}', b'{"a":12345678901234567890}']


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_document_json_writes_is_read_as_json_reads_it(value: Any) -> None:
    for document in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert same(jsoncodec.loads(document), json.loads(document))
        assert same(jsoncodec.loads(document.encode()), json.loads(document))


@given(JSON_VALUES)
def test_what_dumps_writes_json_reads_back_as_the_value(value: Any) -> None:
    written = jsoncodec.dumps(value)
    assert isinstance(written, bytes)
    assert same(json.loads(written), json.loads(json.dumps(value)))


def test_dumps_writes_compact_utf8() -> None:
    assert jsoncodec.dumps({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'.encode()


def test_what_orjson_cannot_write_is_written_by_json() -> None:
    assert jsoncodec.dumps({"big": 2**70}) == b'{"big":1180591620717411303424}'
    assert jsoncodec.dumps({1: "int key"}) == b'{"1":"int key"}'
    assert jsoncodec.dumps("\ud800") == b'"\\ud800"'
    with pytest.raises(TypeError):
        jsoncodec.dumps({"a set": {1}})


def test_a_float_that_is_not_finite_is_written_as_null() -> None:
    assert jsoncodec.dumps([math.nan, math.inf, 1.5]) == b"[null,null,1.5]"
