"""A lean batch (what the prepare process hands over) commits exactly as the whole batch does.

Lean batches keep sums instead of per-event projections and, on PostgreSQL, one COPY text
instead of rows. All-new, that is enough; anything else (a resend, a conflict) makes the
commit rebuild the whole batch, and a rebuild that disagrees with what was stored is refused.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, PreparedBatch, commit_batch, prepare_batch
from cloud.store.db import CloudDB
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.cloud.ingest.backlog import ENGINES
from tests.cloud.ingest.checks import assert_same_contents, opened, two_databases

RULES = IngestRules()
T1 = "S001-T01"
NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


def _sales(first: int, last: int) -> list[Envelope]:
    return [envelope(T1, seq, sale_body([(f"SKU{seq % 3}", 1, 1000 + seq)],
                                        member_id=f"M{seq % 2}", receipt_no=f"{T1}-{seq}"))
            for seq in range(first, last + 1)]  # fmt: skip


def _prepared(cdb: CloudDB, envs: Sequence[Envelope], now: dt.datetime = NOW) -> PreparedBatch:
    topic = events_topic("S001", T1)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    return prepare_batch(store_id="S001", terminal_id=T1, events=decoded.events, topic=topic,
                         rules=RULES, now_aware=now, clocks={},
                         copy_text=cdb.is_postgres)  # fmt: skip


def _lean(whole: PreparedBatch, rebuild: Any = None) -> PreparedBatch:
    """As the prepare process sends it: lean, pickled and unpickled, then given its rebuild."""
    lean = pickle.loads(pickle.dumps(whole.lean()))
    assert not lean.complete and not lean.projections and lean.rebuild is None
    return replace(lean, rebuild=rebuild)


@pytest.mark.parametrize("engine", ENGINES)
def test_lean_batches_commit_what_whole_batches_commit_resends_included(
    request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    with opened(*two_databases(request, tmp_path, engine)) as (lean_db, whole_db):
        # New, then a resend overlapping it (seqs 4-6 again): that one is rebuilt whole.
        for envs in (_sales(1, 6), _sales(4, 9)):
            whole = _prepared(whole_db, envs)
            rebuilt: list[int] = []

            def rebuild(envs: Sequence[Envelope] = envs, rebuilt: list[int] = rebuilt
                        ) -> PreparedBatch:  # fmt: skip
                rebuilt.append(1)
                return _prepared(lean_db, envs)

            got = commit_batch(lean_db, _lean(_prepared(lean_db, envs), rebuild), RULES)
            want = commit_batch(whole_db, whole, RULES)
            assert (got.high_water, got.inserted, got.duplicates) == (
                want.high_water, want.inserted, want.duplicates,
            )  # fmt: skip
            assert bool(rebuilt) == (envs[0].seq == 4)  # only the resend needed projections
        assert len(assert_same_contents(lean_db, whole_db)["events"]) == 9


def test_a_lean_batch_that_needs_its_projections_and_cannot_rebuild_is_refused(
    cloud_db: CloudDB,
) -> None:
    commit_batch(cloud_db, _prepared(cloud_db, _sales(1, 3)), RULES)
    resend = _lean(_prepared(cloud_db, _sales(2, 4)))  # no rebuild given
    with pytest.raises(RuntimeError, match="cannot be rebuilt"):
        commit_batch(cloud_db, resend, RULES)
    # Another receive time makes other rows than those the lean batch carries.
    hour = dt.timedelta(hours=1)
    later = _lean(_prepared(cloud_db, _sales(2, 4)),
                  lambda: _prepared(cloud_db, _sales(2, 4), NOW + hour))  # fmt: skip
    with pytest.raises(RuntimeError, match="rebuilt differently"):
        commit_batch(cloud_db, later, RULES)
    assert cloud_db.models.Event.select().count() == 3  # both rolled back whole
