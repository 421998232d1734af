"""The one-pass decode checks event ids and device times per batch: exactly as msgspec would.

decode_batch_typed reads an envelope's id and device time as plain strings and checks them
once per batch (ids in one pass, each distinct time once); a value the envelope's own pattern
refuses, or one it accepts at the edge (a trailing newline: the pattern's "$" allows one), must
decode the same on the one-pass path as event by event.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.decode import DecodedBatch, Rejection, decode_events_message
from protocol.codec import decode_batch_typed, encode_batch
from protocol.envelope import Batch
from protocol.topics import events_topic
from tests.protocol.samples import envelope

TOPIC = events_topic("S001", "S001-T01")
GOOD_ID = "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10"


def _payload(n: int) -> dict[str, Any]:
    events = [envelope(seq, "sale") for seq in range(1, n + 1)]
    batch = Batch(terminal_id="S001-T01", store_id="S001", events=events)
    result: dict[str, Any] = json.loads(encode_batch(batch))
    return result


def _outcome(payload: bytes, whole_first: bool) -> Any:
    try:
        return decode_events_message(TOPIC, payload, whole_first=whole_first)
    except ValueError as err:  # a time its pattern allows but Python cannot read
        return ("raised", type(err), str(err))


def _assert_same(payload: bytes) -> DecodedBatch | Rejection:
    whole, loose = _outcome(payload, True), _outcome(payload, False)
    assert whole == loose
    return whole  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", GOOD_ID.upper()), ("id", GOOD_ID + "\n"), ("id", GOOD_ID + "\n\n"),
     ("id", GOOD_ID[:-1]), ("id", " " + GOOD_ID), ("id", GOOD_ID.replace("-", "_")),
     ("device_time", "2026-11-23T06:30:15.123456Z"), ("device_time", "2026-11-23T06:30:15+00:00"),
     ("device_time", "2026-11-23T06:30:15+08:00"), ("device_time", "2026-11-23T06:30:15Z\n"),
     ("device_time", "2026-11-23 06:30:15Z"), ("device_time", "")],
)  # fmt: skip
def test_an_odd_id_or_time_decodes_the_same_on_both_paths(field: str, value: str) -> None:
    data = _payload(3)
    data["events"][1][field] = value
    _assert_same(json.dumps(data).encode())


def test_a_valid_batch_is_decoded_in_one_pass() -> None:
    data = _payload(3)
    data["events"][0]["id"] = GOOD_ID.upper()
    data["events"][2]["device_time"] = "2026-11-23T06:30:15.5+00:00"
    payload = json.dumps(data).encode()
    assert decode_batch_typed(payload) is not None
    assert isinstance(_assert_same(payload), DecodedBatch)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["id", "device_time"]),
            st.text(alphabet="0123456789abcdefABCDEF-:TZ+.\n ", max_size=40)
            | st.sampled_from([GOOD_ID, GOOD_ID + "\n", "2026-11-23T06:30:15Z"]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_ids_and_times_decode_the_same_on_both_paths(changes: list[tuple[str, str]]) -> None:
    data = _payload(len(changes))
    for event, (field, value) in zip(data["events"], changes, strict=True):
        event[field] = value
    _assert_same(json.dumps(data).encode())
