"""A group's additive figures and report rollups, written once, equal batch-by-batch writes.

commit_group sums the figures of its batches (sku sales, daily totals, every report rollup)
and writes them after the last batch. The reference is the same batches committed one by one
in the order the group applies them (each terminal's in turn, terminals in id order): both
databases must hold the same rows, down to the product names a later sale renames and the
category of a returned product the batch itself did not sell.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, PreparedBatch, commit_batch, commit_group, prepare_batch
from protocol.envelope import Envelope, utc_iso
from protocol.topics import events_topic
from tests.cloud.factories import DEFAULT_TIME, batch_payload, envelope, sale_body
from tests.cloud.ingest.backlog import ENGINES
from tests.cloud.ingest.checks import assert_same_contents, opened, two_databases
from tests.cloud.remote_factories import return_body

RULES = IngestRules()
T1, T2, T3 = "S001-T01", "S001-T02", "S002-T01"


def _sale(terminal: str, seq: int, lines: Sequence[tuple[str, int, int]],
          names: dict[str, tuple[str, str, str]] | None = None) -> dict[str, Any]:  # fmt: skip
    body = sale_body(lines, receipt_no=f"{terminal}-{seq}")
    for line in body["lines"]:
        if names and line["sku"] in names:
            line["name_zh"], line["name_en"], line["category"] = names[line["sku"]]
    return body


def _other(kind: str, **fields: Any) -> dict[str, Any]:
    when = utc_iso(DEFAULT_TIME)
    if kind == "audit":
        return {"audit_id": str(uuid.uuid4()), "action": "no_sale", "staff_id": "C01",
                "manager_id": "1001", "detail": "drawer", "device_time": when}  # fmt: skip
    if kind == "shift_opened":
        return {"shift_id": fields["shift"], "opened_by": "1001", "float_fen": 20000,
                "device_time": when}  # fmt: skip
    if kind == "cash_movement":
        return {"movement_id": str(uuid.uuid4()), "shift_id": fields["shift"],
                "amount_fen": -500, "reason": "float", "staff_id": "C01",
                "device_time": when}  # fmt: skip
    return {"shift_id": fields["shift"], "kind": "Z", "float_fen": 20000, "sales_count": 2,
            "returns_count": 1, "by_tender": {"cash": 3000}, "cash_in_fen": 0,
            "cash_out_fen": 500, "expected_cash_fen": 22500, "counted_cash_fen": 22400,
            "difference_fen": -100, "closed_by": "1001", "device_time": when}  # fmt: skip


def _batches() -> list[list[Envelope]]:
    """Five batches of three tills: sales, returns, a rename, a shift over three batches."""
    sold_x = _sale(T1, 1, [("X", 2, 3000), ("Y", 1, 990)], {"X": ("旧名", "old", "grocery")})
    t1a = [envelope(T1, 1, sold_x), envelope(T1, 2, _sale(T1, 2, [("Y", 3, 2970)]))]
    t1b = [
        # X renamed and recategorised by a later sale; a return of X in the same batch.
        envelope(T1, 3, _sale(T1, 3, [("X", 1, 1500)], {"X": ("新名", "new", "snacks")})),
        envelope(T1, 4, return_body(sold_x, [(1, 1)], receipt_no="R-T1-4"),
                 event_type="return"),
        envelope(T1, 5, _other("shift_opened", shift="SH2"), event_type="shift_opened"),
        envelope(T1, 6, _other("audit"), event_type="audit"),
    ]  # fmt: skip
    # A return of X refunding far more than it paid: held, in no figure.
    forged = return_body(sold_x, [(1, 1)], receipt_no="R-T1-9")
    forged["lines"][0]["refund_fen"] = forged["refund_fen"] = 1_000_000
    forged["refunds"][0]["amount_fen"] = 1_000_000
    t1c = [
        envelope(T1, 7, _other("cash_movement", shift="SH2"), event_type="cash_movement"),
        envelope(T1, 8, _other("shift_closed", shift="SH2"), event_type="shift_closed"),
        envelope(T1, 9, forged, event_type="return"),
    ]
    # T2 returns X, which it did not sell: its category comes from what T1 stored. Its seq 3
    # is still on the way, so its return of a sale nobody sent (yet) is not stored: it waits.
    unsent = _sale(T2, 3, [("U", 1, 700)])
    t2 = [
        envelope(T2, 1, _sale(T2, 1, [("Z", 1, 800)])),
        envelope(T2, 2, return_body(sold_x, [(1, 1)], receipt_no="R-T2-2"), event_type="return"),
        envelope(T2, 4, return_body(unsent, [(1, 1)], receipt_no="R-T2-4"), event_type="return"),
        envelope(T2, 5, _sale(T2, 5, [("Z", 1, 800)])),
    ]
    # T3 returns W without a receipt (a manager's return), which nobody sold: no category
    # anywhere. (A return naming a sale the cloud never received is held: test_return_bounds.)
    sold_w = _sale(T3, 9, [("W", 1, 500)])
    no_receipt = {**return_body(sold_w, [(1, 1)], receipt_no="R-T3-2"), "original_sale_id": None,
                  "original_receipt_no": None, "authorised_by": "1001"}  # fmt: skip
    no_receipt["lines"] = [{**no_receipt["lines"][0], "original_line_no": 0}]
    t3 = [
        envelope(T3, 1, _sale(T3, 1, [("V", 1, 1500)])),
        envelope(T3, 2, no_receipt, event_type="return"),
    ]
    return [t1a, t2, t1b, t3, t1c]


def _prepare(envs: Sequence[Envelope]) -> PreparedBatch:
    first = envs[0]
    topic = events_topic(first.store_id, first.terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch), decoded
    return prepare_batch(store_id=first.store_id, terminal_id=first.terminal_id,
                         events=decoded.events, topic=topic, rules=RULES,
                         now_aware=dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC), clocks={},
                         copy_text=True)  # fmt: skip


def _in_group_order(batches: Sequence[PreparedBatch]) -> list[PreparedBatch]:
    return [batches[i] for i in sorted(range(len(batches)),
                                       key=lambda i: (batches[i].terminal_id, i))]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_a_groups_figures_written_once_equal_each_batch_written_in_turn(
    request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    with opened(*two_databases(request, tmp_path, engine)) as (grouped, alone):
        batches = [_prepare(b) for b in _batches()]
        done = commit_group(grouped, batches, RULES)
        one_by_one = [commit_batch(alone, b, RULES) for b in _in_group_order(batches)]
        assert sorted(o.high_water for o in done.outcomes) == sorted(
            o.high_water for o in one_by_one
        )
        assert_same_contents(grouped, alone, skip=("members", "ledger"))
        held = {batches[i].terminal_id: (o.held, o.deferred) for i, o in enumerate(done.outcomes)
                if o.held or o.deferred}  # fmt: skip
        assert held == {T1: ([9], []), T2: ([], [4])}
        assert {b.terminal_id: (o.held, o.deferred) for b, o in
                zip(_in_group_order(batches), one_by_one, strict=True)
                if o.held or o.deferred} == held  # fmt: skip
        r = grouped.rollups
        # The checks below would pass on two equally wrong databases: pin the rows down.
        names = {(row.sku, row.name_en, row.category) for row in r.ProductChainDaily.select()}
        assert ("X", "new", "snacks") in names and ("W", "", "") in names
        categories = {(row.store_id, row.category): row.refund_fen
                      for row in r.CategoryDaily.select()}  # fmt: skip
        # T1's own return of X takes the category of the sale in its batch; T2's, the one
        # stored by then: both "snacks" (the rename), 1500 fen each; T3's W has none.
        assert categories[("S001", "snacks")] == 3000
        assert categories[("S002", "")] == 500
        [shift] = r.ShiftReport.select()
        assert (shift.opened_by, shift.closed_by, shift.movements) == ("1001", "1001", 1)
        assert r.TillAudit.select().count() == 1
