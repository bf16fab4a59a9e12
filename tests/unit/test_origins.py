"""fastauthz.origins: the allow-list's syntax, matching, and what an event's Origin header may look like."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastauthz.errors import ConfigError, Rejected
from fastauthz.origins import OriginCheck, checking_origin, parse_origin

CHECK = OriginCheck(("https://app.example.com", "http://127.0.0.1:8080", "https://*.example.org"), required=False)


def event_with(origin: Any = None, *, multi: Any = None) -> dict[str, Any]:
    event: dict[str, Any] = {"headers": {"Host": "x"}, "multiValueHeaders": {"Host": ["x"]}}
    if origin is not None:
        event["headers"]["Origin"] = origin
    if multi is not None:
        event["multiValueHeaders"]["Origin"] = multi
    return event


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        (" http://localhost:5173 ", "http://localhost:5173"),
        ("https://*.example.com", "https://*.example.com"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_allowed_origins_are_kept_as_browsers_serialise_them(entry: str, parsed: str) -> None:
    assert parse_origin("JWT_ALLOWED_ORIGINS", entry) == parsed


@pytest.mark.parametrize(
    "entry",
    [
        "app.example.com",
        "ftp://x",
        "https://",
        "https://a.example.com/",
        "https://a.example.com/path",
        "https://u@a.com",
        "https://a.*.com",
        "https://*",
        "wss://a.com",
    ],
)
def test_entries_that_are_not_origins_stop_the_cold_start_naming_the_variable(entry: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_origin("JWT_ALLOWED_ORIGINS", entry)
    assert raised.value.variable == "JWT_ALLOWED_ORIGINS"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("HTTPS://APP.EXAMPLE.COM", True),
        ("http://app.example.com", False),  # another scheme is another origin
        ("https://app.example.com:8443", False),  # another port too
        ("https://app.example.com.evil.example", False),
        ("https://evilapp.example.com", False),
        ("http://127.0.0.1:8080", True),
        ("http://127.0.0.1:8081", False),
        ("https://chat.example.org", True),
        ("https://a.b.example.org", False),  # one subdomain level only
        ("https://example.org", False),  # the wildcard needs a label
        ("https://.example.org", False),
        ("https://-x.example.org", False),
        ("https://x_y.example.org", False),
        ("https://evil.com/.example.org", False),
        ("null", False),  # sandboxed frames, file:// pages
    ],
)
def test_matching(origin: str, allowed: bool) -> None:
    assert CHECK.allows(origin) is allowed


def test_an_event_without_origin_passes_unless_one_is_required() -> None:
    CHECK.check(event_with())
    with pytest.raises(Rejected) as raised:
        OriginCheck(("https://app.example.com",), required=True).check(event_with())
    assert raised.value.reason == "bad_origin"


@pytest.mark.parametrize(
    "event",
    [
        event_with("https://evil.example"),
        event_with(""),
        event_with(7),
        event_with(multi=["https://app.example.com", "https://evil.example"]),
        event_with(multi=[]) | {"headers": {"origin": ["https://app.example.com"], "Origin": "https://app.example.com"}},
        event_with(multi=[None]),
    ],
)
def test_origins_of_the_wrong_value_or_shape_are_a_clean_bad_origin(event: dict[str, Any]) -> None:
    with pytest.raises(Rejected) as raised:
        CHECK.check(event)
    assert raised.value.reason == "bad_origin"


def test_origin_is_found_in_any_case_and_in_multi_value_headers() -> None:
    CHECK.check(event_with(multi=["https://app.example.com"]))
    CHECK.check({"headers": {"origin": "https://chat.example.org"}})
    CHECK.check({"headers": None, "multiValueHeaders": {"ORIGIN": ["http://127.0.0.1:8080"]}})


def test_the_check_runs_before_the_token_is_extracted() -> None:
    seen: list[str] = []

    def extract_token(event: Any) -> str:
        seen.append("extracted")
        return "token"

    extract = checking_origin(extract_token, CHECK)
    with pytest.raises(Rejected):
        extract(event_with("https://evil.example"))
    assert seen == []
    assert extract(event_with("https://app.example.com")) == "token"


@given(st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.one_of(st.text(max_size=20), st.none()), max_size=3)))
def test_any_origin_value_is_allowed_or_a_clean_bad_origin(value: Any) -> None:
    for event in (event_with(value), event_with(multi=value)):
        try:
            CHECK.check(event)
        except Rejected as rejection:
            assert rejection.reason == "bad_origin"
