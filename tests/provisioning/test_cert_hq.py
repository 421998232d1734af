"""HQ's terminal registration follows the certificate each terminal is issued, and only that.

The whole path is real: the fleet's TLS broker from `fleet init`, `terminal add` registering
with the real HQ API served by uvicorn, the real ingest worker holding the fleet's ingest
identity (it reads the cert topics), `fleet renew` and `terminal rotate` as a technician runs
them, and attackers as independent clients (mosquitto_pub) holding genuine certificates.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import ApiSettings, create_app
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from protocol import topics
from provisioning import certs
from provisioning.terminal_root import Layout
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, call
from tests.cloud.api.recorder import Recorder
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import cli, wait_for
from tests.provisioning.renew_support import (
    client,
    mosquitto_pub,
    pair,
    registry_serial,
    request_for,
    signer,
)

T, OTHER = "S001-T01", "S001-T02"
RENEW, CERT = topics.renew_topic("S001", T), topics.cert_topic("S001", T)


@dataclass
class World:
    """The fleet, the real HQ API and an ingest worker, and a technician's token."""

    env: FleetEnv
    hq_url: str
    token: str
    ingest: IngestWorker

    def add(self, terminal: str) -> Layout:
        layout = Layout(self.env.tmp / f"root-{terminal}")
        done = cli("terminal", "add", "--fleet", str(self.env.dir), "--store", "S001",
                   "--terminal", terminal, "--root", str(layout.root), "--days", "10",
                   "--store-name", "徐汇店",
                   "--hq-url", self.hq_url, "--token", self.token)  # fmt: skip
        assert done.code == 0, done.out + done.err
        return layout

    def row(self, terminal: str) -> dict[str, Any]:
        """The terminal as HQ's API lists it."""
        code, rows = call(f"{self.hq_url}/api/terminals", self.token)
        assert code == 200, rows
        [row] = [r for r in rows if r["terminal_id"] == terminal]
        return dict(row)


@pytest.fixture
def world(fleet_env: FleetEnv, tmp_path: Path) -> Iterator[World]:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    token = token_for(db_url, "technician")
    fleet = fleet_env.fleet
    settings = ApiSettings(fleet_ca=fleet.ca_cert.read_bytes())
    ingest_id = fleet.service_pair("ingest")
    worker = IngestWorker(db_url, BrokerSettings(
        host="127.0.0.1", port=fleet.settings.broker_port, tls_ca=str(fleet.ca_cert),
        tls_cert=str(ingest_id.cert), tls_key=str(ingest_id.key),
    ), client_id="ingest")  # fmt: skip
    with Served(create_app(db_url, Recorder(), settings)) as served:
        worker.start()
        try:
            yield World(fleet_env, served.url, token, worker)
        finally:
            worker.stop()


def _renew(world: World, layout: Layout) -> certs.x509.Certificate:
    """The till asks (as itself) and `fleet renew` signs; the certificate it was issued."""
    me = client(world.env.fleet, pair(layout))
    assert not me.publish(RENEW, request_for(T)[1], retain=True).is_failure
    me.close()
    done = world.env.cmd("fleet", "renew")
    assert "signed a new certificate" in done.out, done.out + done.err
    pem = world.env.fleet.registry().terminals[T].renewed_pem
    return certs.x509.load_pem_x509_certificate(pem.encode())


def _iso(when: dt.datetime) -> str:
    return when.replace(tzinfo=dt.UTC).isoformat()


def test_a_renewal_replaces_the_certificate_hq_names(world: World) -> None:
    layout = world.add(T)
    first = world.row(T)
    assert first["cert_serial"] == registry_serial(world.env, T)
    assert first["cert_valid_until"] == _iso(certs.load_cert(layout.cert).not_valid_after_utc)
    assert first["cert_replaced_at"] is None
    issued = _renew(world, layout)
    serial = certs.serial_hex(issued)
    assert serial == registry_serial(world.env, T) != first["cert_serial"]
    assert wait_for(lambda: world.row(T)["cert_serial"] == serial), world.row(T)
    now = world.row(T)
    assert now["cert_sha256"] == certs.fingerprint(issued)
    assert now["cert_valid_until"] == _iso(issued.not_valid_after_utc)
    assert now["cert_valid_from"] == _iso(issued.not_valid_before_utc)
    assert now["cert_previous_serial"] == first["cert_serial"]
    assert now["cert_replaced_at"] is not None and "signer" in now["cert_replaced_via"]
    assert now["registration"] == "registered"


def test_a_rotation_tells_hq_directly_and_a_stale_certificate_never_winds_it_back(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    layout = world.add(T)
    renewed = _renew(world, layout)
    assert wait_for(lambda: world.row(T)["cert_serial"] == certs.serial_hex(renewed))
    done = cli("terminal", "rotate", "--fleet", str(world.env.dir), "--terminal", T, "--root",
               str(layout.root), "--hq-url", world.hq_url, "--token", world.token)  # fmt: skip
    assert done.code == 0, done.out + done.err
    assert "recorded at HQ" in done.out and "published on its cert topic" in done.out
    rotated = certs.load_cert(layout.cert)
    row = world.row(T)  # at once: HQ was told by the command itself
    assert (row["cert_serial"], row["cert_sha256"]) == (
        certs.serial_hex(rotated), certs.fingerprint(rotated),
    )  # fmt: skip
    assert row["cert_previous_serial"] == certs.serial_hex(renewed)
    assert row["cert_replaced_via"] == "technician technician-user"
    # A certificate the fleet issued before this one, published again (a stale retained
    # message), is not taken. (Made here: the renewal above may share the rotation's second.)
    stale = certs.sign_csr(
        world.env.fleet.authority(), certs.x509.load_pem_x509_csr(request_for(T)[1]),
        not_before=rotated.not_valid_before_utc - dt.timedelta(minutes=5),
    )  # fmt: skip
    caplog.set_level(logging.INFO, logger="cloud.ingest.certs")
    me = signer(world.env.fleet)
    assert not me.publish(CERT, certs.cert_pem(stale), retain=True).is_failure
    me.close()
    assert wait_for(lambda: "before the registered" in caplog.text), caplog.text
    assert world.row(T) == row


def test_a_rotation_without_a_token_reaches_hq_through_the_cert_topic(world: World) -> None:
    layout = world.add(T)
    done = cli("terminal", "rotate", "--fleet", str(world.env.dir), "--terminal", T,
               "--root", str(layout.root), "--token", "")  # fmt: skip
    assert done.code == 0, done.out + done.err
    assert "published on its cert topic" in done.out and "recorded at HQ" not in done.out
    rotated = certs.load_cert(layout.cert)
    assert wait_for(lambda: world.row(T)["cert_serial"] == certs.serial_hex(rotated))
    assert world.row(T)["cert_sha256"] == certs.fingerprint(rotated)


def test_a_rogue_terminal_cannot_change_another_s_registration_and_garbage_is_ignored(
    world: World, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    world.add(T)
    rogue = world.add(OTHER)
    before = world.row(T)
    caplog.set_level(logging.INFO, logger="cloud.ingest.certs")
    # The rogue's own genuine certificate, and one naming the victim from a CA of its own.
    own_ca = certs.create_ca(tmp_path / "rogue-ca")
    forged = certs.issue_client_cert(own_ca, tmp_path / "forged", T)
    for payload in (pair(rogue).cert.read_bytes(), forged.cert.read_bytes()):
        said = mosquitto_pub(world.env.fleet, pair(rogue), CERT, payload)
        assert "Not authorized" in said, said
    # What would have been refused had it got through: the signer's own mistakes.
    me = signer(world.env.fleet)
    for payload, why in (
        (b"garbage, not a certificate", "not a PEM certificate"),
        (pair(rogue).cert.read_bytes(), f"names ['{OTHER}'], not {T}"),
        (forged.cert.read_bytes(), "not issued by the CA"),
    ):
        assert not me.publish(CERT, payload, retain=True).is_failure
        assert wait_for(lambda why=why: why in caplog.text), caplog.text
    me.close()
    assert caplog.text.count(f"certificate on {CERT} ignored, HQ's registration unchanged") == 3
    assert world.row(T) == before
    assert world.row(OTHER)["cert_serial"] == registry_serial(world.env, OTHER)
