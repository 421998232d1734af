"""Property: any delivery order or duplication ends at the newest version, never going back.

Real SQLite store, no broker needed.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from device.store.db import open_database
from device.sync.downstream import DownstreamApplier
from device.sync.storage import SyncStorage
from protocol import codec, topics
from protocol.envelope import DownChange

STORE_TOPIC = topics.down_topic("S001", "members")
OWN_TOPIC = topics.terminal_down_topic("S001", "S001-T01", "members")


def payload(version: int) -> bytes:
    item = {"member_id": "M1", "phone": "13800001111", "points_balance": version * 10}
    return codec.encode_down(
        DownChange(stream="members", version=version, scope="S001", kind="upsert", items=[item])
    )


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[int, bool]]:
    """Versions 1..n, each delivered 1-3 times, shuffled; some on the terminal's own topic."""
    n = draw(st.integers(1, 6))
    sends = [v for v in range(1, n + 1) for _ in range(draw(st.integers(1, 3)))]
    order = draw(st.permutations(sends))
    return [(v, draw(st.booleans())) for v in order]


@settings(max_examples=40, deadline=None)
@given(plan=deliveries())
def test_any_delivery_order_ends_at_the_newest_version_without_regressing(
    tmp_path_factory, plan: list[tuple[int, bool]]
) -> None:
    path: Path = tmp_path_factory.mktemp("prop") / "t.db"
    open_database(path, create=True).close()
    storage = SyncStorage.open(path)
    requests: list[dict[str, int]] = []
    applier = DownstreamApplier(storage, "S001", requests.append, catchup_wait_s=5.0)
    try:
        seen_points = 0
        now = 0.0
        for version, own in plan:
            now += 1.0
            applier.handle(OWN_TOPIC if own else STORE_TOPIC, payload(version), now)
            applier.tick(now)
            member = storage.members.by_id("M1")
            points = member.points_balance if member else 0
            assert points >= seen_points  # never back to an older version
            seen_points = points
        applier.tick(now + 10.0)  # any catch-up left unanswered times out
        newest = max(v for v, _ in plan)
        member = storage.members.by_id("M1")
        assert member is not None and member.points_balance == newest * 10
        assert storage.version("members") == newest
        # A catch-up is asked for only from a version the cache really held.
        assert all(r["members"] < newest for r in requests)
    finally:
        storage.close()
