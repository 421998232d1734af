"""Event bodies mirror device/checkout/records.py: every record the till makes fits the wire."""

from __future__ import annotations

import dataclasses
import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout import records as r
from protocol import bodies, codec
from protocol.bounds import MAX_FEN, MAX_POINTS
from protocol.envelope import Batch
from protocol.errors import SchemaError, UnknownEventType
from tests.protocol.samples import (
    envelope,
    record_to_wire,
    return_record,
    sale_record,
    sample_bodies,
    shift_report,
)

# (record dataclass, body struct, fields the body adds on top of the record)
MIRRORS = [
    (r.SaleRecord, bodies.SaleBody, {"receipt_no"}),
    (r.SaleLine, bodies.SaleLineBody, set()),
    (r.Discount, bodies.DiscountBody, set()),
    (r.TenderLine, bodies.TenderLineBody, set()),
    (r.PointsDelta, bodies.PointsDeltaBody, set()),
    (r.ReturnRecord, bodies.ReturnBody, {"receipt_no"}),
    (r.ReturnLine, bodies.ReturnLineBody, set()),
    (r.CashMovement, bodies.CashMovementBody, set()),
    (r.AuditEntry, bodies.AuditBody, set()),
    (r.ShiftReport, bodies.ShiftClosedBody, {"closed_by", "device_time"}),
    (
        r.Member,
        bodies.MemberRegisteredBody,
        {"gender", "cards", "registered_by", "device_time", "registered_at"},
    ),
]


def _body_defaults(body: type) -> dict[str, object]:
    names = body.__struct_fields__
    defaults = body.__struct_defaults__
    return dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))


@pytest.mark.parametrize(("record", "body", "extra"), MIRRORS, ids=[m[0].__name__ for m in MIRRORS])
def test_body_has_exactly_the_record_fields(record: type, body: type, extra: set[str]) -> None:
    assert set(body.__struct_fields__) == {f.name for f in dataclasses.fields(record)} | extra
    # A field optional on one side is optional on the other (so old records still decode).
    body_defaults = _body_defaults(body)
    for f in dataclasses.fields(record):
        rec_optional = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        assert rec_optional == (f.name in body_defaults), f.name


def test_enum_literals_match_the_record_enums() -> None:
    assert set(bodies.TierName.__args__) == {t.value for t in r.Tier}
    assert set(bodies.TenderKindName.__args__) == {t.value for t in r.TenderKind}
    assert set(bodies.PointsReasonName.__args__) == {p.value for p in r.PointsReason}


def test_a_real_sale_record_validates_as_sale_body() -> None:
    wire = {**record_to_wire(sale_record()), "receipt_no": "S001-T01-000042"}
    body = msgspec.convert(wire, bodies.SaleBody)
    assert body.total_fen == 2146
    assert body.lines[1].weight_g == 1234
    assert body.lines[0].discounts[0].amount_fen == 35
    assert body.tenders[0].kind == "cash"
    assert body.member_tier == "silver"
    assert body.device_time == "2026-11-23T06:30:15.250000+00:00"
    # The device side may serialise with msgspec.to_builtins ("Z" instead of "+00:00").
    via_msgspec = {**msgspec.to_builtins(sale_record()), "receipt_no": "S001-T01-000042"}
    other = msgspec.convert(via_msgspec, bodies.SaleBody)
    assert msgspec.structs.replace(other, device_time=body.device_time) == body


def test_return_and_shift_records_validate() -> None:
    ret = msgspec.convert(
        {**record_to_wire(return_record()), "receipt_no": "R1"}, bodies.ReturnBody
    )
    assert ret.refunds[0].amount_fen == 333 and ret.clock_synced is False
    z = {**record_to_wire(shift_report()), "closed_by": "M01"}
    z |= {"device_time": "2026-11-23T14:00:00+00:00"}
    assert msgspec.convert(z, bodies.ShiftClosedBody).difference_fen == -13


@pytest.mark.parametrize("type_", sorted(bodies.EVENT_TYPES))
def test_every_event_type_decodes_to_its_body(type_: str) -> None:
    body = codec.decode_event_body(envelope(1, type_))
    assert isinstance(body, bodies.EVENT_TYPES[type_])
    # And back: the dict a typed body produces validates again to an equal body.
    assert codec.decode_event_body(envelope(1, type_, codec.body_to_dict(body))) == body


@pytest.mark.parametrize(
    ("type_", "change", "message"),
    [
        (
            "sale",
            lambda b: b["lines"][0].update(net_fen="665"),
            "sale.lines[0].net_fen: Expected int, got str",
        ),
        ("sale", lambda b: b.pop("receipt_no"), "receipt_no"),
        ("sale", lambda b: b.update(member_tier="platinum"), "sale.member_tier"),
        ("sale", lambda b: b["tenders"][0].update(kind="bitcoin"), "sale.tenders[0].kind"),
        ("sale", lambda b: b.update(device_time="2026-11-23T06:30:15"), "sale.device_time"),
        ("sale", lambda b: b.update(surprise=1), "surprise"),
        ("sale", lambda b: b.update(total_fen=-1), "sale.total_fen: Expected int >= 0"),
        ("sale", lambda b: b["tenders"][0].update(amount_fen=-5), "sale.tenders[0].amount_fen"),
        ("return", lambda b: b.update(refund_fen=-333), "return.refund_fen"),
        ("feedback", lambda b: b.update(rating=6), "feedback.rating: Expected int <= 5"),
        ("feedback", lambda b: b.update(rating=0), "feedback.rating: Expected int >= 1"),
        (
            "member_registered",
            lambda b: b.update(birthday="17/05/1990"),
            "member_registered.birthday",
        ),
        ("shift_closed", lambda b: b.update(kind="X"), "shift_closed.kind"),
        ("shift_opened", lambda b: b.update(float_fen=-1), "shift_opened.float_fen"),
        ("complaint", lambda b: b.update(status="lost"), "complaint.status"),
        ("feedback", lambda b: b.pop("device_time"), "device_time"),
    ],
)
def test_bad_bodies_name_the_field(type_: str, change: object, message: str) -> None:
    body = sample_bodies()[type_]
    change(body)  # type: ignore[operator]
    with pytest.raises(SchemaError) as info:
        codec.decode_event_body(envelope(1, type_, body))
    assert message in str(info.value)


def test_unknown_event_type_is_named() -> None:
    env = msgspec.structs.replace(envelope(1), type="teleport")
    with pytest.raises(UnknownEventType, match="'teleport' is not one of"):
        codec.decode_event_body(env)


# Within the wire's bounds (protocol.bounds); what lies outside is refused, tested elsewhere.
_money = st.integers(min_value=0, max_value=MAX_FEN)
_signed = st.integers(min_value=-MAX_POINTS, max_value=MAX_POINTS)
_text = st.text(max_size=12)
_key = st.text(min_size=1, max_size=12)  # ids and SKUs are never empty
_points = st.integers(min_value=0, max_value=MAX_POINTS)
_aware = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
_line = st.builds(
    r.SaleLine,
    line_no=st.integers(1, 500),
    sku=_key,
    barcode=_text,
    name_zh=_text,
    name_en=_text,
    category=_text,
    quantity=st.integers(1, 999),
    weight_g=st.none() | st.integers(1, 99999),
    unit_price_fen=_money,
    gross_fen=_money,
    discounts=st.lists(st.builds(r.Discount, _text, _text, _money), max_size=3).map(tuple),
    net_fen=_money,
    tax_rate_bp=st.integers(0, 10000),
    returnable=st.booleans(),
    price_overridden=st.booleans(),
)
_sale = st.builds(
    r.SaleRecord,
    sale_id=st.uuids().map(str),
    cashier_id=_text,
    shift_id=_text,
    member_id=st.none() | _key,
    member_tier=st.none() | st.sampled_from(r.Tier),
    lines=st.lists(_line, max_size=4).map(tuple),
    gross_fen=_money,
    discount_fen=_money,
    total_fen=_money,
    tenders=st.lists(
        st.builds(r.TenderLine, st.sampled_from(r.TenderKind), _money, _money, _text, _text),
        max_size=3,
    ).map(tuple),
    change_fen=_money,
    points_earned=_points,
    points_redeemed=_points,
    points=st.lists(
        st.builds(r.PointsDelta, _key, _signed, st.sampled_from(r.PointsReason), _text),
        max_size=3,
    ).map(tuple),
    device_time=_aware,
    clock_synced=st.booleans(),
    coupon_codes=st.lists(_text, max_size=3).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(_sale)
def test_any_sale_record_survives_the_wire(sale: r.SaleRecord) -> None:
    wire = {**record_to_wire(sale), "receipt_no": "R"}
    sent = Batch(terminal_id="S001-T01", store_id="S001", events=[envelope(1, "sale", wire)])
    batch = codec.decode_batch(codec.encode_batch(sent))
    body = codec.decode_event_body(batch.events[0])
    assert isinstance(body, bodies.SaleBody)
    assert body.total_fen == sale.total_fen
    assert [ln.net_fen for ln in body.lines] == [ln.net_fen for ln in sale.lines]
    assert dt.datetime.fromisoformat(body.device_time) == sale.device_time
