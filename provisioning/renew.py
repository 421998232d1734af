"""The fleet's certificate signer: answers terminals' signing requests read from the broker.

A till whose certificate is due publishes a signing request, retained, on its own renew topic
(device.sync.renew). Run on the fleet host (by `fleet renew`, and daily by `fleet apply`), the
signer connects as its own identity (signer: it may only read renew requests and publish
certificates; acl.SIGNER_RULES), reads every retained request and, for each, signs only
if the topic's terminal is an active terminal of that store in the registry, the request
passes protocol.enrol.read_request (signature, CN = that terminal, a P-256 key) and the
terminal's current certificate is due; otherwise it says why and signs nothing, so a till
cannot mint certificates at will. The new certificate is recorded in the registry, published
retained on the terminal's cert topic, and the request cleared. The old certificate is kept
valid until its own end (a till that misses the answer is never locked out). The same request
asked again is answered with the certificate already issued, never a second one.

The cert topic thus always holds the terminal's current certificate (`terminal rotate`
publishes the one it installs there too, through announce), and the ingest workers read it
to keep HQ's terminal registration on that certificate.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import paho.mqtt.client as mqtt
from cryptography import x509

from protocol import enrol, topics
from protocol.errors import BadTopic
from provisioning import certs
from provisioning.errors import BrokerConfigError, ProvisioningError
from provisioning.fleet import Fleet, OldCert, Registry, TerminalRecord
from provisioning.fleet_status import broker_host, service_client

#: Retained requests follow the SUBACK at once; this much quiet after the last one ends reading.
QUIET_S: Final = 1.0
WAIT_S: Final = 30.0
#: The fleet identity the signer connects as.
IDENTITY: Final = "signer"


@dataclass(frozen=True, slots=True)
class Request:
    """One retained message read from a renew topic."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """What the signer does for one request: a certificate to publish (or None) and why."""

    line: str
    cert: x509.Certificate | None = None
    signed: bool = False  # a new certificate was issued (the registry changed)


class Refused(ProvisioningError):
    """A request the signer will not sign; the message says why."""


class Unsent(BrokerConfigError):
    """The broker refused one of the signer's publishes (MQTT 5 PUBACK reason code >= 0x80)."""


def decide(reg: Registry, ca: certs.Authority, req: Request, now: dt.datetime) -> Answer:
    """Check one request against the registry and sign it if allowed (updating the record)."""
    try:
        store_id, terminal_id = topics.parse_renew_topic(req.topic)
    except BadTopic as err:
        return Answer(f"{req.topic}: refused, nothing signed: {err}")
    who = f"terminal {terminal_id} (store {store_id})"
    try:
        rec = _record(reg, store_id, terminal_id)
        csr = enrol.read_request(req.payload, terminal_id)
    except (Refused, enrol.EnrolError) as err:
        return Answer(f"{who}: refused, nothing signed: {err}")
    issued = _already_issued(rec, csr)
    if issued is not None:
        return Answer(f"{who}: answered again with the certificate already issued for this "
                      f"key (serial {certs.serial_hex(issued)})", issued)  # fmt: skip
    end = dt.datetime.fromisoformat(rec.not_after)
    if end - now > enrol.RENEW_BEFORE:
        days = (end - now) // dt.timedelta(days=1)
        return Answer(
            f"{who}: refused, nothing signed: its certificate is not due (ends {end:%Y-%m-%d}, "
            f"in {days} days; renewal opens {enrol.RENEW_BEFORE.days} days before)"
        )
    cert = certs.sign_csr(ca, csr)
    rec.old.append(OldCert(serial=rec.serial, until=rec.not_after, why="renewed"))
    rec.serial, rec.sha256 = certs.serial_hex(cert), certs.fingerprint(cert)
    rec.not_after = cert.not_valid_after_utc.isoformat()
    rec.renewed_pem = certs.cert_pem(cert).decode()
    return Answer(
        f"{who}: signed a new certificate (serial {rec.serial}, ends "
        f"{cert.not_valid_after_utc:%Y-%m-%d}); the old one works until its end ({end:%Y-%m-%d})",
        cert,
        signed=True,
    )


def _record(reg: Registry, store_id: str, terminal_id: str) -> TerminalRecord:
    rec = reg.terminals.get(terminal_id)
    if rec is None:
        raise Refused("not a terminal of this fleet")
    if rec.store_id != store_id:
        raise Refused(f"the terminal belongs to store {rec.store_id}")
    if rec.status != "active":
        raise Refused(f"the terminal is {rec.status}" + (f" ({rec.reason})" if rec.reason else ""))
    if not rec.not_after:
        raise Refused("the registry holds no certificate for it")
    return rec


def _already_issued(
    rec: TerminalRecord, csr: x509.CertificateSigningRequest
) -> x509.Certificate | None:
    """The certificate issued earlier for this request's key, if it is still the current one."""
    if not rec.renewed_pem:
        return None
    cert = x509.load_pem_x509_certificate(rec.renewed_pem.encode())
    if certs.fingerprint(cert) != rec.sha256:
        return None  # rotated since: that certificate is no longer the terminal's
    same = enrol.public_der(cert.public_key()) == enrol.public_der(csr.public_key())
    return cert if same else None


def renew(
    fleet: Fleet, save: Callable[[Registry], None], now: dt.datetime
) -> tuple[list[str], bool]:
    """Answer every retained request on the broker; (one line each, whether any was signed).

    save(reg) is called after each signing, before the certificate is published, so a crash
    never leaves an issued certificate the registry does not know.
    """
    reg = fleet.registry()
    ca = fleet.authority()
    lines: list[str] = []
    signed = False
    with _Session(fleet) as session:
        for req in session.requests():
            if not req.payload:
                continue  # a request cleared meanwhile
            answer = decide(reg, ca, req, now)
            if answer.signed:
                save(reg)
                signed = True
            try:
                if answer.cert is not None:
                    store_id, terminal_id = topics.parse_renew_topic(req.topic)
                    session.publish(topics.cert_topic(store_id, terminal_id),
                                    certs.cert_pem(answer.cert))  # fmt: skip
                session.publish(req.topic, b"")  # answered or refused: asked again if still due
            except Unsent as err:
                # The request stays: the next run, once the rights are back, answers it with
                # the certificate issued now (never a second one).
                lines.append(f"{answer.line}; NOT sent: {err}")
                continue
            lines.append(answer.line)
    return lines, signed


def announce(fleet: Fleet, store_id: str, terminal_id: str, cert: x509.Certificate) -> None:
    """Publish a certificate issued outside a renewal (a rotation) on the terminal's cert topic.

    Retained, as the signer: the topic keeps naming the terminal's current certificate, and
    ingest updates HQ's registration from it. Raises BrokerConfigError if the broker is not
    reachable or refuses.
    """
    with _Session(fleet, subscribe=False) as session:
        session.publish(topics.cert_topic(store_id, terminal_id), certs.cert_pem(cert))


class _Session:
    """The signer's connection to the broker for one run."""

    def __init__(self, fleet: Fleet, subscribe: bool = True) -> None:
        self._fleet = fleet
        self._client = service_client(fleet, IDENTITY)
        self._lock = threading.Lock()
        self._got: list[Request] = []
        self._last = 0.0
        self._subscribe = subscribe
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self._refused = ""
        self._acks: dict[int, Any] = {}  # mid -> the PUBACK's reason code

    def __enter__(self) -> _Session:
        c = self._client
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish
        try:
            c.connect(broker_host(self._fleet), self._fleet.settings.broker_port, keepalive=30)
        except OSError as err:
            raise BrokerConfigError(f"cannot reach the broker as the signer: {err}") from None
        c.loop_start()
        if not self._connected.wait(WAIT_S) or self._refused:
            self.__exit__()
            why = self._refused or f"no answer within {WAIT_S:.0f}s"
            raise BrokerConfigError(
                f"the broker refused the signer identity ({why}): `python -m provisioning "
                f"fleet apply --fleet {self._fleet.root}` creates it"
            )
        if self._subscribe:
            c.subscribe(topics.ALL_RENEW, qos=1)
        return self

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._refused = str(rc)
        self._connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, rcs: list[Any], _p: Any) -> None:
        if any(rc.is_failure for rc in rcs):
            self._refused = "it may not read the renew topics"
        self._subscribed.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:  # called before the message counts as published
            self._acks[mid] = rc

    def __exit__(self, *_exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            if msg.retain:  # a request published while this run reads is read next run
                self._got.append(Request(msg.topic, bytes(msg.payload)))
            self._last = time.monotonic()

    def requests(self) -> list[Request]:
        """Every retained request, once QUIET_S has passed without another."""
        if not self._subscribed.wait(WAIT_S):
            raise BrokerConfigError("the broker did not answer the subscription to renew topics")
        if self._refused:
            raise BrokerConfigError(
                f"the broker refused the signer: {self._refused}; `python -m provisioning "
                f"fleet apply --fleet {self._fleet.root}` gives it its rights"
            )
        with self._lock:
            self._last = time.monotonic()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with self._lock:
                if time.monotonic() - self._last >= QUIET_S:
                    return list(self._got)
            time.sleep(0.05)
        with self._lock:
            return list(self._got)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish retained at QoS 1 and wait for the broker's PUBACK; raise Unsent if the
        broker refused it (a PUBACK is an answer, not a yes: MQTT 5 says no in its reason)."""
        info = self._client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(WAIT_S)
        if not info.is_published():
            raise BrokerConfigError(f"the broker did not take the message on {topic}")
        with self._lock:
            rc = self._acks.pop(info.mid, None)
        if rc is not None and rc.is_failure:
            raise Unsent(
                f"{topic} refused by the broker: {rc}; run `python -m provisioning fleet apply "
                f"--fleet {self._fleet.root}` to give the signer its rights"
            )
