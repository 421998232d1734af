"""Validated pushes, snapshots that would empty a till, and terminal registration by technicians."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import ApiSettings, create_app
from cloud.api.pages import LANG_COOKIE
from cloud.store import registry
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import terminal_cert_pem

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append(topic)


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path}/cloud.db"
    heads = {role: bearer(token_for(url, role)) for role in ("admin", "technician", "marketing")}
    recorder = Recorder()
    with TestClient(create_app(url, recorder, ApiSettings(max_snapshot_removal_share=0.2))) as c:
        yield {"client": c, "heads": heads, "url": url, "sent": recorder.sent}


def product(sku: str, price: int = 100) -> dict[str, Any]:
    return {"sku": sku, "name_zh": "商品", "name_en": "item", "price_fen": price}


@pytest.mark.parametrize(
    ("stream", "items", "says"),
    [
        ("catalogue", [{"name_zh": "无编码", "price_fen": 100}], "missing required field `sku`"),
        ("catalogue", [{"sku": "A" * 70, "price_fen": 100}], "length <= 64"),
        ("catalogue", [{"sku": "A", "price_fen": -1}], "$.price_fen"),
        ("catalogue", [{"sku": "A", "price_fen": 2**63}], "$.price_fen"),
        ("catalogue", [{"sku": "A", "price_fen": 1, "colour": "red"}], "unknown field `colour`"),
        ("catalogue", [product("A"), product("A")], "appears twice"),
        ("prices", [{"sku": "A", "price_fen": "9.90"}], "Expected `int`"),
        ("members", [{"member_id": "M1"}], "missing required field `phone`"),
        ("members", [{"member_id": "M1", "phone": "abc"}], "$.phone"),
        ("coupons", [{"code": "C1", "kind": "free-beer", "value": 1}], "$.kind"),
        ("config", [{"key": "k", "value": "x" * 5000}], "at most 4096 bytes"),
    ],
)
def test_bad_items_are_refused_naming_the_field(
    hq: dict, stream: str, items: list, says: str
) -> None:
    reply = hq["client"].post(
        f"/api/push/{stream}", json={"scope": "S001", "items": items}, headers=hq["heads"]["admin"]
    )
    assert reply.status_code == 422, reply.text
    assert says in reply.json()["detail"]
    assert hq["sent"] == []  # nothing stored, nothing sent
    cdb = open_cloud_db(hq["url"])
    assert cdb.models.DownChange.select().count() == 0
    cdb.close()


def test_a_delete_carries_keys_only_and_an_unknown_store_is_404(hq: dict) -> None:
    c, admin = hq["client"], hq["heads"]["admin"]
    bad = c.post(
        "/api/push/catalogue",
        json={"scope": "S001", "kind": "delete", "items": [{"sku": "A", "price_fen": 1}]},
        headers=admin,
    )
    assert bad.status_code == 422 and "only 'sku'" in bad.json()["detail"]
    unknown = c.post(
        "/api/push/prices", json={"scope": "S404", "items": [product("A")]}, headers=admin
    )
    assert unknown.status_code == 404 and "S404" in unknown.json()["detail"]


def test_marketing_pushes_members_but_never_prices(hq: dict) -> None:
    c, mk = hq["client"], hq["heads"]["marketing"]
    ok = c.post(
        "/api/push/members",
        headers=mk,
        json={"scope": "S001", "items": [{"member_id": "M1", "phone": "13800000001"}]},
    )
    assert ok.status_code == 200
    no = c.post(
        "/api/push/prices",
        headers=mk,
        json={"scope": "S001", "items": [{"sku": "A", "price_fen": 1}]},
    )
    assert no.status_code == 403 and "prices" in no.json()["detail"]


def _till_reports(url: str, terminal: str, versions: dict[str, int]) -> None:
    """The terminal's last status, as ingest stores it."""
    cdb = open_cloud_db(url)
    with cdb.write():
        cdb.models.Terminal.insert(
            terminal_id=terminal, store_id="S001", status={"stream_versions": versions}
        ).execute()
    cdb.close()


def test_a_snapshot_that_would_empty_much_of_a_till_needs_force(hq: dict) -> None:
    c, admin = hq["client"], hq["heads"]["admin"]
    items = [product(f"P{i:03d}") for i in range(10)]
    v1 = c.post("/api/push/catalogue", json={"scope": "S001", "items": items}, headers=admin)
    assert v1.json()["version"] == 1
    _till_reports(hq["url"], "S001-T01", {"catalogue": 1})  # the till holds the 10
    # HQ then deletes 3 of them: a snapshot now would remove 30 % of the till's products.
    c.post(
        "/api/push/catalogue",
        headers=admin,
        json={
            "scope": "S001",
            "kind": "delete",
            "items": [{"sku": s} for s in ("P000", "P001", "P002")],
        },
    )
    refused = c.post("/api/terminals/S001-T01/snapshot/catalogue", headers=admin)
    assert refused.status_code == 409
    assert "remove 3 of the 10 items" in refused.json()["detail"] and "force=true" in refused.text
    assert not any("S001-T01" in t for t in hq["sent"])  # nothing went out
    forced = c.post(
        "/api/terminals/S001-T01/snapshot/catalogue", params={"force": "true"}, headers=admin
    )
    assert forced.status_code == 200 and forced.json()["removes"] == 3
    assert forced.json()["items"] == 7
    # A till already on the latest version loses nothing: no force needed.
    _till_reports(hq["url"], "S001-T02", {"catalogue": 2})
    assert c.post("/api/terminals/S001-T02/snapshot/catalogue", headers=admin).status_code == 200


def test_a_technician_registers_a_terminal_and_nothing_else(hq: dict) -> None:
    c, tech = hq["client"], hq["heads"]["technician"]
    body = {
        "terminal_id": "S001-T03",
        "store_id": "S001",
        "cert_sha256": "AB" * 32,
        "cert_serial": "7F3A",
    }
    made = c.post("/api/terminals", json=body, headers=tech)
    assert made.status_code == 201 and made.json()["state"] == "registered"
    again = c.post("/api/terminals", json=body, headers=tech)
    assert again.status_code == 409 and "already registered" in again.json()["detail"]
    nowhere = c.post(
        "/api/terminals", json={**body, "terminal_id": "S404-T01", "store_id": "S404"}, headers=tech
    )
    assert nowhere.status_code == 404 and "unknown store 'S404'" in nowhere.json()["detail"]
    bad_print = c.post("/api/terminals", json={**body, "cert_sha256": "xyz"}, headers=tech)
    assert bad_print.status_code == 422
    [row] = [
        t for t in c.get("/api/terminals", headers=tech).json() if t["terminal_id"] == "S001-T03"
    ]
    assert (row["registration"], row["cert_sha256"], row["online"]) == (
        "registered",
        "ab" * 32,
        False,
    )
    revoked = c.post(
        "/api/terminals/S001-T03/revoke", json={"reason": "stolen"}, headers=hq["heads"]["admin"]
    )
    assert revoked.status_code == 200
    [row] = [
        t for t in c.get("/api/terminals", headers=tech).json() if t["terminal_id"] == "S001-T03"
    ]
    assert (row["registration"], row["revoke_reason"]) == ("revoked", "stolen")
    for method, path in (
        ("GET", "/api/reports/sales"),
        ("POST", "/api/push/prices"),
        ("GET", "/api/users"),
        ("POST", "/api/terminals/S001-T03/revoke"),
    ):
        assert c.request(method, path, headers=tech, json={}).status_code == 403, path


def test_a_rotated_certificate_replaces_the_registered_one(hq: dict) -> None:
    c, tech = hq["client"], hq["heads"]["technician"]
    body = {"terminal_id": "S001-T03", "store_id": "S001", "cert_sha256": "ab" * 32,
            "cert_serial": "7f3a", "cert_valid_until": "2027-01-01T00:00:00Z"}  # fmt: skip
    assert c.post("/api/terminals", json=body, headers=tech).status_code == 201
    url = "/api/terminals/S001-T03/certificate"
    wrong = c.put(url, json={"cert_pem": terminal_cert_pem("S001-T04")}, headers=tech)
    assert wrong.status_code == 422 and "names ['S001-T04'], not S001-T03" in wrong.text
    garbage = c.put(url, json={"cert_pem": "not a certificate"}, headers=tech)
    assert garbage.status_code == 422 and "not a PEM certificate" in garbage.text
    nobody = c.put("/api/terminals/S001-T09/certificate",
                   json={"cert_pem": terminal_cert_pem("S001-T09")}, headers=tech)  # fmt: skip
    assert nobody.status_code == 404 and "not registered" in nobody.text
    [row] = [
        t for t in c.get("/api/terminals", headers=tech).json() if t["terminal_id"] == "S001-T03"
    ]
    assert (row["cert_serial"], row["cert_valid_until"]) == ("7f3a", "2027-01-01T00:00:00+00:00")
    pem = terminal_cert_pem("S001-T03")
    done = c.put(url, json={"cert_pem": pem}, headers=tech)
    assert done.status_code == 200 and done.json()["state"] == "replaced", done.text
    [row] = [
        t for t in c.get("/api/terminals", headers=tech).json() if t["terminal_id"] == "S001-T03"
    ]
    assert row["cert_serial"] == done.json()["cert_serial"] != "7f3a"
    assert row["cert_previous_serial"] == "7f3a" and row["cert_replaced_at"]
    assert row["cert_replaced_via"] == "technician technician-user"
    page = c.get("/terminals", headers={**tech, "Accept-Language": "zh-CN"}).text
    assert row["cert_serial"] in page and row["cert_sha256"][:16] in page
    cdb = open_cloud_db(hq["url"])
    audit = cdb.hq.HqAudit
    assert audit.select().where(audit.action == "terminal_certificate").count() == 1
    cdb.close()


def _presents(url: str, terminal: str, cert_not_after: str) -> None:
    """The till's last status names the end of the certificate it presents."""
    cdb = open_cloud_db(url)
    with cdb.write():
        cdb.models.Terminal.insert(
            terminal_id=terminal, store_id="S001", online=True,
            status={"online": True, "cert_not_after": cert_not_after},
        ).execute()  # fmt: skip
    cdb.close()


def test_a_till_presenting_another_certificate_than_the_registered_one_is_flagged(
    hq: dict,
) -> None:
    c, tech = hq["client"], hq["heads"]["technician"]
    ends = {"S001-T03": "2027-01-01T00:00:00.400000Z",  # the registered one, to the second
            "S001-T04": "2027-01-01T00:00:01Z",  # one second later: another certificate
            "S001-T05": "2029-03-10T08:00:00+00:00"}  # fmt: skip
    for n, (tid, presented) in enumerate(ends.items()):
        body = {"terminal_id": tid, "store_id": "S001", "cert_sha256": f"{n:02x}" * 32,
                "cert_serial": f"7f3{n}", "cert_valid_until": "2027-01-01T00:00:00Z"}  # fmt: skip
        assert c.post("/api/terminals", json=body, headers=tech).status_code == 201
        _presents(hq["url"], tid, presented)
    listed = {t["terminal_id"]: t["cert_mismatch"] for t in c.get("/api/terminals",
                                                                  headers=tech).json()}  # fmt: skip
    assert listed == {"S001-T03": False, "S001-T04": True, "S001-T05": True}
    for language, says, attention in (
        ("zh_CN", "终端使用的是另一张证书（到期 2029-03-10 08:00:00 UTC，登记的证书到期 "
                  "2027-01-01 00:00:00 UTC）", "证书与登记不符"),
        ("en", "The till presents another certificate (it ends 2029-03-10 08:00:00 UTC, the "
               "registered one 2027-01-01 00:00:00 UTC)", "certificate differs from"),
    ):  # fmt: skip
        c.cookies.set(LANG_COOKIE, language)
        page = c.get("/terminals", headers=tech).text
        rows = {tid: page.split(f'<tr id="{tid}"')[1].split("</tr>")[0] for tid in ends}
        assert "mismatch" not in rows["S001-T03"], rows["S001-T03"]
        assert 'class="tag bad mismatch"' in rows["S001-T04"]
        assert says in rows["S001-T05"], rows["S001-T05"]
        dashboard = c.get("/", headers=hq["heads"]["admin"])
        assert dashboard.text.count(attention) == 2, language


def test_a_registry_made_before_certificates_were_followed_gains_the_columns(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    open_cloud_db(url).close()
    import sqlite3

    con = sqlite3.connect(tmp_path / "old.db")
    for column in ("cert_valid_from", "cert_valid_until", "cert_replaced_at",
                   "cert_replaced_via", "cert_previous_serial"):  # fmt: skip
        con.execute(f"ALTER TABLE hq_terminal_registry DROP COLUMN {column}")
    con.execute("INSERT INTO hq_terminal_registry (terminal_id, store_id, cert_sha256, "
                "cert_serial, registered_at, registered_by, revoked_by, revoke_reason) VALUES "
                "('S001-T01', 'S001', 'aa', '1f', '2026-01-01 00:00:00', 't', '', '')")  # fmt: skip
    con.commit()
    con.close()
    cdb = open_cloud_db(url)
    try:
        [row] = registry.terminals_with_registry(cdb)
        assert (row["cert_serial"], row["cert_valid_until"], row["cert_previous_serial"]) == (
            "1f", None, "",
        )  # fmt: skip
    finally:
        cdb.close()
