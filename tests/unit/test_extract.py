from __future__ import annotations

from typing import Any

import pytest

from fastauthz.errors import Rejected
from fastauthz.extract import build_extractor
from testkit.events import connect_event

ALL = build_extractor(("header", "query", "protocol", "cookie"), "authorization", "session")
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"


@pytest.mark.parametrize("where", ["header", "query", "protocol", "cookie"])
def test_the_token_is_found_wherever_a_client_can_send_it(where: str) -> None:
    assert ALL(connect_event(TOKEN, where)) == TOKEN


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"])
@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", "BEARER  ", ""])
def test_authorization_header_in_any_case_with_optional_bearer_prefix(name: str, prefix: str) -> None:
    event = connect_event()
    event["headers"][name] = prefix + TOKEN
    assert ALL(event) == TOKEN


def test_multi_value_headers_are_searched_when_headers_lack_it() -> None:
    event = connect_event()
    event["multiValueHeaders"]["authorization"] = ["Bearer " + TOKEN]
    assert ALL(event) == TOKEN
    event["multiValueHeaders"]["authorization"] = ["Bearer a.b.c", "Bearer " + TOKEN]
    with pytest.raises(Rejected):
        ALL(event)


@pytest.mark.parametrize(
    "maps", [{"headers": None, "multiValueHeaders": None, "queryStringParameters": None, "multiValueQueryStringParameters": None}, {}]
)
def test_null_or_absent_maps_mean_no_token(maps: dict[str, Any]) -> None:
    event = connect_event()
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
        event.pop(key)
    event.update(maps)
    with pytest.raises(Rejected) as caught:
        ALL(event)
    assert caught.value.reason == "missing_token"


def test_the_first_present_source_wins_even_if_a_later_one_also_has_a_token() -> None:
    event = connect_event(TOKEN, "query")
    event["headers"]["Authorization"] = "Bearer first.second.third"
    assert ALL(event) == "first.second.third"
    query_first = build_extractor(("query", "header"), "authorization", "")
    assert query_first(event) == TOKEN


def test_query_parameter_is_matched_exactly_then_case_insensitively() -> None:
    event = connect_event()
    event["queryStringParameters"] = {"Authorization": TOKEN}
    assert ALL(event) == TOKEN


def test_subprotocol_entries_that_are_not_a_jws_are_ignored() -> None:
    event = connect_event()
    event["headers"]["Sec-WebSocket-Protocol"] = "graphql-ws, chat.v1"
    with pytest.raises(Rejected):
        ALL(event)
    event["headers"]["Sec-WebSocket-Protocol"] = f"bearer,{TOKEN}"
    assert ALL(event) == TOKEN


def test_two_tokens_in_the_subprotocol_list_are_ambiguous_and_refused() -> None:
    event = connect_event()
    event["headers"]["Sec-WebSocket-Protocol"] = f"{TOKEN}, {TOKEN}x"
    with pytest.raises(Rejected) as caught:
        ALL(event)
    assert caught.value.reason == "malformed"


def test_cookie_is_found_among_others_and_quotes_are_removed() -> None:
    event = connect_event()
    event["headers"]["cookie"] = f'a=1; session="{TOKEN}"; b=2'
    assert ALL(event) == TOKEN


def test_a_disabled_source_is_not_read() -> None:
    header_only = build_extractor(("header",), "authorization", "")
    with pytest.raises(Rejected):
        header_only(connect_event(TOKEN, "query"))


def test_empty_values_count_as_absent() -> None:
    event = connect_event()
    event["headers"]["Authorization"] = "Bearer "
    with pytest.raises(Rejected) as caught:
        ALL(event)
    assert caught.value.reason == "missing_token"
