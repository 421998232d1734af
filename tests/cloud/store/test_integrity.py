"""What bad events, forged numbers or a second copy of a store file can do: kept, flagged, not lost.

Every test runs on SQLite and on PostgreSQL (the ``cloud_db`` fixture), which must behave the
same: a value one accepts and the other refuses is how one sale once stopped a terminal's sync
for good on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import pytest

from cloud.ingest.decode import DecodedBatch, Rejection, decode_events_message
from cloud.store.apply import BatchOutcome, IngestRules, apply_batch, reject_payload
from cloud.store.db import CloudDB
from protocol.codec import encode_envelope
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body, simple_sale

RULES = IngestRules()
T1 = "S001-T01"
TOPIC = events_topic("S001", T1)
OLD, NEW, NEWER = "0000aaaaaaaaaaaa", "0001bbbbbbbbbbbb", "0002cccccccccccc"


def _payload(envs: Sequence[Envelope], mutate: object = None) -> bytes:
    data = json.loads(batch_payload(envs))
    if mutate is not None:
        mutate(data["events"])  # type: ignore[operator]
    return json.dumps(data, ensure_ascii=False).encode()


def _apply_payload(cdb: CloudDB, payload: bytes) -> BatchOutcome:
    decoded = decode_events_message(TOPIC, payload)
    assert isinstance(decoded, DecodedBatch), decoded
    return apply_batch(cdb, store_id="S001", terminal_id=T1, events=decoded.events, topic=TOPIC,
                       rules=RULES)  # fmt: skip


def _apply(cdb: CloudDB, envs: Sequence[Envelope]) -> BatchOutcome:
    return _apply_payload(cdb, batch_payload(envs))


def _sales_fen(cdb: CloudDB) -> tuple[int, int]:
    t = cdb.models.DailyTotals
    rows = list(t.select().where(t.terminal_id == T1))
    return sum(r.sales_count for r in rows), sum(r.sales_fen for r in rows)


def _with_epoch(env: Envelope, epoch: str) -> Envelope:
    data = json.loads(encode_envelope(env))
    return Envelope(**{**data, "epoch": epoch})


# -- conflicts ---------------------------------------------------------------------------


def test_a_seq_sent_again_with_other_content_is_kept_beside_the_first(cloud_db: CloudDB) -> None:
    first = simple_sale(T1, 1, net_fen=500)
    assert _apply(cloud_db, [first]).high_water == 1
    same_again = _apply(cloud_db, [first])  # a resend after a lost ACK: a true duplicate
    assert (same_again.duplicates, same_again.conflicts) == (1, [])
    other = simple_sale(T1, 1, net_fen=70_000)  # a restored file's different sale at seq 1
    out = _apply(cloud_db, [other])
    assert out.conflicts == [1] and out.high_water == 1
    m = cloud_db.models
    conflict = m.EventConflict.get()
    assert (conflict.seq, conflict.stored_event_id, conflict.event_id) == (1, first.id, other.id)
    assert conflict.envelope["body"]["total_fen"] == 70_000  # the other version, whole
    assert _sales_fen(cloud_db) == (1, 500)  # never projected
    terminal = m.Terminal.get()
    assert terminal.flagged and "already holds event" in terminal.flag_reason
    # Same id, altered body (a tampered resend) is a conflict too.
    tampered = json.loads(encode_envelope(first))
    tampered["body"]["cashier_id"] = "C99"
    assert _apply(cloud_db, [Envelope(**tampered)]).conflicts == [1]
    assert m.EventConflict.select().count() == 2


# -- poison events --------------------------------------------------------------------------


def _long_sku(events: list) -> None:
    events[1]["body"]["lines"][0]["sku"] = "S" * 70


def _huge_quantity(events: list) -> None:
    events[1]["body"]["lines"][0]["quantity"] = 10**20


def _nul_receipt(events: list) -> None:
    events[1]["body"]["receipt_no"] = "R\u0000-1"


def _bad_envelope(events: list) -> None:
    events[1]["device_time"] = "yesterday"


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (_long_sku, "sale.lines[0].sku: Expected str of length <= 64"),
        (_huge_quantity, "sale.lines[0].quantity: Expected int <= 100000"),
        (_nul_receipt, "NUL character"),
        (_bad_envelope, "events[1].device_time"),
    ],
)
def test_one_poison_event_is_kept_dead_in_its_place_and_the_rest_drain(
    cloud_db: CloudDB, poison: object, reason: str
) -> None:
    envs = [simple_sale(T1, seq, net_fen=100 * seq) for seq in (1, 2, 3)]
    out = _apply_payload(cloud_db, _payload(envs, poison))
    assert out.high_water == 3 and out.dead_lettered == [2]  # the ACK moves past it
    m = cloud_db.models
    dead = m.Event.get((m.Event.terminal_id == T1) & (m.Event.seq == 2))
    assert (dead.status, dead.dead, dead.amount_fen) == ("dead", True, 0)
    [letter] = list(m.DeadLetter.select())
    assert reason in letter.reason and letter.seqs == [2]
    assert envs[1].id.encode() in letter.payload  # the event itself is kept, whole
    assert _sales_fen(cloud_db) == (2, 100 + 300)
    # Later sales flow as usual.
    assert _apply(cloud_db, [simple_sale(T1, 4, net_fen=400)]).high_water == 4


def test_an_event_too_large_for_any_batch_counts_towards_the_ack(cloud_db: CloudDB) -> None:
    assert _apply(cloud_db, [simple_sale(T1, 1)]).high_water == 1
    big = simple_sale(T1, 2)
    payload = _payload([big], lambda evs: evs[0]["body"].update(receipt_no="x" * 300_000))
    rejected = decode_events_message(TOPIC, payload)
    assert isinstance(rejected, Rejection) and "Oversized" in rejected.reason
    assert rejected.placeable == [(2, big.id, "sale")]
    mark = reject_payload(
        cloud_db, topic=TOPIC, store_id="S001", terminal_id=T1, claimed_terminal_id=T1,
        reason=rejected.reason, seqs=rejected.seqs, payload=payload,
        placeable=rejected.placeable,
    )  # fmt: skip
    assert mark == (2, big.id)
    assert _apply(cloud_db, [simple_sale(T1, 3)]).high_water == 3
    letter = cloud_db.models.DeadLetter.get()
    assert letter.payload_size == len(payload) == len(letter.payload)  # kept whole


def test_a_deeply_nested_payload_is_refused_with_the_terminal_named(cloud_db: CloudDB) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    head = '{"v":1,"terminal_id":"S001-T01","store_id":"S001","events":[{"body":'
    payload = (head + deep + "}]}").encode()
    rejected = decode_events_message(TOPIC, payload)
    assert isinstance(rejected, Rejection)
    assert "nested too deeply" in rejected.reason and rejected.terminal_id == T1


# -- forgeries --------------------------------------------------------------------------------


def test_forged_numbers_are_stored_flagged_and_kept_out_of_every_total(cloud_db: CloudDB) -> None:
    honest = simple_sale(T1, 1, net_fen=1200)
    cheap = envelope(T1, 2, sale_body([("TV", 1, 1_000_000)]))
    one_fen = json.loads(encode_envelope(cheap))
    one_fen["body"].update(total_fen=1)
    one_fen["body"]["tenders"][0].update(amount_fen=1, tendered_fen=1)
    negative = json.loads(encode_envelope(simple_sale(T1, 3)))
    negative["body"]["lines"][0]["quantity"] = -5
    grant = envelope(T1, 4, {"member_id": "M7", "delta": 1_000_000_000 // 10, "reason": "adjust"},
                     event_type="points_adjustment")  # fmt: skip
    future = envelope(T1, 5, sale_body([("A", 1, 800)]))
    future = Envelope(**{**json.loads(encode_envelope(future)),
                         "device_time": "2099-01-01T00:00:00Z"})  # fmt: skip
    out = _apply(cloud_db, [honest, Envelope(**one_fen), Envelope(**negative), grant, future])
    assert out.high_water == 5  # all stored, all acknowledged
    assert sorted(out.held) == [2, 4, 5]
    assert out.dead_lettered == [3]  # a negative quantity breaks the wire's bounds outright
    m = cloud_db.models
    assert _sales_fen(cloud_db) == (1, 1200)
    assert m.PointsLedger.select().count() == 0
    assert not m.DailyTotals.select().where(m.DailyTotals.day == "2099-01-01").exists()
    flags = {f.seq: f.reasons for f in m.EventFlag.select()}
    assert "total 1 is not the lines' net 1000000" in flags[2]
    assert any("sent by a till" in r for r in flags[4])
    assert any("after the cloud's receive time" in r for r in flags[5])
    statuses = {e.seq: e.status for e in m.Event.select()}
    assert statuses == {1: "ok", 2: "held", 3: "dead", 4: "held", 5: "held"}


# -- epochs -------------------------------------------------------------------------------


def _start(seq: int, epoch: str, previous: str, high: int, top: int, after: int,
           carried: int) -> Envelope:  # fmt: skip
    body = {"epoch": epoch, "previous_epoch": previous, "reason": "restored",
            "cloud_high_water": high, "cloud_max_seq": top, "carried_after_seq": after,
            "carried": carried, "device_time": "2026-11-23T06:30:00Z"}  # fmt: skip
    return _with_epoch(envelope(T1, seq, body, event_type="epoch_started"), epoch)


def test_a_superseded_copy_is_fenced_and_a_repaired_file_carries_without_doubling(
    cloud_db: CloudDB,
) -> None:
    sales = [_with_epoch(simple_sale(T1, s, net_fen=100 * s), OLD) for s in range(1, 6)]
    assert _apply(cloud_db, sales).high_water == 5
    # The restored file had seen seq 3 acknowledged; its seqs 4-5 were sent (same ids) and
    # it then rang one sale the cloud never had. The repair carries all three after seq 6.
    fresh = simple_sale(T1, 99, net_fen=9900)
    carried = [_with_epoch(Envelope(**{**json.loads(encode_envelope(e)), "seq": 7 + i}), NEW)
               for i, e in enumerate([sales[3], sales[4], fresh])]  # fmt: skip
    start = _start(6, NEW, OLD, high=5, top=5, after=3, carried=3)
    out = _apply(cloud_db, [start, *carried])
    assert (out.high_water, out.epoch, out.conflicts) == (9, NEW, [])
    m = cloud_db.models
    assert _sales_fen(cloud_db) == (6, 100 + 200 + 300 + 400 + 500 + 9900)  # 4 and 5 once each
    statuses = {e.seq: e.status for e in m.Event.select().where(m.Event.seq > 5)}
    assert statuses == {6: "ok", 7: "duplicate", 8: "duplicate", 9: "ok"}
    # A copy of the old file still running writes into the new epoch's seqs: fenced.
    clone = _with_epoch(simple_sale(T1, 10, net_fen=123), OLD)
    fenced = _apply(cloud_db, [clone])
    assert fenced.conflicts == [10] and fenced.high_water == 9
    assert "superseded" in m.EventConflict.get(m.EventConflict.seq == 10).reason
    assert _sales_fen(cloud_db)[1] == 100 + 200 + 300 + 400 + 500 + 9900


def test_a_newer_epoch_waits_for_its_start_and_seqs_the_lost_file_held_are_abandoned(
    cloud_db: CloudDB,
) -> None:
    assert (
        _apply(cloud_db, [_with_epoch(simple_sale(T1, s), OLD) for s in (1, 2, 4)]).high_water == 2
    )
    # Two workers: the new epoch's later batch is committed before the one with its start.
    early = _with_epoch(simple_sale(T1, 7, net_fen=700), NEW)
    out = _apply(cloud_db, [early])
    assert (out.deferred, out.high_water, out.inserted) == ([7], 2, 0)  # not stored, not acked
    # The restored file had written up to 5 (acked up to 2) and carries its one unsent sale
    # (seq 7, above). Seqs 3 and 5 were only in the lost file: abandoned (4 is held).
    start = _start(6, NEW, OLD, high=2, top=4, after=2, carried=1)
    out = _apply(cloud_db, [start])
    assert out.high_water == 6
    m = cloud_db.models
    epoch = m.TerminalEpoch.get()
    assert (epoch.abandoned_from, epoch.abandoned_to, epoch.abandoned) == (3, 5, 2)
    assert {e.seq: e.status for e in m.Event.select().where(m.Event.seq.in_([3, 5]))} == {
        3: "abandoned", 5: "abandoned",
    }  # fmt: skip
    assert _apply(cloud_db, [early]).high_water == 7  # resent by the terminal: now it lands


def test_an_epoch_start_that_skips_more_than_it_explains_is_fenced(cloud_db: CloudDB) -> None:
    _apply(cloud_db, [_with_epoch(simple_sale(T1, 1), OLD)])
    leap = _start(1_000_000, NEWER, OLD, high=1, top=1, after=1, carried=0)
    out = _apply(cloud_db, [leap])
    assert out.conflicts == [1_000_000] and out.high_water == 1
    assert "skipping more seqs" in cloud_db.models.EventConflict.get().reason
    assert uuid.UUID(cloud_db.models.EventConflict.get().event_id) == uuid.UUID(leap.id)


# -- a database that refuses what the protocol allows -------------------------------------------


@pytest.mark.pg
def test_a_batch_the_database_refuses_is_stored_event_by_event(fresh_pg_url: str) -> None:
    import datetime as dt

    import peewee as pw

    from cloud.store.apply import commit_batch, prepare_batch
    from cloud.store.db import open_cloud_db
    from cloud.store.isolate import commit_isolating

    cdb = open_cloud_db(fresh_pg_url)
    try:
        # An operator's hand-made schema change the protocol does not know about.
        cdb.database.execute_sql("ALTER TABLE events ALTER COLUMN receipt_no TYPE varchar(8)")
        envs = [envelope(T1, seq, sale_body([("A", 1, 1000)], receipt_no=receipt))
                for seq, receipt in ((1, "R1"), (2, "S001-T01-long"), (3, "R3"))]  # fmt: skip
        decoded = decode_events_message(TOPIC, batch_payload(envs))
        assert isinstance(decoded, DecodedBatch)
        batch = prepare_batch(store_id="S001", terminal_id=T1, events=decoded.events,
                              topic=TOPIC, rules=RULES,
                              now_aware=dt.datetime.now(dt.UTC))  # fmt: skip
        with pytest.raises(pw.DataError):
            commit_batch(cdb, batch, RULES)
        out = commit_isolating(cdb, batch, RULES, "value too long")
        assert (out.high_water, out.dead_lettered) == (3, [2])
        m = cdb.models
        assert {e.seq: e.status for e in m.Event.select()} == {1: "ok", 2: "dead", 3: "ok"}
        assert "storage refused it" in m.DeadLetter.get().reason
        assert _sales_fen(cdb) == (2, 2000)
    finally:
        cdb.close()


# -- seqs a restore of this database lost, past the till's resend window ------------------------


def _lost(seq: int, first: int, last: int) -> Envelope:
    body = {"from_seq": first, "to_seq": last, "cloud_high_water": 5, "acked_seq": 10,
            "resend_window_days": 7, "device_time": "2026-11-23T06:30:00Z"}  # fmt: skip
    return envelope(T1, seq, body, event_type="seqs_lost")


def test_seqs_a_till_can_no_longer_send_are_recorded_lost_and_the_mark_passes(
    cloud_db: CloudDB,
) -> None:
    assert (
        _apply(cloud_db, [simple_sale(T1, s, net_fen=100 * s) for s in range(1, 6)]).high_water == 5
    )
    # The restored database lost 6-10; the till sends 9-10 again (kept), its new 11, then
    # names 6-8 (past its window) at seq 12.
    out = _apply(cloud_db, [simple_sale(T1, s, net_fen=100 * s) for s in (9, 10, 11)])
    assert out.high_water == 5
    out = _apply(cloud_db, [_lost(12, 6, 8)])
    assert (out.high_water, out.max_seq, out.conflicts) == (12, 12, [])
    m = cloud_db.models
    statuses = {e.seq: e.status for e in m.Event.select().where(m.Event.seq.between(6, 8))}
    assert statuses == {6: "lost", 7: "lost", 8: "lost"}
    assert _sales_fen(cloud_db) == (8, 100 * (1 + 2 + 3 + 4 + 5 + 9 + 10 + 11))
    terminal = m.Terminal.get(m.Terminal.terminal_id == T1)
    assert terminal.flagged and "seqs 6-8" in terminal.flag_reason
    # A sale that still turns up at a lost seq is kept beside it, never counted silently.
    late = _apply(cloud_db, [simple_sale(T1, 7, net_fen=700)])
    assert late.conflicts == [7] and late.high_water == 12
    assert _sales_fen(cloud_db)[0] == 8


def test_a_seqs_lost_event_reaches_neither_below_the_mark_nor_its_own_seq(
    cloud_db: CloudDB,
) -> None:
    _apply(cloud_db, [simple_sale(T1, s) for s in (1, 2, 3)])
    out = _apply(cloud_db, [_lost(5, 2, 9)])  # only 4 is between the mark and itself
    assert out.high_water == 5
    m = cloud_db.models
    assert [e.seq for e in m.Event.select().where(m.Event.status == "lost")] == [4]
    assert {e.seq: e.status for e in m.Event.select().where(m.Event.seq <= 3)} == {
        1: "ok", 2: "ok", 3: "ok",
    }  # fmt: skip
    # A range longer than one event may name is refused: no placeholders, the mark stays.
    far = _apply(cloud_db, [_lost(200_007, 7, 200_006)])
    assert far.high_water == 5
    assert m.Event.select().where(m.Event.status == "lost").count() == 1
    assert "more than one event may" in m.Terminal.get(m.Terminal.terminal_id == T1).flag_reason
