"""A forged tier claim sent with a till's own identity, through the real broker, is held for HQ.

The forger publishes with ``mosquitto_pub`` as the terminal: the broker lets it (the credentials
are the till's), so the cloud's own check is all that stands between it and gold's 20 % off.
"""

from __future__ import annotations

from cloud.ingest.worker import IngestWorker
from protocol.topics import events_topic
from tests.broker import Broker
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.faults.sync_helpers import wait_until

T1 = "S001-T01"


def _gold_priced(seq: int) -> dict[str, object]:
    """¥100 of rice at gold's 8折 for regular member M1: ¥80 paid, 8 points."""
    body = sale_body([("RICE", 1, 8000)], member_id="M1", receipt_no=f"{T1}-{seq:04d}")
    discount = {"kind": "tier", "label": "gold -20%", "amount_fen": 2000}
    body["lines"][0].update(unit_price_fen=10_000, gross_fen=10_000, discounts=[discount])
    body.update(member_tier="gold", gross_fen=10_000, discount_fen=2000)
    return body


def test_a_forged_gold_sale_from_a_tills_identity_is_acknowledged_but_held(
    broker: Broker, worker: IngestWorker
) -> None:
    honest = sale_body([("RICE", 1, 10_000)], member_id="M1", receipt_no=f"{T1}-0001")
    payload = batch_payload([envelope(T1, 1, honest), envelope(T1, 2, _gold_priced(2))])
    broker.mosquitto_pub(T1, events_topic("S001", T1), payload)
    m = worker.db.models
    # The broker allows one connection per till identity, so the mark is read where the ACK
    # is made from: stored and acknowledged, the till may delete it from its outbox.
    terminal = m.Terminal
    wait_until(lambda: terminal.select().where((terminal.terminal_id == T1)
                                               & (terminal.high_water == 2)).exists(),
               30, "the forged batch applied")  # fmt: skip
    [flag] = m.EventFlag.select()
    assert flag.seq == 2
    assert flag.reasons == [
        "priced at gold for member 'M1', who held at most regular in the last 30 days and whose "
        "spend or visits the cloud holds earn regular"
    ]
    ledger = m.PointsLedger
    assert sum(r.delta for r in ledger.select().where(ledger.member_id == "M1")) == 10
    assert (m.Member.get_by_id("M1").tier, m.Member.get_by_id("M1").cumulative_spend_fen) == (
        "regular",
        10_000,
    )
