"""The certificate signer has a broker identity of its own, beside the technicians' admin one.

The broker makes one identity one session (use_username_as_clientid): sharing the admin's,
the signer and a technician's admin client knocked each other off. Real fleet broker, the
real signer (provisioning.renew and the CLI), independent clients and mosquitto_pub.
"""

from __future__ import annotations

from protocol import topics
from provisioning import certs, renew
from provisioning.acl import CONTROL_TOPIC
from provisioning.fleet import Registry, utc_now
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import wait_for
from tests.provisioning.renew_support import (
    admin,
    client,
    layout_of,
    mosquitto_pub,
    pair,
    provision,
    registry_serial,
    request_for,
    retained,
)

T = "S001-T01"
RENEW, CERT = topics.renew_topic("S001", T), topics.cert_topic("S001", T)


def _ask(env: FleetEnv) -> None:
    """The till's signing request, waiting retained on its renew topic."""
    me = client(env.fleet, pair(provision(env, T)))
    assert not me.publish(RENEW, request_for(T)[1], retain=True).is_failure
    me.close()


def test_the_signer_and_an_admin_client_stay_connected_side_by_side(fleet_env: FleetEnv) -> None:
    _ask(fleet_env)
    fleet = fleet_env.fleet
    before = registry_serial(fleet_env, T)
    technician = admin(fleet)  # a technician's admin tool, connected throughout the run
    status = topics.status_topic("S001", T)
    assert not technician.subscribe(status).is_failure
    mid_run: list[bool] = []

    def save(reg: Registry) -> None:
        fleet.save_registry(reg)
        # The admin works while the signer is connected, before it publishes the answer.
        mid_run.append(technician.publish(status, b"", retain=False).is_failure)

    lines, signed = renew.renew(fleet, save, utc_now())
    assert signed and f"terminal {T} (store S001): signed a new certificate" in lines[0], lines
    assert mid_run == [False]
    assert not technician.dropped  # neither knocked the other off
    assert not technician.publish(status, b"", retain=False).is_failure
    technician.close()
    issued = retained(fleet, CERT, pair(layout_of(fleet_env, T)))
    assert certs.serial_hex(certs.x509.load_pem_x509_certificate(issued)) == registry_serial(
        fleet_env, T
    ) != before  # fmt: skip
    assert retained(fleet, RENEW) == b""  # answered and cleared


def _pub(env: FleetEnv, who: certs.CertPair, topic: str, payload: str) -> str:
    return mosquitto_pub(env.fleet, who, topic, payload.encode())


def test_the_signer_identity_cannot_do_admin_things(fleet_env: FleetEnv) -> None:
    fleet = fleet_env.fleet
    signer_id = fleet.service_pair("signer")
    said = _pub(fleet_env, signer_id, CONTROL_TOPIC, '{"commands":[{"command":"listClients"}]}')
    assert "Not authorized" in said, said
    said = _pub(fleet_env, signer_id, topics.status_topic("S001", T), "forged status")
    assert "Not authorized" in said, said
    # The admin, for its part, no longer answers terminals' requests or sends certificates.
    said = _pub(fleet_env, fleet.service_pair("admin"), CERT, "forged certificate")
    assert "Not authorized" in said, said
    assert _pub(fleet_env, signer_id, CERT, "issued") == ""  # what the signer may do, it can


def test_apply_gives_a_fleet_made_before_the_signer_its_identity(fleet_env: FleetEnv) -> None:
    _ask(fleet_env)
    fleet = fleet_env.fleet
    before = registry_serial(fleet_env, T)
    # As a fleet made by the earlier version: no signer certificate, no signer on the broker.
    pair_ = fleet.service_pair("signer")
    pair_.cert.unlink()
    pair_.key.unlink()
    with fleet.admin() as control:
        control.checked([{"command": "deleteClient", "username": "signer"},
                         {"command": "deleteRole", "rolename": "service:signer"}])  # fmt: skip
        assert "signer" not in control.live()[1]
    check = fleet_env.cmd("fleet", "check")
    assert "service signer" not in check.out, check.out  # nothing to read yet, and no crash
    done = fleet_env.cmd("fleet", "apply")
    assert done.code == 0, done.out + done.err
    assert "issued service signer's certificate" in done.out, done.out
    assert f"terminal {T} (store S001): signed a new certificate" in done.out, done.out
    assert pair_.key.stat().st_mode & 0o777 == 0o600
    assert wait_for(lambda: registry_serial(fleet_env, T) != before)
    with fleet.admin() as control:
        assert control.live()[1]["signer"] == {"service:signer"}


def test_a_certificate_the_broker_refuses_is_reported_unsent_and_sent_after_apply(
    fleet_env: FleetEnv,
) -> None:
    """The broker answers a refused publish with a PUBACK carrying "Not authorized" (MQTT 5):
    the signer says so instead of counting the certificate as sent, and `fleet apply`, which
    gives the signer its rights back, delivers that same certificate."""
    _ask(fleet_env)
    fleet = fleet_env.fleet
    with fleet.admin() as control:  # the signer may still read requests, but send nothing
        sends = [r for r in control.live()[0]["service:signer"] if r.acltype.endswith("Send")]
        assert sends
        control.checked([{"command": "removeRoleACL", "rolename": "service:signer",
                          "acltype": r.acltype, "topic": r.topic} for r in sends])  # fmt: skip
    lines, signed = renew.renew(fleet, fleet.save_registry, utc_now())
    assert signed and len(lines) == 1, lines
    assert f"terminal {T} (store S001): signed a new certificate" in lines[0], lines
    assert f"NOT sent: {CERT} refused by the broker: Not authorized; run " in lines[0], lines
    assert "fleet apply" in lines[0], lines
    issued = registry_serial(fleet_env, T)
    done = fleet_env.cmd("fleet", "apply")
    assert done.code == 0, done.out + done.err
    assert "answered again with the certificate already issued" in done.out, done.out
    sent = retained(fleet, CERT, pair(layout_of(fleet_env, T)))
    assert sent and certs.serial_hex(certs.x509.load_pem_x509_certificate(sent)) == issued
    assert registry_serial(fleet_env, T) == issued  # the same certificate, not a second one
    assert retained(fleet, RENEW) == b""
