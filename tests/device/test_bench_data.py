"""The terminal benchmark's seeded store opens and holds what it was seeded with.

`make bench` is not part of CI; this runs its terminal seeding at a tiny size.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.device import _make_terminal
from device.config import load_config
from device.wiring import open_store
from provisioning import demo_data


def test_the_benchmark_terminal_is_seeded_with_its_caches(tmp_path: Path) -> None:
    config = _make_terminal(tmp_path, members=25, products=30)
    store = open_store(load_config(config))
    try:
        members = store.db.query("SELECT count(*) FROM member")[0][0]
        products = store.db.query("SELECT count(*) FROM product")[0][0]
    finally:
        store.close()
    assert members == 1000 + 25
    assert products == len(demo_data.products()) + 30
