"""Property: a sale the till's own checkout code prices, at the tier the till worked out, is never
held for its tier, whatever the batches and whether the cloud's pushes came back in between.

The till prices with the real device pricing and loyalty (tests.device.checkout.builders) and
upgrades its cached member as the checkout does (upgrades at once, by its cached spend plus its
own sales); after a batch it may apply the cloud's push (tier and spend rebased) or stay offline.
"""

from __future__ import annotations

import dataclasses
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, apply_batch
from cloud.store.db import open_cloud_db
from device.checkout.cart import Cart, DiscountSpec
from device.checkout.loyalty import LoyaltyConfig, upgraded_tier
from device.checkout.records import Member, Product, Tier
from device.store.serialize import to_body
from protocol.topics import events_topic
from tests.cloud.factories import DEFAULT_TIME, batch_payload, envelope
from tests.device.checkout.builders import make_sale

T1 = "S001-T01"
TOPIC = events_topic("S001", T1)
RICE = Product("RICE", "大米", "Rice", "grain", 0)  # tier discount eligible
OIL = Product("OIL", "油", "Oil", "grain", 0, tier_discount=False)
LOYALTY = LoyaltyConfig()
RULES = IngestRules()

#: One sale: (member 0 or 1, rice units, rice unit price, oil units, a 10 % sale discount,
#: the batch ends after it, the cloud's push reaches the till after that batch).
SALES = st.lists(
    st.tuples(
        st.integers(0, 1), st.integers(1, 4), st.sampled_from([999, 25_000, 120_000]),
        st.integers(0, 2), st.booleans(), st.booleans(), st.booleans(),
    ),
    min_size=1, max_size=14,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(SALES)
def test_sales_priced_at_the_tills_own_tier_are_never_held(sales: list[tuple]) -> None:
    cdb = open_cloud_db("sqlite:///:memory:")
    cache = {i: Member(f"M{i}", "13800135678") for i in (0, 1)}
    batch: list = []
    seq = 0
    try:
        for who, rice, price, oil, discount, ends, pushed in sales:
            seq += 1
            member = cache[who]
            cart = Cart().add(dataclasses.replace(RICE, price_fen=price), "6901234567892",
                              quantity=rice)  # fmt: skip
            if oil:
                cart = cart.add(dataclasses.replace(OIL, price_fen=1990), "6900000000017",
                                quantity=oil)  # fmt: skip
            cart = cart.with_member(member)
            if discount:
                cart = cart.discount_sale(DiscountSpec(percent_bp=1000))
            record = make_sale(cart, sale_id=str(uuid.uuid4()), when=DEFAULT_TIME)
            body = to_body(record, receipt_no=f"{T1}-{seq:04d}")
            batch.append(envelope(T1, seq, body))
            paid = record.total_fen
            cache[who] = dataclasses.replace(
                member,
                tier=upgraded_tier(member.tier, member.cumulative_spend_fen + paid, LOYALTY),
                cumulative_spend_fen=member.cumulative_spend_fen + paid,
            )
            if not ends and seq < len(sales):
                continue
            decoded = decode_events_message(TOPIC, batch_payload(batch))
            assert isinstance(decoded, DecodedBatch)
            out = apply_batch(cdb, store_id="S001", terminal_id=T1, events=decoded.events,
                              topic=TOPIC, rules=RULES, clock=lambda: DEFAULT_TIME)  # fmt: skip
            assert (out.held, out.deferred, out.high_water) == ([], [], seq)
            batch = []
            if pushed:  # the till rebases on the cloud's facts: its own sales are all in them
                for i, cached in cache.items():
                    row = cdb.models.Member.get_or_none(member_id=cached.member_id)
                    if row is not None:
                        cache[i] = dataclasses.replace(
                            cached, tier=Tier(row.tier),
                            cumulative_spend_fen=int(row.cumulative_spend_fen),
                        )  # fmt: skip
    finally:
        cdb.close()
