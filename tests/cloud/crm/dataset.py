"""Six members with a history whose RFM scores, labels and cycles are worked out by hand.

Scored on 2025-07-01 (day 122 after T0 = 2025-03-01), quintiles over n = 6 members: a member
ranked k from the worst scores 1 + (k - 1) * 5 // 6, so ranks 1..6 score 1, 1, 2, 3, 4, 5
(ties share the lowest rank).

member  sales (day: yuan)                     visits spend(fen) recency first cycle
A       0,30,60,90,120: 200 each              5      100000      2       122   30.0
B       0,60,110: 100 each; ¥20 returned      3       28000     12       122   55.0
C       40: 50, 50: 30                        2        8000     72        82   10.0
D       5, 15: 250 each                       2       50000    107       117   10.0
E       110, 115: 10 each                     2        2000      7        12    5.0
F       80: 90                                1        9000     42        42    --

Recency, worst first: D107 C72 F42 B12 E7 A2 -> ranks 1..6 -> R: D1 C1 F2 B3 E4 A5.
Visits, fewest first: F1; C, D, E tie at rank 2; B rank 5; A rank 6 -> F: F1 C1 D1 E1 B4 A5.
Spend, least first: E C F B D A -> M: E1 C1 F2 B3 D4 A5.
Labels (new < 30 days since first; one-off; at-risk R <= 2; high-value F, M >= 4):
A high-value (5,5,5); B regular (R3, F4, M3); C at-risk (R1); D at-risk (R1); E new (12 days);
F one-off (one visit, 42 days).
Dormant (M >= 4, no visit within 2 x own cycle): A's 2 days < 60; D's 107 > 20 -> only D.
"""

from __future__ import annotations

from cloud.store.db import CloudDB
from tests.cloud.jobs.helpers import Till, day

PHONES = {m: f"1380000{i:04d}" for i, m in enumerate("ABCDEFG", start=1)}
SALES = {
    "A": [(0, 200), (30, 200), (60, 200), (90, 200), (120, 200)],
    "B": [(0, 100), (60, 100), (110, 100)],
    "C": [(40, 50), (50, 30)],
    "D": [(5, 250), (15, 250)],
    "E": [(110, 10), (115, 10)],
    "F": [(80, 90)],
}
SCORED_ON = 122


def load(cdb: CloudDB) -> Till:
    """Register A..G (G never buys) and ring up their sales in time order at one till."""
    till = Till(cdb, "S001-T01")
    for member in "ABCDEFG":
        till.register(member, PHONES[member], day(-1), name=f"顾客{member}")
    ordered = sorted((d, m, y) for m, sales in SALES.items() for d, y in sales)
    for d, member, yuan in ordered:
        sale = till.sale(member, yuan, day(d))
        if member == "B" and d == 60:
            till.refund(sale, 20, 2, day(d + 1))
    return till
