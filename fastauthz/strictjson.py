"""JSON in (strict) and out (compact), on the standard library's C scanner and encoder. Hot path.

Why not orjson: in a bare `python -S`, orjson's import costs 12-16 ms on top of cryptography's (its
module init imports dataclasses, inspect, uuid, platform and datetime), while `json` costs nothing
measurable once cryptography has loaded `re` and `enum` (bench/coldstart.py, README "Cold start").
Per call, the scanner called directly parses a token's payload in 1.0 µs against orjson's 0.45 µs.

Strict where the standard library is lenient, so that every document is read as orjson (and RFC
8259) reads it: NaN and ±Infinity, numbers that overflow to infinity, lone surrogate escapes and
leading or trailing garbage are refused with ValueError; so is nesting deep enough to exhaust the
recursion limit. Integers longer than 4300 digits are refused by int() itself.
"""

from __future__ import annotations

from json import JSONDecodeError, JSONDecoder
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "loads", "quote", "scan_once"]

_INFINITIES = (float("inf"), float("-inf"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in _INFINITIES:
        raise ValueError("number out of range")
    return value


_decoder = JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)
# The C scanner itself: (value, end) for the value at an offset. Also read by a hot path that writes
# loads() out (token.decode_payload), which must hand anything but a complete value with no "\\u"
# escape back to loads(): it alone applies every rule above.
scan_once: Any = _decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__, untyped


def _has_lone_surrogate(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if kind is dict:
        return any(_has_lone_surrogate(key) or _has_lone_surrogate(item) for key, item in value.items())
    if kind is list:
        return any(map(_has_lone_surrogate, value))
    return False


def loads(data: bytes | str) -> Any:
    """The JSON value of `data` (UTF-8 bytes or text). Raises ValueError (JSONDecodeError among them)."""
    text: str = data.decode() if isinstance(data, bytes) else data  # invalid UTF-8: UnicodeDecodeError, a ValueError
    try:
        try:
            value, end = scan_once(text, 0)  # the C scanner, without json.loads' three Python frames
        except StopIteration:  # not a value at offset 0 (leading whitespace, or not JSON at all)
            end = -1
        if end != len(text):
            value = _decoder.decode(text)  # whitespace around the value, or a JSONDecodeError
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # A string escape can spell half a surrogate pair, which no UTF-8 text (and no orjson) holds.
    if "\\u" in text and _has_lone_surrogate(value):
        raise ValueError("lone surrogate in a JSON string")
    return value


quote: Any = c_encode_basestring  # str -> its JSON string literal (quotes and escapes), in C
# Compact separators, UTF-8 kept as is, non-JSON values as str(): one C call per document.
_encode = c_make_encoder(None, str, c_encode_basestring, None, ":", ",", False, False, True)


def dumps(value: Any) -> str:
    """`value` as compact JSON text; values JSON has no type for are written as their str()."""
    return "".join(_encode(value, 0))
