"""A terminal that sells as fast as it can: sales and some returns, until it is killed.

Run as ``python -m tests.faults.soak_writer DB TERMINAL SEED``. Prints ``ready`` once the
store is open, then one receipt number per line, each only after its transaction committed
(the till prints only after the commit). Device times are the real clock, synchronised, as
a till with NTP records them; the numbers follow the default loyalty rules, so the cloud's
plausibility checks hold nothing back. Members are priced at regular: the cloud has never
heard of them, and a till prices a member above regular only when a tier reached it (a higher
claim for a member the cloud does not know is held as a forged tier).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys

from device.checkout.records import Tier
from device.store.db import DbOptions
from device.store.staff import PinPolicy
from device.store.store import Store, StoreConfig
from tests.device.store.builders import make_return, make_sale


def main(path: str, terminal_id: str, seed: int) -> None:
    """Record until killed."""
    rng = random.Random(seed)
    config = StoreConfig(terminal_id=terminal_id, pin_policy=PinPolicy.for_tests(),
                         db=DbOptions(check="none"))  # fmt: skip
    store = Store.open(path, config)
    n = store.outbox.last_seq()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    last = None
    while True:
        n += 1
        now = dt.datetime.now(dt.UTC)
        if last is not None and rng.random() < 0.1:
            sale, receipt = last
            recorded = store.record_return(make_return(sale, receipt, (1,), when=now))
            last = None
        else:
            member = f"M{rng.randrange(40):04d}" if rng.random() < 0.6 else None
            sale = make_sale(
                rng.randint(1, 6), member_id=member, seed=seed * 1_000_003 + n,
                redeem_blocks=rng.choice((0, 0, 0, 1)) if member else 0, when=now,
                tier=Tier.REGULAR,
            )  # fmt: skip
            recorded = store.record_sale(sale)
            last = (sale, recorded.receipt_no)
        os.write(1, recorded.receipt_no.encode() + b"\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
