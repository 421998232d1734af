"""The catalogue cache: barcode and SKU lookups, snapshots, upserts, price lists, deletes."""

from __future__ import annotations

from typing import Any

import pytest

from device.checkout.records import Product
from device.store.errors import SnapshotError
from device.store.store import Store


def _product(i: int, **extra: Any) -> dict[str, Any]:
    item = {
        "sku": f"SKU{i:05d}", "name_zh": f"商品{i}", "name_en": f"Item {i}",
        "category": "produce" if i % 2 else "dairy", "price_fen": 100 + i, "tax_rate_bp": 900,
        "sold_by_weight": i % 2 == 1, "returnable": i % 7 != 0, "tier_discount": True,
        "barcodes": [f"690{i:010d}", f"2{i:07d}"],
    }  # fmt: skip
    item.update(extra)
    return item


def test_barcode_and_sku_lookups_return_the_product_with_all_its_barcodes(store: Store) -> None:
    assert store.load_catalogue_snapshot([_product(i) for i in range(1, 50)], version=4) == 49
    expected = Product(
        sku="SKU00007", name_zh="商品7", name_en="Item 7", category="produce", price_fen=107,
        tax_rate_bp=900, sold_by_weight=True, returnable=False, tier_discount=True,
        barcodes=("20000007", "6900000000007"),
    )  # fmt: skip
    assert store.catalogue.by_barcode("6900000000007") == expected
    assert store.catalogue.by_barcode("20000007") == expected
    assert store.catalogue.by_sku("SKU00007") == expected
    assert store.catalogue.by_barcode("0000000000000") is None
    assert store.stream_version("catalogue") == 4


def test_a_bad_snapshot_keeps_the_old_catalogue(store: Store) -> None:
    store.load_catalogue_snapshot([_product(i) for i in range(1, 5)])
    with pytest.raises(SnapshotError, match="price_fen must be a non-negative integer"):
        store.load_catalogue_snapshot([_product(10), _product(11, price_fen=12.5)])
    with pytest.raises(SnapshotError):
        store.load_catalogue_snapshot([_product(10), _product(10)])  # duplicate SKU
    assert store.catalogue.count() == 4
    assert store.catalogue.by_sku("SKU00002") is not None


def test_upsert_is_idempotent_and_a_barcode_moves_with_it(store: Store) -> None:
    store.load_catalogue_snapshot([_product(1), _product(2)])
    change = [_product(1, price_fen=999, barcodes=["6900000000002"])]
    store.catalogue.upsert(change, version=2)
    store.catalogue.upsert(change)
    moved = store.catalogue.by_barcode("6900000000002")
    assert moved is not None and moved.sku == "SKU00001" and moved.price_fen == 999
    assert moved.barcodes == ("6900000000002",)
    assert store.catalogue.count() == 2


def test_price_list_updates_known_skus_only(store: Store) -> None:
    store.load_catalogue_snapshot([_product(1)])
    updated = store.catalogue.update_prices(
        [{"sku": "SKU00001", "price_fen": 250}, {"sku": "NOPE", "price_fen": 1}], version=5
    )
    assert updated == 1
    product = store.catalogue.by_sku("SKU00001")
    assert product is not None and product.price_fen == 250
    assert store.stream_version("prices") == 5
    with pytest.raises(SnapshotError, match="bad price_fen"):
        store.catalogue.update_prices([{"sku": "SKU00001", "price_fen": -1}])
    product = store.catalogue.by_sku("SKU00001")
    assert product is not None and product.price_fen == 250


def test_delete_removes_the_product_and_its_barcodes(store: Store) -> None:
    store.load_catalogue_snapshot([_product(1), _product(2)])
    assert store.catalogue.delete(["SKU00001"]) == 1
    assert store.catalogue.by_barcode("6900000000001") is None
    assert store.db.query("SELECT count(*) FROM barcode")[0][0] == 2
