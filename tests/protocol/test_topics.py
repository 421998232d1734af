"""Topic builders and parsers: the exact strings of the contract, and no way to inject levels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import topics
from protocol.errors import BadTopic, ProtocolError


def test_builders_spell_the_contract() -> None:
    assert topics.events_topic("S001", "S001-T01") == "pos/v1/S001/S001-T01/events"
    assert topics.ack_topic("S001", "S001-T01") == "pos/v1/S001/S001-T01/ack"
    assert topics.status_topic("S001", "S001-T01") == "pos/v1/S001/S001-T01/status"
    assert topics.catchup_topic("S001", "S001-T01") == "pos/v1/S001/S001-T01/catchup"
    assert topics.down_topic("S001", "prices") == "pos/v1/down/S001/prices"
    assert topics.down_topic("all", "catalogue") == "pos/v1/down/all/catalogue"
    assert (
        topics.terminal_down_topic("S001", "S001-T01", "members")
        == "pos/v1/S001/S001-T01/down/members"
    )
    assert topics.INGEST_SHARED_SUBSCRIPTION == "$share/ingest/pos/v1/+/+/events"
    assert topics.store_down_filter("S001") == "pos/v1/down/S001/#"
    assert topics.terminal_down_filter("S001", "S001-T01") == "pos/v1/S001/S001-T01/down/#"


def test_parsers_return_the_ids() -> None:
    assert topics.parse_events_topic("pos/v1/S001/S001-T01/events") == ("S001", "S001-T01")
    assert topics.parse_status_topic("pos/v1/S002/T9/status") == ("S002", "T9")
    assert topics.parse_catchup_topic("pos/v1/S002/T9/catchup") == ("S002", "T9")
    assert topics.parse_ack_topic("pos/v1/S002/T9/ack") == ("S002", "T9")
    assert topics.parse_down_topic("pos/v1/down/all/config") == ("all", None, "config")
    assert topics.parse_down_topic("pos/v1/down/S003/coupons") == ("S003", None, "coupons")
    assert topics.parse_down_topic("pos/v1/S003/T1/down/members") == ("S003", "T1", "members")


@pytest.mark.parametrize(
    "topic",
    [
        "pos/v1/S001/S001-T01/status",  # wrong leaf
        "pos/v2/S001/S001-T01/events",  # other version
        "pos/v1/S001/events",  # level missing
        "pos/v1/S001/T1/x/events",  # level extra
        "pos/v1/+/+/events",  # a filter, not a topic
        "pos/v1/S001/#/events",
        "pos/v1/all/T1/events",  # reserved word as store id
        "",
        "/pos/v1/S001/T1/events",
    ],
)
def test_parse_events_topic_rejects(topic: str) -> None:
    with pytest.raises(BadTopic):
        topics.parse_events_topic(topic)


@pytest.mark.parametrize(
    "bad_id", ["", "a/b", "+", "#", "S 001", "x" * 33, "all", "down", "é", "S001\n"]
)
def test_invalid_ids_are_refused_everywhere(bad_id: str) -> None:
    for build in (
        lambda: topics.events_topic(bad_id, "T1"),
        lambda: topics.events_topic("S1", bad_id),
        lambda: topics.ack_topic("S1", bad_id),
        lambda: topics.terminal_down_topic(bad_id, "T1", "prices"),
    ):
        with pytest.raises(BadTopic, match="id"):
            build()


def test_unknown_stream_is_refused() -> None:
    with pytest.raises(BadTopic, match="stream 'stock'"):
        topics.down_topic("S001", "stock")
    with pytest.raises(BadTopic):
        topics.parse_down_topic("pos/v1/down/S001/stock")
    with pytest.raises(BadTopic):
        topics.parse_down_topic("pos/v1/S001/T1/events")


@settings(max_examples=300, deadline=None)
@given(store=st.text(max_size=40), terminal=st.text(max_size=40))
def test_any_accepted_ids_round_trip_through_exactly_five_levels(store: str, terminal: str) -> None:
    try:
        topic = topics.events_topic(store, terminal)
    except ProtocolError:
        return
    assert topic.count("/") == 4
    assert not set("+#\x00") & set(topic)
    assert topics.parse_events_topic(topic) == (store, terminal)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r"pos/v1/[^/]{0,8}/[^/]{0,8}/events")))
def test_any_text_parses_back_to_itself_or_raises_bad_topic(topic: str) -> None:
    # Anything else (IndexError, TypeError...) would crash an ingest worker on junk topics.
    try:
        store, terminal = topics.parse_events_topic(topic)
    except BadTopic:
        return
    assert topics.events_topic(store, terminal) == topic


def test_only_topics_whose_messages_count_once_refuse_retained_copies() -> None:
    base = "pos/v1/S001/S001-T01"
    for leaf in ("events", "catchup", "hello", "req"):
        assert topics.never_retained(f"{base}/{leaf}")
    # Retained by design: the terminal's health and the certificate exchange.
    for leaf in ("status", "renew", "cert", "ack", "reply"):
        assert not topics.never_retained(f"{base}/{leaf}")
    assert not topics.never_retained("pos/v1/down/all/prices")
    assert not topics.never_retained("other/v1/S001/S001-T01/req")
