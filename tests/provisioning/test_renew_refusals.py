"""The signer refuses what a till may not have, and the till refuses a certificate it cannot use.

Attackers and unlucky technicians are independent clients holding a till's genuine
certificate (or the signer's, to deliver an answer); what is asserted is what the registry,
the broker and the till's own files show afterwards.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import CertificateSigningRequestBuilder

from protocol import enrol, topics
from provisioning import certs
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import wait_for
from tests.provisioning.renew_support import (
    client,
    layout_of,
    pair,
    provision,
    registry_serial,
    request_for,
    retained,
    till,
)
from tests.provisioning.renew_support import (
    signer as signer_client,
)

NOT_AUTHORIZED = 135
T, OTHER, GOOD = "S001-T01", "S001-T02", "S001-T03"


def _renew_topic(terminal: str) -> str:
    return topics.renew_topic("S001", terminal)


def _ask(env: FleetEnv, terminal: str, payload: bytes) -> None:
    """The terminal itself publishes payload, retained, on its own renew topic."""
    me = client(env.fleet, pair(layout_of(env, terminal)))
    try:
        assert not me.publish(_renew_topic(terminal), payload, retain=True).is_failure
    finally:
        me.close()


def _rsa_request(terminal: str) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = CertificateSigningRequestBuilder().subject_name(enrol.subject(terminal))
    return csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _bad_signature(terminal: str) -> bytes:
    der = bytearray(enrol.make_csr(certs.new_key(), terminal).public_bytes(
        serialization.Encoding.DER))  # fmt: skip
    der[-5] ^= 0x01  # inside the signature: the request no longer matches its key
    return certs.x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)


BAD_REQUESTS = {
    "garbage": (lambda: b"\x00\xffnot a request", "not a PEM certificate signing request"),
    "another terminal's name": (lambda: request_for(OTHER)[1], f"names ['{OTHER}'], not {T}"),
    "a broken signature": (lambda: _bad_signature(T), "signature is invalid"),
    "an RSA key": (lambda: _rsa_request(T), "not an ECDSA P-256 key"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_is_refused_and_the_others_are_still_signed(
    fleet_env: FleetEnv, case: str
) -> None:
    make, reason = BAD_REQUESTS[case]
    provision(fleet_env, T)
    provision(fleet_env, OTHER)
    provision(fleet_env, GOOD)
    before = {t: registry_serial(fleet_env, t) for t in (T, OTHER)}
    _ask(fleet_env, T, make())
    _ask(fleet_env, GOOD, request_for(GOOD)[1])
    done = fleet_env.cmd("fleet", "renew")
    assert done.code == 0, done.out + done.err
    refused = [line for line in done.out.splitlines() if f"terminal {T} " in line]
    assert len(refused) == 1 and "refused, nothing signed" in refused[0], done.out
    assert reason in refused[0], refused[0]
    assert f"terminal {GOOD} (store S001): signed a new certificate" in done.out
    assert {t: registry_serial(fleet_env, t) for t in (T, OTHER)} == before
    for terminal in (T, OTHER):
        cert_topic = topics.cert_topic("S001", terminal)
        assert retained(fleet_env.fleet, cert_topic, pair(layout_of(fleet_env, terminal))) == b""
    assert retained(fleet_env.fleet, _renew_topic(T)) == b""  # answered (with a refusal)


def test_a_till_cannot_ask_on_another_tills_renew_topic(fleet_env: FleetEnv) -> None:
    victim = provision(fleet_env, T)
    attacker = provision(fleet_env, OTHER)
    before = registry_serial(fleet_env, T)
    thief = client(fleet_env.fleet, pair(attacker))
    assert thief.publish(_renew_topic(T), request_for(T)[1], retain=True).value == NOT_AUTHORIZED
    thief.close()
    done = fleet_env.cmd("fleet", "renew")
    assert done.code == 0 and "none waiting" in done.out, done.out
    assert registry_serial(fleet_env, T) == before
    assert retained(fleet_env.fleet, topics.cert_topic("S001", T), pair(victim)) == b""


def test_a_till_that_is_not_due_is_refused(fleet_env: FleetEnv) -> None:
    provision(fleet_env, T, days=str(certs.LEAF_DAYS))
    before = registry_serial(fleet_env, T)
    _ask(fleet_env, T, request_for(T)[1])
    done = fleet_env.cmd("fleet", "renew")
    assert done.code == 0, done.err
    assert f"terminal {T} (store S001): refused, nothing signed: its certificate is not due" in (
        done.out
    )
    assert registry_serial(fleet_env, T) == before


@pytest.mark.parametrize("how", ["revoke", "retire"])
def test_a_revoked_or_retired_terminal_is_refused(fleet_env: FleetEnv, how: str) -> None:
    provision(fleet_env, T)
    before = registry_serial(fleet_env, T)
    _ask(fleet_env, T, request_for(T)[1])  # asked while it was still active
    extra = ["--reason", "stolen"] if how == "revoke" else ["--force"]
    assert fleet_env.cmd("terminal", how, "--terminal", T, *extra).code == 0
    done = fleet_env.cmd("fleet", "renew")
    assert done.code == 0, done.err
    status = "revoked (stolen)" if how == "revoke" else "retired"
    assert f"terminal {T} (store S001): refused, nothing signed: the terminal is {status}" in (
        done.out
    ), done.out
    assert registry_serial(fleet_env, T) == before


CERT_PROBLEMS = ["another key", "another CA", "another name", "expired", "sooner", "garbage"]


def _bad_answer(env: FleetEnv, case: str, pending_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pending_pem, password=None)
    ca = env.fleet.authority()
    if case == "another key":
        return certs.cert_pem(certs.sign_csr(ca, certs.make_csr(certs.new_key(), T)))
    if case == "another CA":
        other = certs.create_ca(env.tmp / "other-ca")
        return certs.cert_pem(certs.sign_csr(other, certs.make_csr(key, T)))  # type: ignore[arg-type]
    if case == "another name":
        return certs.cert_pem(certs.sign_csr(ca, certs.make_csr(key, OTHER)))  # type: ignore[arg-type]
    if case == "sooner":  # valid, but ends before the certificate in use (10 days)
        return certs.cert_pem(certs.sign_csr(ca, certs.make_csr(key, T), days=5))  # type: ignore[arg-type]
    if case == "expired":
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        csr = certs.make_csr(key, T)  # type: ignore[arg-type]
        return certs.cert_pem(certs.sign_csr(ca, csr, days=1, not_before=start))
    return b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"


REASONS = {
    "another key": "not for this terminal's pending key",
    "another CA": "not issued by the CA this terminal trusts",
    "another name": f"names ['{OTHER}'], not {T}",
    "expired": "not valid now",
    "sooner": "not later than the current one",
    "garbage": "not a PEM certificate",
}


@pytest.mark.parametrize("case", CERT_PROBLEMS)
def test_the_till_refuses_a_certificate_it_cannot_use_and_keeps_working(
    fleet_env: FleetEnv, case: str
) -> None:
    layout = provision(fleet_env, T)
    pending = layout.tls / "device.key.renew"
    with till(layout, status_check_s=0.1) as svc:
        assert svc.wait(lambda s: s.connected and s.renewals_asked == 1, 30), svc.stats()
        assert wait_for(lambda: retained(fleet_env.fleet, _renew_topic(T)) != b"")
        files = {p: p.read_bytes() for p in (layout.cert, layout.key, pending)}
        signer = signer_client(fleet_env.fleet)
        bad = _bad_answer(fleet_env, case, pending.read_bytes())
        assert not signer.publish(topics.cert_topic("S001", T), bad, retain=True).is_failure
        signer.close()
        assert svc.wait(lambda s: s.rejected_messages >= 1, 30), svc.stats()
        stats = svc.stats()
        assert REASONS[case] in stats.last_problem and "refused" in stats.last_problem, stats
        assert {p: p.read_bytes() for p in files} == files
        assert svc.wait(lambda s: s.connected, 30) and svc.stats().renewals_installed == 0
        # Still working: the genuine answer, when it comes, is installed.
        done = fleet_env.cmd("fleet", "renew")
        assert "signed a new certificate" in done.out, done.out + done.err
        assert svc.wait(lambda s: s.renewals_installed == 1 and s.connected, 30), svc.stats()
        assert "refused" not in svc.stats().last_problem  # HQ no longer shows the bad answer
    assert certs.serial_hex(certs.load_cert(layout.cert)) == registry_serial(fleet_env, T)
