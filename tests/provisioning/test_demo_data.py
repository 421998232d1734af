"""Demo data: valid barcodes, scale labels the till decodes to the right item, staff and members."""

from __future__ import annotations

from pathlib import Path

from device.checkout.barcodes import parse_barcode
from device.store.staff import PinPolicy
from device.store.store import Store, StoreConfig
from provisioning import demo_data
from provisioning.demo import seed_store


def test_about_two_hundred_products_with_valid_unique_ean13s() -> None:
    products = demo_data.products()
    assert 190 <= len(products) <= 210
    codes = [code for p in products for code in p["barcodes"]]  # type: ignore[attr-defined]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert parse_barcode(code).code == code  # check digit and length accepted
    assert sum(1 for p in products if p["sold_by_weight"]) >= 10


def test_scale_labels_decode_to_their_item_and_value_in_a_seeded_store(tmp_path: Path) -> None:
    store = Store.open(
        tmp_path / "t.db",
        StoreConfig(terminal_id="S001-T01", pin_policy=PinPolicy.for_tests()),
        create=True,
    )
    try:
        seed_store(store)
        weighed = next(p for p in demo_data.products() if p["sold_by_weight"])
        label = demo_data.weight_label(str(weighed["sku"]), 1234)
        scanned = parse_barcode(label)
        assert scanned.embedded_weight_g == 1234
        product = store.catalogue.by_sku(scanned.item_code)
        assert product is not None and product.name_zh == weighed["name_zh"]
        priced = next(p for p in demo_data.products() if p["price_fen"] == 0)
        scanned = parse_barcode(demo_data.price_label(str(priced["sku"]), 2850))
        assert scanned.embedded_price_fen == 2850
        assert store.catalogue.by_sku(scanned.item_code).name_zh == priced["name_zh"]
        # staff PINs from the README work; members come from the cloud only, never seeded here
        assert store.staff.verify("2001", "1234").ok and store.staff.verify("1001", "8888").ok
        assert store.members.count() == 0
    finally:
        store.close()


def test_members_span_the_tiers() -> None:
    tiers = {m["tier"] for m in demo_data.members(1000)}
    assert tiers == {"regular", "silver", "gold"}
