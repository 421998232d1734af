"""Why the cloud holds an event as implausible: the plausibility checks' message ids and English.

Each reason is a message of the cloud's flags (cloud.domain.flags merges these into FLAGS), so
the flag that names a held event carries its reason as a message too and the HQ page says the
whole sentence in its reader's language. The English of an id, filled with its arguments, is
the text the held-events API and the logs show, as they did before reasons had ids.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

#: Every id a plausibility check may give, and its English (the catalogue's msgid).
REASONS: Final = MappingProxyType({
    # a sale's lines
    "implausible.weighed_quantity": "line %(line)s: a weighed line has quantity 1, not "
                                    "%(quantity)s",
    "implausible.line_gross": "line %(line)s: gross %(gross)s is not price x quantity "
                              "%(expected)s",
    "implausible.line_net": "line %(line)s: net %(net)s is not gross %(gross)s less discounts "
                            "%(discounts)s",
    "implausible.tier_discount": "line %(line)s: tier discount %(amount)s is not the %(tier)s "
                                 "rate of the line, %(expected)s",
    # a sale's tenders
    "implausible.tender_amount": "tender %(tender)s: amount must be above zero",
    "implausible.cash_short": "tender %(tender)s: cash handed %(handed)s below %(amount)s",
    "implausible.tenders_total": "tenders add up to %(applied)s, not the total %(total)s",
    "implausible.change": "change %(change)s is not cash handed less cash applied, "
                          "%(expected)s",
    # a sale's or a return's points rows
    "implausible.points_member": "points row for %(row_member)s, not the event's member "
                                 "%(member)s",
    "implausible.points_reason": "points reason %(reason)s not allowed here",
    # a sale's sums and points
    "implausible.sale_gross": "gross %(gross)s is not the lines' %(lines)s",
    "implausible.sale_discount": "discount %(discount)s is not the lines' %(lines)s",
    "implausible.sale_total": "total %(total)s is not the lines' net %(net)s",
    "implausible.coupon_codes": "coupon codes do not match the coupon tenders",
    "implausible.earn_rows": "earn rows do not add up to %(earned)s",
    "implausible.redeem_rows": "redeem rows are not %(redeemed)s",
    "implausible.points_no_member": "points earned or redeemed on a sale without a member",
    "implausible.redeem_block": "%(redeemed)s points redeemed is not in blocks of %(block)s",
    "implausible.points_value": "points tender %(value)s is not the value of %(redeemed)s "
                                "points",
    "implausible.points_cap": "points paid %(paid)s over the cap %(cap)s",
    "implausible.points_earned": "%(earned)s points earned; the rules give %(expected)s",
    # a sale's claimed tier against what the cloud knows of the member (cloud.domain.tier_bound)
    "implausible.tier_claim": "priced at %(tier)s for member %(member)s, who held at most "
                              "%(held)s in the last %(days)s days and whose spend or visits "
                              "the cloud holds earn %(earned)s",
    # a return
    "implausible.refund_lines": "refund %(refund)s is not the lines' %(lines)s",
    "implausible.refund_tenders": "refund tenders add up to %(paid)s, not %(refund)s",
    "implausible.no_receipt_manager": "a return without receipt needs a manager",
    "implausible.no_receipt_cap": "refund %(refund)s without receipt is over the cap %(cap)s",
    "implausible.reversal_sign": "a return reversal must take points",
    "implausible.refund_sign": "a points refund must give points",
    "implausible.no_receipt_points": "a return without its sale cannot move points",
    # a return against the sale it names (cloud.domain.return_bounds)
    "implausible.return_sale_missing": "the return names sale %(sale)s (receipt %(receipt)s), "
                                       "which the cloud does not hold",
    "implausible.return_sale_held": "the return names sale %(sale)s (receipt %(receipt)s), "
                                    "which is held for HQ",
    "implausible.return_id_reused": "return id %(id)s is already the return at %(terminal)s "
                                    "seq %(seq)s",
    "implausible.return_line": "line %(line)s is not on the sale",
    "implausible.return_sku": "line %(line)s: sku %(sku)s is not the sale's %(sold)s",
    "implausible.return_units": "line %(line)s: %(units)s returned of %(sold)s sold",
    "implausible.return_line_refund": "line %(line)s: refund %(refund)s is more than the "
                                      "%(units)s of %(sold)s returned paid (net %(net)s)",
    "implausible.return_points_none": "points moved by the return of a sale that earned and "
                                      "redeemed none",
    "implausible.return_reversal_share": "return_reversal of %(given)s points is not the "
                                         "refund's share of the sale's %(whole)s earned "
                                         "(%(share)s)",
    "implausible.return_refund_share": "return_refund of %(given)s points is not the refund's "
                                       "share of the sale's %(whole)s redeemed (%(share)s)",
    "implausible.return_member": "points for member %(member)s, not the sale's %(sold)s",
    "implausible.return_tender": "%(kind)s refund %(amount)s is more than the sale paid by "
                                 "%(kind)s (%(paid)s)",
    "implausible.return_units_together": "line %(line)s: %(units)s returned of %(sold)s sold, "
                                         "with this till's %(returns)s earlier returns",
    "implausible.return_tender_together": "%(kind)s refunds of %(amount)s with this till's "
                                          "%(returns)s earlier returns are more than the sale "
                                          "paid by %(kind)s (%(paid)s)",
    # what a till never sends
    "implausible.till_adjustment": "points adjustment of %(delta)s for %(member)s sent by a "
                                   "till",
    "implausible.new_points": "new member with %(points)s points",
    "implausible.new_spend": "new member with spend already recorded",
    "implausible.new_tier": "new member registered as %(tier)s",
    # the clock and the rules version
    "implausible.time_future": "device time %(time)s is after the cloud's receive time "
                               "%(received)s with a synchronised clock",
    "implausible.time_ancient": "device time %(time)s is older than any plausible outage",
    "implausible.rules_unknown": "rules version %(version)s is not known to the cloud",
    "implausible.rules_other_store": "rules version %(version)s is store %(scope)s's own, not "
                                     "%(store)s's",
})  # fmt: skip
