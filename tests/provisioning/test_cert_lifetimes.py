"""Nothing in a fleet ends unnoticed: apply renews the cloud's certificates, check names others."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
from pathlib import Path

import pytest

from provisioning import certs, files
from provisioning.fleet import Fleet
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import cli, connects_with, wait_for

NOBODY = 65534


def _served_serial(fleet: Fleet) -> int:
    """The serial of the certificate the running broker presents in its TLS handshake."""
    ctx = ssl.create_default_context(cafile=str(fleet.ca_cert))
    pair = fleet.service_pair("admin")
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    port = fleet.settings.broker_port
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return certs.x509.load_der_x509_certificate(der).serial_number


def _ends_in_days(path: Path) -> int:
    return (certs.load_cert(path).not_valid_after_utc - dt.datetime.now(dt.UTC)).days


def test_apply_renews_the_due_server_and_service_certificates_and_the_broker_serves_the_new_one(
    fleet_env: FleetEnv,
) -> None:
    fleet = fleet_env.fleet
    ca = fleet.authority()
    server_key = fleet.broker_dir / "server.key"
    names = certs.server_names(certs.load_cert(fleet.broker_dir / "server.crt"))
    # Both issued long ago: ten days left.
    certs.issue_server_cert(ca, fleet.broker_dir, hostnames=names[0], ips=names[1], days=10)
    certs.issue_client_cert(ca, fleet.root / "services", "jobs", days=10)
    ingest_before = fleet.service_pair("ingest").cert.read_bytes()
    if os.geteuid() == 0:
        os.chown(server_key, NOBODY, NOBODY)  # the broker's own user reads its key
    done = fleet_env.cmd("fleet", "apply")
    assert done.code == 0, done.err
    assert "renewed the broker's server certificate" in done.out
    assert "renewed service jobs's certificate" in done.out
    assert "service ingest" not in done.out
    assert _ends_in_days(fleet.broker_dir / "server.crt") > 800
    assert _ends_in_days(fleet.service_pair("jobs").cert) > 800
    assert fleet.service_pair("ingest").cert.read_bytes() == ingest_before
    assert certs.server_names(certs.load_cert(fleet.broker_dir / "server.crt")) == names
    if os.geteuid() == 0:
        st = server_key.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, files.PRIVATE)
    # The running broker takes its new certificate on apply's SIGHUP, with no restart.
    renewed = certs.load_cert(fleet.broker_dir / "server.crt").serial_number
    assert wait_for(lambda: _served_serial(fleet) == renewed, 15)
    assert connects_with(fleet, fleet.service_pair("jobs"))
    again = fleet_env.cmd("fleet", "apply")
    assert again.code == 0 and "none due" in again.out and "renewed" not in again.out


def test_check_names_each_due_item_with_its_fix_and_exits_1_until_it_is_done(
    fleet_env: FleetEnv,
) -> None:
    ok = fleet_env.cmd("fleet", "check")
    assert ok.code == 0, ok.out + ok.err
    assert "due:" not in ok.out and "service ingest" in ok.out and "fleet CA" in ok.out
    root = fleet_env.tmp / "pi"
    assert fleet_env.add("S001-T30", "S001", root, "--days", "20").code == 0
    fleet = fleet_env.fleet
    # A CRL written by a fleet whose timer stopped eleven months ago.
    crl = certs.build_crl(fleet.authority(), {}, days=12)
    files.write_bytes(fleet.crl, crl, mode=files.PUBLIC)
    due = fleet_env.cmd("fleet", "check")
    assert due.code == 1
    lines = [line for line in due.out.splitlines() if line.startswith("due:")]
    assert len(lines) == 2, due.out
    assert "terminal S001-T30 ends" in lines[1] and "renews itself" in lines[1]
    assert "fleet renew" in lines[1] and "terminal rotate" in lines[1]
    assert "lost or compromised key" in lines[1]
    assert "--terminal S001-T30" in lines[1]
    assert "CRL (next update) ends" in lines[0] and "fleet apply" in lines[0]
    # apply renews the CRL, and names the terminal, whose key only the terminal holds.
    applied = fleet_env.cmd("fleet", "apply")
    assert applied.code == 0
    assert "due: terminal S001-T30" in applied.out and "due: CRL" not in applied.out
    rotated = fleet_env.cmd("terminal", "rotate", "--terminal", "S001-T30", "--root", str(root))
    assert rotated.code == 0, rotated.err
    assert fleet_env.cmd("fleet", "check").code == 0


def test_init_run_again_replaces_a_server_certificate_that_is_due(fleet_env: FleetEnv) -> None:
    fleet = fleet_env.fleet
    names = certs.server_names(certs.load_cert(fleet.broker_dir / "server.crt"))
    certs.issue_server_cert(fleet.authority(), fleet.broker_dir, hostnames=names[0],
                            ips=names[1], days=5)  # fmt: skip
    done = fleet_env.cmd("fleet", "init")
    assert done.code == 0, done.err
    assert "broker server certificate ... issued" in done.out
    assert _ends_in_days(fleet.broker_dir / "server.crt") > 800


@pytest.mark.parametrize("broken", ["ca/ca.crt", "ca/crl.pem"])
def test_check_names_a_damaged_file(fleet_env: FleetEnv, broken: str) -> None:
    (fleet_env.dir / broken).write_text("not a PEM file\n")
    done = fleet_env.cmd("fleet", "check")
    assert done.code == 1 and broken.split("/")[1] in done.err


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to another user")
def test_apply_as_root_leaves_the_broker_its_files_when_it_runs_as_its_own_user(
    tmp_path: Path,
) -> None:
    fleet_dir = tmp_path / "fleet"
    done = cli("fleet", "init", "--fleet", str(fleet_dir), "--broker-user", "nobody")
    assert done.code == 0, done.err
    broker_dir = Fleet.open(fleet_dir).broker_dir
    for path in [broker_dir, *broker_dir.rglob("*")]:
        os.chown(path, 0, 0)  # as a root-run command that rewrote them would leave them
    assert cli("fleet", "apply", "--fleet", str(fleet_dir)).code == 0
    owners = {p.name: (p.stat().st_uid, p.stat().st_gid) for p in broker_dir.rglob("*")}
    assert {"mosquitto.conf", "dynsec.json", "server.key"} <= set(owners)
    assert set(owners.values()) == {(NOBODY, NOBODY)}, owners
