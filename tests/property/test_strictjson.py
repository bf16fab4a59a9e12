"""fastauthz.strictjson reads JSON as orjson (the parser it replaced, kept as the oracle) reads it:
the same value for any document orjson accepts, a ValueError for any it refuses, and compact text
out that parses back to the value written."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastauthz.strictjson import dumps, loads

# orjson refuses integers outside 64 bits, which the standard library reads exactly: both are
# fail-closed for a claim (type checks, then a signature), so the oracle is asked within 64 bits.
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=25
)


def oracle(data: bytes) -> tuple[str, Any]:
    try:
        return "value", orjson.loads(data)
    except orjson.JSONDecodeError:
        return "refused", None


def ours(data: bytes) -> tuple[str, Any]:
    try:
        return "value", as_orjson_rounds(loads(data))
    except ValueError:
        return "refused", None


def as_orjson_rounds(value: Any) -> Any:
    """orjson reads an integer beyond 64 bits as a float; strictjson keeps it exact."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        return float(value)
    if type(value) is list:
        return [as_orjson_rounds(item) for item in value]
    if type(value) is dict:
        return {key: as_orjson_rounds(item) for key, item in value.items()}
    return value


@settings(max_examples=400)
@given(json_values)
def test_any_document_orjson_writes_is_read_to_the_same_value(value: Any) -> None:
    data = orjson.dumps(value)
    assert ours(data) == oracle(data)


@settings(max_examples=400)
@given(json_values)
def test_what_dumps_writes_reads_back_to_the_value(value: Any) -> None:
    assert loads(dumps(value).encode()) == value


@settings(max_examples=1000)
@given(st.binary(max_size=64) | st.text(alphabet='{}[]",:0123456789.eE+-tfnruals\\ \n', max_size=40).map(str.encode))
def test_any_bytes_are_read_as_orjson_reads_them_or_refused_with_value_error(data: bytes) -> None:
    verdict, value = ours(data)
    expected, expected_value = oracle(data)
    assert verdict == expected
    if verdict == "value":
        assert value == expected_value


@pytest.mark.parametrize(
    "document",
    [
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b"[1e999]",
        b"-1e400",
        b'"\\ud800"',
        b'{"sub":"\\udc00x"}',
        b'["\\ud800\\u0041"]',
        b"{}x",
        b"[1] [2]",
        b"",
        b" ",
        b"\xff",
        b'"\xed\xa0\x80"',
        b"[" * 100_000 + b"]" * 100_000,
        b"1" * 5000,
    ],
)
def test_what_orjson_refuses_and_the_standard_library_accepts_is_refused(document: bytes) -> None:
    with pytest.raises(ValueError):
        loads(document)


def test_whitespace_around_a_value_is_json() -> None:
    assert loads(b' \n{"a": [1, 2.5, true, null]}\t') == {"a": [1, 2.5, True, None]}
    assert loads(b'"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate pair is one character


def test_dumps_is_compact_and_keeps_utf8_as_orjson_does() -> None:
    value = {"a": [1, "é", None, True], "b": {"c": "\n"}}
    assert dumps(value) == orjson.dumps(value).decode() == '{"a":[1,"é",null,true],"b":{"c":"\\n"}}'


def test_dumps_writes_what_json_has_no_type_for_as_its_str() -> None:
    assert json.loads(dumps({"when": 1.5, "what": b"x"})) == {"when": 1.5, "what": "b'x'"}
