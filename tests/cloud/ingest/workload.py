"""A deterministic multi-terminal workload with independently computed expected totals."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.envelope import Envelope
from tests.cloud.factories import envelope, sale_body

TERMINALS = ("S001-T01", "S001-T02", "S002-T01")


@dataclass
class Workload:
    """Messages per terminal plus what the cloud must end up with."""

    messages: dict[str, list[list[Envelope]]] = field(default_factory=dict)
    sales_fen: dict[str, int] = field(default_factory=dict)  # per terminal
    sku_qty: dict[tuple[str, str], int] = field(default_factory=dict)  # (store, sku) -> qty
    member_points: dict[str, int] = field(default_factory=dict)
    events: int = 0


def build(messages_per_terminal: int, events_per_message: int) -> Workload:
    """Sales across three terminals; every 7th sale is by one of five shared members."""
    w = Workload()
    for terminal in TERMINALS:
        store = terminal.split("-")[0]
        seq = 0
        w.messages[terminal] = []
        w.sales_fen[terminal] = 0
        for _ in range(messages_per_terminal):
            batch = []
            for _ in range(events_per_message):
                seq += 1
                sku = f"SKU{seq % 13}"
                qty = 1 + seq % 3
                net = 100 * qty + seq % 97
                member = f"M{seq % 5}" if seq % 7 == 0 else None
                earn = net // 1000 if member else 0
                body = sale_body([(sku, qty, net)], member_id=member, earn=earn,
                                 receipt_no=f"{terminal}-{seq}")  # fmt: skip
                batch.append(envelope(terminal, seq, body))
                w.sales_fen[terminal] += net
                w.sku_qty[(store, sku)] = w.sku_qty.get((store, sku), 0) + qty
                if member and earn:
                    w.member_points[member] = w.member_points.get(member, 0) + earn
                w.events += 1
            w.messages[terminal].append(batch)
    return w
