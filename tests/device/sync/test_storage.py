"""SyncStorage on a real store file: each stream's change lands with its version, atomically."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from device.store.catalogue import CatalogueCache
from device.store.coupons import CouponCache
from device.store.outbox import WireFrame
from device.sync.errors import BadMessage
from device.sync.storage import SyncStorage
from device.sync.verify import SeqsLost
from protocol import codec
from protocol.envelope import Ack, Envelope
from protocol.problems import Said, to_wire
from tests.device.sync.harness import record_sales


def product(sku: str, price: int, *codes: str) -> dict[str, object]:
    return {"sku": sku, "name_zh": "商品" + sku, "name_en": "Item " + sku, "category": "misc",
            "price_fen": price, "barcodes": list(codes)}  # fmt: skip


@pytest.fixture
def storage(store_file: Path) -> Iterator[SyncStorage]:
    s = SyncStorage.open(store_file)
    yield s
    s.close()


def test_catalogue_upsert_delete_and_prices_each_record_their_version(
    storage: SyncStorage,
) -> None:
    storage.apply("catalogue", 1, "upsert", [product("A1", 350, "6901234567892"),
                                              product("B2", 1200)])  # fmt: skip
    storage.apply("prices", 1, "upsert", [{"sku": "A1", "price_fen": 299}])
    storage.apply("catalogue", 2, "delete", [{"sku": "B2"}])
    cat = CatalogueCache(storage.db)
    found = cat.by_barcode("6901234567892")
    assert found is not None and found.price_fen == 299
    assert cat.by_sku("B2") is None
    assert (storage.version("catalogue"), storage.version("prices")) == (2, 1)


def test_a_bad_item_rolls_back_the_whole_change_and_its_version(storage: SyncStorage) -> None:
    storage.apply("catalogue", 1, "upsert", [product("A1", 350)])
    # Checked against the protocol's item schema before anything is written.
    with pytest.raises(BadMessage, match=r"items\[1\].*price_fen"):
        storage.apply("catalogue", 2, "upsert", [product("C3", 100), product("D4", -5)])
    assert CatalogueCache(storage.db).by_sku("C3") is None
    assert storage.version("catalogue") == 1


def test_an_empty_snapshot_never_empties_a_till(storage: SyncStorage) -> None:
    storage.apply("catalogue", 1, "upsert", [product(f"P{i}", 100 + i) for i in range(200)])
    with pytest.raises(BadMessage, match="would empty this till's 200 catalogue entries"):
        storage.replace("catalogue", 2, [])
    assert CatalogueCache(storage.db).count() == 200 and storage.version("catalogue") == 1
    with pytest.raises(BadMessage, match="sku"):
        storage.replace("catalogue", 2, [{"name_zh": "no sku", "price_fen": 1}])
    assert CatalogueCache(storage.db).count() == 200
    storage.replace("members", 3, [])  # nothing held: an empty snapshot is just that
    assert storage.version("members") == 3


def test_catalogue_snapshot_replaces_everything(storage: SyncStorage) -> None:
    storage.apply("catalogue", 1, "upsert", [product("OLD", 100)])
    storage.replace("catalogue", 9, [product("N1", 1), product("N2", 2)])
    cat = CatalogueCache(storage.db)
    assert cat.by_sku("OLD") is None and cat.count() == 2
    assert storage.version("catalogue") == 9


def test_coupons_are_upserted_and_never_deleted(storage: SyncStorage) -> None:
    item = {"code": "BDAY-1", "kind": "amount", "value": 2000, "member_id": "M1"}
    storage.apply("coupons", 1, "upsert", [item])
    coupon = CouponCache(storage.db).get("BDAY-1")
    assert coupon is not None and coupon.value == 2000
    with pytest.raises(BadMessage, match="cannot be deleted"):
        storage.apply("coupons", 2, "delete", [{"code": "BDAY-1"}])
    assert CouponCache(storage.db).get("BDAY-1") is not None
    assert storage.version("coupons") == 1


def test_config_upsert_delete_and_snapshot(storage: SyncStorage) -> None:
    storage.apply("config", 1, "upsert", [{"key": "return_window_days", "value": 7},
                                           {"key": "receipt_lang", "value": "zh"}])  # fmt: skip
    storage.apply("config", 2, "delete", [{"key": "receipt_lang"}])
    assert storage.config() == {"return_window_days": 7}
    storage.replace("config", 5, [{"key": "max_returns_30d", "value": 3}])
    assert storage.config() == {"max_returns_30d": 3}
    assert storage.version("config") == 5
    # A stale version is a no-op, not an overwrite.
    storage.apply("config", 4, "upsert", [{"key": "max_returns_30d", "value": 99}])
    assert storage.config() == {"max_returns_30d": 3}
    with pytest.raises(BadMessage, match="missing required field `value`"):
        storage.apply("config", 6, "upsert", [{"key": "x"}])
    with pytest.raises(BadMessage, match="'key'"):
        storage.apply("config", 6, "delete", [{"name": "x"}])


def test_seqs_lost_is_queued_once_as_a_valid_event_above_the_acknowledged_ones(
    store_file: Path,
) -> None:
    record_sales(store_file, 10)
    storage = SyncStorage.open(store_file)
    try:
        storage.outbox_ack(10)
        lost = SeqsLost(first=6, last=8, cloud_seq=5, acked_seq=10, window_days=7)
        assert storage.record_seqs_lost(lost) == 11
        assert storage.record_seqs_lost(lost) == 0  # a restart's Hello: not queued twice
        assert storage.outbox_depth() == 1 and storage.outbox_oldest_kept() == 1
        [row] = storage.outbox_pending()
        frame = WireFrame.of("S001-T01", "S001", "")
        [(seq, wire)] = storage.outbox_wire(10, 5, frame)
        envelope = codec.decode_event_body(msgspec.json.decode(wire, type=Envelope))
        assert (row.seq, row.type, seq) == (11, "seqs_lost", 11)
        assert (envelope.from_seq, envelope.to_seq, envelope.resend_window_days) == (6, 8, 7)
    finally:
        storage.close()


def test_a_halt_keeps_its_message_id_across_a_restart(store_file: Path) -> None:
    """HQ says a stopped till's reason in its page's language after the till restarts too."""
    reason = Said("ack.ignored", seq=50, reason=Said("journal.ahead", seq=50, last=3))
    first = SyncStorage.open(store_file)
    try:
        first.halt(reason, Ack(terminal_id="S001-T01", acked_seq=50))
    finally:
        first.close()
    again = SyncStorage.open(store_file)
    try:
        halted = again.halted()
    finally:
        again.close()
    assert halted == reason and to_wire(halted) == to_wire(reason) is not None
