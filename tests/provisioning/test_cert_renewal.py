"""An online till renews its own certificate: it asks, `fleet renew` signs, the till installs.

Everything runs on the fleet's real TLS broker from the files `terminal add` wrote: the till is
its real sync service, the signer is the real command, and the certificate the till ends up
holding is checked against the registry and against what the broker accepts.
"""

from __future__ import annotations

import datetime as dt

from protocol import codec, topics
from protocol.envelope import utc_iso
from provisioning import certs
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import connects_with, wait_for
from tests.provisioning.renew_support import (
    client,
    copy_pair,
    file_serial,
    pair,
    provision,
    registry_serial,
    request_for,
    retained,
    till,
)

T = "S001-T01"
RENEW = topics.renew_topic("S001", T)
CERT = topics.cert_topic("S001", T)
STATUS = topics.status_topic("S001", T)


def _status_cert_end(env: FleetEnv) -> str | None:
    payload = retained(env.fleet, STATUS)
    return codec.decode_status(payload).cert_not_after if payload else None


def test_a_due_till_renews_itself_and_reconnects_with_the_new_certificate(
    fleet_env: FleetEnv,
) -> None:
    layout = provision(fleet_env, T)
    old = copy_pair(layout, fleet_env.tmp)
    old_serial = registry_serial(fleet_env, T)
    pending = layout.tls / "device.key.renew"
    # No periodic status in this test: only a new connection sends one again.
    with till(layout, status_interval_s=3600, status_check_s=0.1) as svc:
        assert svc.wait(lambda s: s.connected and s.renewals_asked == 1, 30), svc.stats()
        assert wait_for(lambda: retained(fleet_env.fleet, RENEW) != b"")
        assert pending.stat().st_mode & 0o777 == 0o600
        old_end = utc_iso(certs.load_cert(old.cert).not_valid_after_utc)
        assert wait_for(lambda: _status_cert_end(fleet_env) == old_end)

        done = fleet_env.cmd("fleet", "renew")
        assert done.code == 0, done.out + done.err
        assert f"terminal {T} (store S001): signed a new certificate" in done.out

        assert svc.wait(lambda s: s.renewals_installed == 1 and s.connected, 30), svc.stats()
        new_serial = registry_serial(fleet_env, T)
        assert new_serial != old_serial and file_serial(layout) == new_serial
        assert not pending.exists() and layout.key.stat().st_mode & 0o777 == 0o600
        new_end = certs.load_cert(layout.cert).not_valid_after_utc
        assert new_end - dt.datetime.now(dt.UTC) > dt.timedelta(days=800)
        # HQ sees it at once: the till reconnected, and a new connection reports its status.
        assert wait_for(lambda: _status_cert_end(fleet_env) == utc_iso(new_end)), svc.stats()
        assert retained(fleet_env.fleet, RENEW) == b""  # answered: the request is cleared

        # The old certificate keeps working until its own end, also after the daily apply.
        assert fleet_env.cmd("fleet", "apply").code == 0
        assert connects_with(fleet_env.fleet, old)
        # Once the broker refuses the old one, the till's next handshake still succeeds.
        fleet = fleet_env.fleet
        reg = fleet.registry()
        ended = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        reg.terminals[T].old[-1].until = ended.isoformat()
        fleet.save_registry(reg)
        assert fleet_env.cmd("fleet", "apply").code == 0
        assert wait_for(lambda: not connects_with(fleet, old), 15)  # the broker's SIGHUP
        fleet_env.broker.stop()
        assert svc.wait(lambda s: not s.connected, 15)
        fleet_env.broker.start()
        assert svc.wait(lambda s: s.connected, 30), svc.stats()
        assert svc.stats().renewals_asked == 1  # not due any more: it never asked again

    again = fleet_env.cmd("fleet", "renew")
    assert again.code == 0 and "none waiting" in again.out, again.out
    assert registry_serial(fleet_env, T) == new_serial


def test_a_restarted_till_asks_again_with_the_key_it_kept(fleet_env: FleetEnv) -> None:
    layout = provision(fleet_env, T)
    with till(layout) as svc:
        assert svc.wait(lambda s: s.renewals_asked == 1, 30), svc.stats()
    first = retained(fleet_env.fleet, RENEW)
    key_pem = (layout.tls / "device.key.renew").read_bytes()
    retained_clear = client(fleet_env.fleet, fleet_env.fleet.service_pair("signer"))
    retained_clear.publish(RENEW, b"", retain=True)  # as if the request had been lost
    retained_clear.close()
    with till(layout) as svc:
        assert svc.wait(lambda s: s.renewals_asked == 1, 30), svc.stats()
        assert wait_for(lambda: retained(fleet_env.fleet, RENEW) != b"")
        second = retained(fleet_env.fleet, RENEW)
        assert (layout.tls / "device.key.renew").read_bytes() == key_pem
        assert certs.x509.load_pem_x509_csr(second).public_key() == (
            certs.x509.load_pem_x509_csr(first).public_key()
        )
        assert fleet_env.cmd("fleet", "renew").code == 0
        assert svc.wait(lambda s: s.renewals_installed == 1, 30), svc.stats()
    assert file_serial(layout) == registry_serial(fleet_env, T)


def test_the_same_request_asked_again_gets_the_same_certificate(fleet_env: FleetEnv) -> None:
    layout = provision(fleet_env, T)
    _key, csr = request_for(T)
    me = client(fleet_env.fleet, pair(layout))
    assert not me.publish(RENEW, csr, retain=True).is_failure
    first = fleet_env.cmd("fleet", "renew")
    assert "signed a new certificate" in first.out, first.out + first.err
    issued = retained(fleet_env.fleet, CERT, pair(layout))
    serial = registry_serial(fleet_env, T)
    assert certs.serial_hex(certs.x509.load_pem_x509_certificate(issued)) == serial
    # The answer was lost on the way: the till asks again with the same key.
    assert not me.publish(RENEW, csr, retain=True).is_failure
    second = fleet_env.cmd("fleet", "renew")
    assert "answered again with the certificate already issued" in second.out, second.out
    assert "signed a new certificate" not in second.out
    assert registry_serial(fleet_env, T) == serial
    assert retained(fleet_env.fleet, CERT, pair(layout)) == issued
    assert len(fleet_env.fleet.registry().terminals[T].old) == 1
    me.close()


def test_the_daily_apply_signs_waiting_requests(fleet_env: FleetEnv) -> None:
    layout = provision(fleet_env, T)
    before = registry_serial(fleet_env, T)
    me = client(fleet_env.fleet, pair(layout))
    assert not me.publish(RENEW, request_for(T)[1], retain=True).is_failure
    me.close()
    done = fleet_env.cmd("fleet", "apply")
    assert done.code == 0, done.out + done.err
    assert f"terminal {T} (store S001): signed a new certificate" in done.out
    assert registry_serial(fleet_env, T) != before
    assert f"due: terminal {T}" not in done.out  # renewed: no longer due


def test_a_till_cut_off_mid_install_starts_with_the_renewed_pair(fleet_env: FleetEnv) -> None:
    layout = provision(fleet_env, T)
    key, csr = request_for(T)
    issued = certs.sign_csr(fleet_env.fleet.authority(), certs.x509.load_pem_x509_csr(csr))
    # The power went after the new key was renamed into place, before the certificate was.
    (layout.tls / "device.crt.renew").write_bytes(certs.cert_pem(issued))
    certs.write_key(layout.key, key)
    with till(layout) as svc:
        assert svc.wait(lambda s: s.connected, 30), svc.stats()
    assert file_serial(layout) == certs.serial_hex(issued)
