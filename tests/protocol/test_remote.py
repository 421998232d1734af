"""Requests and replies on the wire: exact JSON, every bound refused, tags checked."""

from __future__ import annotations

import json
import uuid

import msgspec
import pytest

from protocol import remote, topics
from protocol.errors import BadTopic, MalformedPayload, Oversized, SchemaError, WrongVersion
from tests.cloud.factories import sale_body

RID = "0123456789abcdef"


def _check(**fields: object) -> dict[str, object]:
    base = {
        "kind": "coupon_check",
        "v": 1,
        "id": RID,
        "terminal_id": "S001-T01",
        "store_id": "S001",
        "code": "BDAY-20",
        "total_fen": 10_000,
    }
    return {**base, **fields}


def test_topics_of_the_channel() -> None:
    assert topics.request_topic("S001", "S001-T01") == "pos/v1/S001/S001-T01/req"
    assert topics.reply_topic("S001", "S001-T01") == "pos/v1/S001/S001-T01/reply"
    assert topics.parse_request_topic("pos/v1/S002/T9/req") == ("S002", "T9")
    assert topics.parse_reply_topic("pos/v1/S002/T9/reply") == ("S002", "T9")
    for bad in ("pos/v1/S002/T9/reply", "pos/v1/+/T9/req", "pos/v1/S002/T9/req/x"):
        with pytest.raises(BadTopic):
            topics.parse_request_topic(bad)


def test_a_coupon_check_round_trips_with_its_kind_tag() -> None:
    request = remote.decode_request(json.dumps(_check()).encode())
    assert isinstance(request, remote.CouponCheck)
    assert (request.code, request.total_fen, request.requested_fen, request.member_id) == (
        "BDAY-20",
        10_000,
        0,
        None,
    )
    assert json.loads(remote.encode_request(request)) == {
        **_check(),
        "member_id": None,
        "requested_fen": 0,
    }


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"kind": "open_drawer"}, SchemaError, "kind"),
        ({"id": "not-hex!"}, SchemaError, "id"),
        ({"id": "abc"}, SchemaError, "id"),  # shorter than 8
        ({"code": ""}, SchemaError, "code"),
        ({"code": "BDAY 20"}, SchemaError, "code"),
        ({"code": "C" * 65}, SchemaError, "code"),
        ({"total_fen": -1}, SchemaError, "total_fen"),
        ({"total_fen": 10_000_000_001}, SchemaError, "total_fen"),
        ({"terminal_id": "S001/T01"}, SchemaError, "terminal_id"),
        ({"drawer": "open"}, SchemaError, "drawer"),
        ({"v": 2}, WrongVersion, "version"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(
    fields: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        remote.decode_request(json.dumps(_check(**fields)).encode())


def test_garbage_and_huge_payloads_are_refused() -> None:
    with pytest.raises(MalformedPayload):
        remote.decode_request(b"\xff{not json")
    with pytest.raises(Oversized):
        remote.decode_request(b" " * (remote.MAX_REQUEST_BYTES + 1))


def test_a_return_claim_needs_lines_and_a_uuid() -> None:
    claim = {
        "kind": "return_claim",
        "id": RID,
        "terminal_id": "S002-T01",
        "store_id": "S002",
        "return_id": str(uuid.uuid4()),
        "original_sale_id": str(uuid.uuid4()),
        "receipt_no": "S001-T01-20261123-0001",
        "lines": [{"line_no": 1, "units": 2}],
    }
    decoded = remote.decode_request(json.dumps(claim).encode())
    assert isinstance(decoded, remote.ReturnClaim) and decoded.lines[0].units == 2
    for bad in (
        {"lines": []},
        {"return_id": "R1"},
        {"lines": [{"line_no": 0, "units": 1}]},
        {"lines": [{"line_no": 1, "units": 0}]},
    ):
        with pytest.raises(SchemaError):
            remote.decode_request(json.dumps({**claim, **bad}).encode())


def test_a_receipt_reply_carries_the_whole_sale() -> None:
    body = msgspec.convert(sale_body([("RICE", 2, 11_980), ("MILK", 1, 1250)]), remote.SaleBody)
    reply = remote.ReceiptFound(
        id=RID,
        terminal_id="S002-T01",
        receipt_no="S001-T01-20261123-0001",
        sale_store_id="S001",
        sale_terminal_id="S001-T01",
        sale=body,
        returned=[remote.ClaimLine(line_no=1, units=1)],
        member_returns_30d=2,
    )
    back = remote.decode_reply(remote.encode_reply(reply))
    assert back == reply and isinstance(back, remote.ReceiptFound)
    assert back.sale.total_fen == 13_230


def test_every_refusal_reason_fits_the_reason_pattern() -> None:
    for reason in remote.REFUSALS:
        reply = remote.Refused(id=RID, terminal_id="T1", reason=reason)
        assert remote.decode_reply(remote.encode_reply(reply)) == reply
    with pytest.raises(SchemaError, match="reason"):
        remote.decode_reply(
            json.dumps(
                {"kind": "refused", "id": RID, "terminal_id": "T1", "reason": "Nope!"}
            ).encode()
        )
