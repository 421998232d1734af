"""`python -m device.repair`: repair a store file the cloud found restored from a backup or copied.

    python -m device.repair --db /var/lib/pos/terminal.db status
    python -m device.repair --db /var/lib/pos/terminal.db new-epoch --reason restored

``status`` shows the file's epoch, seqs and outbox, and why sync stopped. ``new-epoch`` gives
the file a new epoch and queues every unacknowledged event again above the seqs the cloud
holds (docs/sync.md, "Restored and copied store files"). It may run while the terminal runs:
the sync service notices the new epoch and starts again. A copied file on a second device
must not be repaired: that device needs its own terminal identity (re-provision it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from device.store import epoch
from device.store.db import open_database
from device.store.errors import StoreError
from device.store.outbox import Outbox


def _status(db_path: str) -> int:
    db = open_database(db_path)
    try:
        outbox = Outbox(db)
        found = epoch.halt(db)
        print(f"store file   {db_path}")
        print(f"epoch        {epoch.current(db)}")
        print(f"seqs         written up to {outbox.last_seq()}, acknowledged up to "
              f"{outbox.acked_seq()}, {outbox.depth()} waiting")  # fmt: skip
        kept = outbox.oldest_kept()
        if kept is not None and kept <= outbox.acked_seq():
            print(f"resend       acknowledged seqs {kept}-{outbox.acked_seq()} kept to send "
                  "again to a cloud restored from a backup")  # fmt: skip
        if found is None:
            print("sync         running (no halt recorded)")
            return 0
        print(f"sync         STOPPED since {found.at}: {found.reason}")
        print(f"cloud holds  up to seq {found.cloud_high_water} contiguous, "
              f"{found.cloud_max_seq} at most, epoch {found.cloud_epoch or '(none)'}")  # fmt: skip
        print("repair       python -m device.repair --db FILE new-epoch --reason restored")
        return 0
    finally:
        db.close()


def _new_epoch(db_path: str, reason: str, note: str) -> int:
    db = open_database(db_path)
    try:
        done = epoch.start_new_epoch(db, reason, dt.datetime.now(dt.UTC), note)
    finally:
        db.close()
    print(f"new epoch {done.epoch} (was {done.previous_epoch}), starting at seq {done.first_seq}")
    print(
        f"{done.carried} unacknowledged event(s) queued again after it; the journal is as it "
        "was (acknowledged events kept for resending belong to the old epoch and were dropped)"
    )
    print("the sync service resumes by itself; HQ sees the new epoch in the terminal list")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the repair tool; exit 0 on success, 2 with a message on any problem."""
    p = argparse.ArgumentParser(prog="python -m device.repair", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--db", required=True, help="the terminal's store file")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="epoch, seqs, outbox and why sync stopped")
    new = sub.add_parser("new-epoch", help="start a new epoch after a restore from backup")
    new.add_argument("--reason", choices=epoch.REASONS, default="restored")
    new.add_argument("--note", default="", help="what happened, for HQ")
    args = p.parse_args(argv)
    try:
        if args.command == "status":
            return _status(args.db)
        return _new_epoch(args.db, args.reason, args.note)
    except StoreError as err:
        print(f"device.repair: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
