"""Events messages decoded whole (one pass) and event by event give the same batch, good or bad.

decode_events_message decodes a batch valid throughout in one pass and leaves any other to the
event-by-event path that names each bad event. These tests hold the two side by side over
valid batches of every event type and over batches broken in many small ways: the events,
bodies (as sent and typed), times, dead reasons and rejections must be identical.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.ingest.decode import DecodedBatch, Rejection, decode_events_message
from protocol.bodies import EVENT_TYPES
from protocol.codec import decode_batch_typed, encode_batch
from protocol.envelope import Batch
from protocol.topics import events_topic
from tests.protocol.samples import envelope

TOPIC = events_topic("S001", "S001-T01")

#: Values put where another value was: wrong types, out of bounds, the edges of each check.
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 1.0, 1.5, 2**63, 2**70, "", "x" * 300, "\u0000", "é\\\"",
    [], [1], {}, {"a": 1}, "2026-11-23T06:30:15Z", "2026-11-23T06:30:15+08:00", "S001",
    "S001-T02", "sale", "refund", "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10",
]  # fmt: skip


def _payload(types: list[str]) -> dict[str, Any]:
    events = [envelope(seq, kind) for seq, kind in enumerate(types, start=1)]
    batch = Batch(terminal_id="S001-T01", store_id="S001", events=events)
    result: dict[str, Any] = json.loads(encode_batch(batch))
    return result


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every object and list inside ``node`` (the node itself first)."""
    found = [path]
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, dict | list):
            found += _containers(value, (*path, key))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def _both(payload: bytes, topic: str = TOPIC) -> tuple[DecodedBatch | Rejection, ...]:
    whole = decode_events_message(topic, payload)
    loose = decode_events_message(topic, payload, whole_first=False)
    return whole, loose


def _assert_same(payload: bytes, topic: str = TOPIC) -> DecodedBatch | Rejection:
    whole, loose = _both(payload, topic)
    assert whole == loose
    if isinstance(whole, DecodedBatch) and isinstance(loose, DecodedBatch):
        for a, b in zip(whole.events, loose.events, strict=True):
            # Same keys in the order sent too: a dead letter keeps the body as it came.
            assert list(a.body) == list(b.body)
            assert type(a.typed) is type(b.typed)
            assert a.device_time == b.device_time
    return whole


def test_every_event_type_decodes_whole_and_the_same_as_event_by_event() -> None:
    payload = json.dumps(_payload(sorted(EVENT_TYPES))).encode()
    assert decode_batch_typed(payload) is not None  # the one-pass path is the one taken
    decoded = _assert_same(payload)
    assert isinstance(decoded, DecodedBatch)
    assert [e.type for e in decoded.events] == sorted(EVENT_TYPES)
    assert all(e.dead_reason is None and e.typed is not None for e in decoded.events)
    sale = next(e for e in decoded.events if e.type == "sale")
    assert sale.rules_version == "" and sale.body["receipt_no"] == "S001-T01-000042"


def test_a_batch_out_of_seq_order_is_sorted_the_same_way() -> None:
    data = _payload(["sale", "feedback", "audit"])
    data["events"].reverse()
    decoded = _assert_same(json.dumps(data).encode())
    assert isinstance(decoded, DecodedBatch) and [e.seq for e in decoded.events] == [1, 2, 3]


def test_one_bad_event_leaves_the_whole_path_and_is_named_in_its_place() -> None:
    data = _payload(["sale", "sale", "sale"])
    data["events"][1]["body"]["total_fen"] = -5
    payload = json.dumps(data).encode()
    assert decode_batch_typed(payload) is None
    decoded = _assert_same(payload)
    assert isinstance(decoded, DecodedBatch)
    assert [e.dead_reason is None for e in decoded.events] == [True, False, True]
    assert "total_fen" in str(decoded.events[1].dead_reason)


def test_an_event_of_another_version_is_dead_in_its_place_on_both_paths() -> None:
    data = _payload(["feedback", "feedback"])
    data["events"][0]["v"] = 2
    decoded = _assert_same(json.dumps(data).encode())
    assert isinstance(decoded, DecodedBatch)
    assert "WrongVersion" in str(decoded.events[0].dead_reason)
    assert decoded.events[1].dead_reason is None


def test_a_batch_of_another_version_is_rejected_the_same_way() -> None:
    data = _payload(["feedback"])
    data["v"] = 2
    assert isinstance(_assert_same(json.dumps(data).encode()), Rejection)


@pytest.mark.parametrize(
    ("field", "value"),
    [("epoch", "5A1E"), ("epoch", "5a1e\n"), ("epoch", "0" * 33), ("epoch", "5a1e"),
     ("terminal_id", "S001-T01\n"), ("store_id", "S001 "), ("id", "x")],
)  # fmt: skip
def test_envelope_fields_are_checked_the_same_on_both_paths(field: str, value: str) -> None:
    data = _payload(["sale", "feedback"])
    data["events"][1][field] = value
    decoded = _assert_same(json.dumps(data).encode())
    assert isinstance(decoded, DecodedBatch)
    assert decoded.events[0].dead_reason is None


@pytest.mark.parametrize("value", [2**70, 10**30, 1.0, 1e3, -0.0, True, "1"])
def test_numbers_at_the_edges_decode_the_same_on_both_paths(value: object) -> None:
    data = _payload(["epoch_started", "feedback"])
    data["events"][0]["body"]["cloud_high_water"] = value  # an int bounded below only
    data["events"][1]["body"]["rating"] = value
    _assert_same(json.dumps(data).encode())


def test_a_key_sent_twice_counts_once_the_same_way() -> None:
    text = json.dumps(_payload(["feedback"]))
    payload = text.replace('"rating": 5', '"rating": 1, "rating": 4').encode()
    decoded = _assert_same(payload)
    assert isinstance(decoded, DecodedBatch) and decoded.events[0].body["rating"] == 4


def test_a_batch_from_another_till_than_its_topic_is_rejected_the_same_way() -> None:
    payload = json.dumps(_payload(["sale"])).encode()
    assert isinstance(_assert_same(payload, events_topic("S001", "S001-T02")), Rejection)


def _mutate(data: dict[str, Any], draw: st.DrawFn) -> str:
    """Break ``data`` in one small way; returns what was done (for the failure message)."""
    path = draw(st.sampled_from(_containers(data)))
    node = _at(data, path)
    if not node:
        node_keys: list[Any] = []
    else:
        node_keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    how = draw(st.sampled_from(["set", "drop", "add", "retype"]))
    if how == "add" or not node_keys:
        if isinstance(node, dict):
            node[draw(st.sampled_from(["extra", "v", "type", "seq"]))] = 1
        else:
            node.append(copy.deepcopy(draw(st.sampled_from(ODD_VALUES))))
        return f"add at {path}"
    key = draw(st.sampled_from(node_keys))
    if how == "drop":
        del node[key]
    elif how == "retype":
        node[key] = draw(st.sampled_from([*EVENT_TYPES, "unknown", "Sale"]))
    else:
        node[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    return f"{how} {path}/{key}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_broken_batches_decode_the_same_on_both_paths(data: st.DataObject) -> None:
    types = data.draw(st.lists(st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=4))
    batch = _payload(types)
    done = [_mutate(batch, data.draw) for _ in range(data.draw(st.integers(0, 3)))]
    payload = json.dumps(batch, ensure_ascii=data.draw(st.booleans())).encode()
    whole, loose = _both(payload)
    assert whole == loose, done
    if isinstance(whole, DecodedBatch) and isinstance(loose, DecodedBatch):
        for a, b in zip(whole.events, loose.events, strict=True):
            assert list(a.body) == list(b.body), done
