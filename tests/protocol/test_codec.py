"""Encoding and decoding: round trips, every rejection reason, junk that only fails cleanly."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import codec
from protocol.envelope import (
    MAX_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    Ack,
    Batch,
    CatchupRequest,
    DownChange,
    Status,
)
from protocol.errors import (
    MalformedPayload,
    Oversized,
    ProtocolError,
    SchemaError,
    WrongVersion,
)
from tests.protocol.samples import batch, envelope, sample_bodies


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _batch_dict(*seqs: int) -> dict[str, object]:
    result: dict[str, object] = json.loads(codec.encode_batch(batch(*seqs)))
    return result


def test_batch_round_trip_keeps_every_field() -> None:
    sent = Batch(
        terminal_id="S001-T01",
        store_id="S001",
        events=[envelope(seq, t) for seq, t in enumerate(sorted(sample_bodies()), start=1)],
    )
    got = codec.decode_batch(codec.encode_batch(sent))
    assert got == sent
    assert [e.seq for e in got.events] == list(range(1, len(sample_bodies()) + 1))
    # Wire text is plain JSON any other tool can read, Chinese included.
    assert json.loads(codec.encode_batch(sent))["events"][0]["type"] == "audit"


def test_control_messages_round_trip() -> None:
    ack = Ack(terminal_id="S001-T01", acked_seq=41, dead_lettered=[17])
    assert codec.decode_ack(codec.encode_ack(ack)) == ack
    assert codec.decode_ack(b'{"v":1,"terminal_id":"T","acked_seq":0}').dead_lettered == []
    status = Status(
        terminal_id="S001-T01",
        store_id="S001",
        online=True,
        outbox_depth=3,
        oldest_unsynced_s=12.5,
        stream_versions={"prices": 7},
        clock_synced=False,
        printer="paper_low",
        software_version="0.1.0",
        sent_at="2026-11-23T06:30:15Z",
    )
    assert codec.decode_status(codec.encode_status(status)) == status
    req = CatchupRequest(terminal_id="S001-T01", store_id="S001", streams={"members": 0})
    assert codec.decode_catchup(codec.encode_catchup(req)) == req
    down = DownChange(
        stream="prices",
        version=8,
        scope="all",
        kind="snapshot_chunk",
        items=[{"sku": "MILK-1L", "price_fen": 350}],
        chunk=1,
        chunks=3,
        snapshot_id="snap-1",
    )
    assert codec.decode_down(codec.encode_down(down)) == down


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"\xff\xfe", b"not json", b'{"v":1,}', b"\x00" * 10],
)
def test_not_json(payload: bytes) -> None:
    with pytest.raises(MalformedPayload, match=r"^not JSON: "):
        codec.decode_batch(payload)


def test_wrong_version_is_named_before_schema() -> None:
    # A v7 batch may look nothing like v1; the reason must still be the version.
    with pytest.raises(WrongVersion) as info:
        codec.decode_batch(_json({"v": 7, "whatever": []}))
    assert str(info.value) == "protocol version 7 not supported (this side speaks 1)"
    good = _batch_dict(1)
    good["v"] = 2
    with pytest.raises(WrongVersion, match="version 2"):
        codec.decode_batch(_json(good))
    with pytest.raises(WrongVersion, match="version 7"):
        codec.decode_ack(b'{"v":7,"terminal_id":"T","acked_seq":1}')


def test_event_inside_batch_with_wrong_version() -> None:
    d = _batch_dict(1, 2)
    d["events"][1]["v"] = 3  # type: ignore[index]
    with pytest.raises(WrongVersion, match=r"events\[1\]: protocol version 3"):
        codec.decode_batch(_json(d))


def test_oversized_payload() -> None:
    payload = b" " * (300 * 1024)
    with pytest.raises(Oversized) as info:
        codec.decode_batch(payload)
    assert str(info.value) == "payload 300 KiB exceeds 256 KiB"
    with pytest.raises(Oversized, match="exceeds 64 KiB"):
        codec.decode_status(b" " * (65 * 1024))


def test_too_many_events() -> None:
    big = batch(*range(1, MAX_EVENTS_PER_BATCH + 2))
    with pytest.raises(Oversized, match=f"{MAX_EVENTS_PER_BATCH + 1} events"):
        codec.encode_batch(big)
    raw = msgspec.json.encode(big)  # bypass the encoder's own check
    with pytest.raises(Oversized, match="more than"):
        codec.decode_batch(raw)


def test_encoder_refuses_a_batch_over_the_byte_limit() -> None:
    fat = envelope(1, "feedback", {"sale_id": "x", "rating": 3, "comment": "z" * MAX_BATCH_BYTES})
    with pytest.raises(Oversized, match="exceeds 256 KiB"):
        codec.encode_batch(Batch(terminal_id="S001-T01", store_id="S001", events=[fat]))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["events"][0].update(seq=0), "events[0].seq: Expected int >= 1"),
        (lambda d: d["events"][0].update(seq="1"), "events[0].seq: Expected int, got str"),
        (lambda d: d["events"][0].update(id="not-a-uuid"), "events[0].id"),
        (lambda d: d["events"][0].update(device_time="yesterday"), "events[0].device_time"),
        (lambda d: d["events"][0].update(device_time="2026-11-23T06:30:15+08:00"), "device_time"),
        (lambda d: d["events"][0].update(extra=1), "extra"),
        (lambda d: d["events"][0].pop("clock_synced"), "clock_synced"),
        (lambda d: d.update(terminal_id="S001/T01"), "terminal_id"),
        (lambda d: d.update(terminal_id="+"), "terminal_id"),
        (lambda d: d.update(events={}), "events: Expected array, got object"),
        (lambda d: d.update(events=[]), "at least one event"),
        (lambda d: d["events"][0].update(terminal_id="S001-T02"), "in a batch of S001/S001-T01"),
    ],
)
def test_schema_errors_name_the_field(mutate: object, message: str) -> None:
    d = _batch_dict(1)
    mutate(d)  # type: ignore[operator]
    with pytest.raises(SchemaError) as info:
        codec.decode_batch(_json(d))
    assert message in str(info.value)


def test_top_level_not_an_object() -> None:
    with pytest.raises(SchemaError, match="Expected object, got array"):
        codec.decode_batch(b"[1, 2]")


def test_check_origin_refuses_a_batch_claiming_another_terminal() -> None:
    b = batch(1)
    codec.check_origin(b, "S001", "S001-T01")
    with pytest.raises(SchemaError, match="arrived on the topic of S001/S001-T02"):
        codec.check_origin(b, "S001", "S001-T02")


def test_down_change_chunk_must_be_below_chunks() -> None:
    bad = (
        b'{"v":1,"stream":"prices","version":3,"scope":"S001","kind":"snapshot_chunk",'
        b'"items":[],"chunk":2,"chunks":2}'
    )
    with pytest.raises(SchemaError, match="chunk: 2 is not below chunks=2"):
        codec.decode_down(bad)
    with pytest.raises(SchemaError, match="stream"):
        codec.decode_down(bad.replace(b'"prices"', b'"stock"'))


def test_pack_batches_respects_both_limits_and_keeps_order() -> None:
    events = [envelope(s) for s in range(1, 2 * MAX_EVENTS_PER_BATCH + 11)]
    packed = list(codec.pack_batches("S001", "S001-T01", events))
    assert [len(b.events) for b in packed] == [MAX_EVENTS_PER_BATCH, MAX_EVENTS_PER_BATCH, 10]
    assert [e.seq for b in packed for e in b.events] == list(
        range(1, 2 * MAX_EVENTS_PER_BATCH + 11)
    )

    # ~40 KiB events: at most 6 fit under 256 KiB with the batch's own overhead.
    fat = [
        envelope(s, "feedback", {"sale_id": "x", "rating": 3, "comment": "z" * 40_000})
        for s in range(1, 15)
    ]
    packed = list(codec.pack_batches("S001", "S001-T01", fat))
    assert [len(b.events) for b in packed] == [6, 6, 2]
    for b in packed:
        assert len(codec.encode_batch(b)) <= MAX_BATCH_BYTES

    huge = envelope(1, "feedback", {"sale_id": "x", "rating": 3, "comment": "z" * MAX_BATCH_BYTES})
    with pytest.raises(Oversized, match="event seq 1"):
        list(codec.pack_batches("S001", "S001-T01", [huge]))


DECODERS = [
    codec.decode_batch,
    codec.decode_ack,
    codec.decode_status,
    codec.decode_catchup,
    codec.decode_down,
    codec.decode_envelope,
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_protocol_error(payload: bytes) -> None:
    for decode in DECODERS:
        with pytest.raises(ProtocolError):
            decode(payload)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_arbitrary_json_only_raises_protocol_error(value: object) -> None:
    payload = _json(value)
    for decode in DECODERS:
        with pytest.raises(ProtocolError):
            decode(payload)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_valid_batches_fail_cleanly_or_decode_consistently(data: st.DataObject) -> None:
    good = bytearray(codec.encode_batch(batch(1, 2, type_="sale")))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    try:
        decoded = codec.decode_batch(bytes(good))
    except ProtocolError:
        return
    # A corruption that still parses must still be a self-consistent batch of one terminal.
    assert {(e.store_id, e.terminal_id) for e in decoded.events} == {
        (decoded.store_id, decoded.terminal_id)
    }
    for env in decoded.events:
        try:
            body = codec.decode_event_body(env)
        except ProtocolError:
            continue
        assert codec.body_to_dict(body) == env.body


def test_status_problem_is_optional_and_bounded() -> None:
    # Written by hand as a terminal without the field would send it.
    older = (
        b'{"v":1,"terminal_id":"S001-T01","store_id":"S001","online":true,"outbox_depth":0,'
        b'"oldest_unsynced_s":null,"stream_versions":{},"clock_synced":true,"printer":"ok",'
        b'"software_version":"0.9","sent_at":"2026-11-23T06:30:15Z"}'
    )
    assert codec.decode_status(older).last_problem == ""
    newer = older[:-1] + b',"last_problem":"ack: not JSON"}'
    assert codec.decode_status(newer).last_problem == "ack: not JSON"
    too_long = older[:-1] + b',"last_problem":"' + b"x" * 501 + b'"}'
    with pytest.raises(SchemaError, match="last_problem"):
        codec.decode_status(too_long)
