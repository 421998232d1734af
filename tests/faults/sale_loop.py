"""Child process for the crash-loop test: records sales (and some returns) until it is killed."""

# Run as ``python -m tests.faults.sale_loop DB_PATH SEED`` (the test forks and calls main()
# instead, to skip interpreter start-up). Writes ``ready`` once the store is open, then one
# receipt number per line, each only after its transaction has committed, the way the till
# prints a receipt only after the commit.

from __future__ import annotations

import datetime as dt
import os
import random
import sys

from device.store.db import DbOptions
from device.store.staff import PinPolicy
from device.store.store import Store, StoreConfig
from tests.device.store.builders import T0, FakeClock, make_return, make_sale

CONFIG = StoreConfig(
    terminal_id="S001-T01", pin_policy=PinPolicy.for_tests(), db=DbOptions(check="none")
)


def main(path: str, seed: int, out_fd: int = 1, records: int | None = None) -> None:
    """Record until killed (or ``records`` recorded); device time advances 7 minutes a sale."""
    rng = random.Random(seed)
    clock = FakeClock()
    store = Store.open(path, CONFIG, clock=clock)
    n = store.outbox.last_seq()
    os.write(out_fd, b"ready\n")
    last = None
    stop = None if records is None else n + records
    while n != stop:
        n += 1
        when = T0 + dt.timedelta(minutes=7 * n)
        clock.current = when
        if last is not None and rng.random() < 0.15:
            sale, receipt = last
            ret = make_return(sale, receipt, (1,), when=when)
            recorded = store.record_return(ret)
            last = None
        else:
            member = f"M{rng.randrange(50):04d}" if rng.random() < 0.7 else None
            sale = make_sale(
                rng.randint(1, 10), member_id=member, seed=n,
                redeem_blocks=rng.choice((0, 0, 1, 2)) if member else 0, when=when,
            )  # fmt: skip
            recorded = store.record_sale(sale)
            last = (sale, recorded.receipt_no)
        os.write(out_fd, recorded.receipt_no.encode() + b"\n")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
