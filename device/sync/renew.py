"""The till renews its own certificate over MQTT: ask when due, install only a good answer.

Runs on the sync thread. When the certificate ends within enrol.RENEW_BEFORE, the till makes
a new key beside the current one (``device.key.renew``, 0600, kept across retries and
restarts so an answer lost on the way still fits it) and publishes a signing request for it,
retained, on its renew topic; it asks again after a restart and every ``retry_s`` while due.
The fleet's signer answers on the terminal's cert topic. A certificate is installed only if
protocol.enrol.check_issued accepts it for the pending key; anything else is logged, counted
and changes nothing, so the current certificate keeps working until its end.

Installing replaces two files, which cannot happen as one step. The certificate is first
staged beside the current one (``device.crt.renew``), then the key and the certificate are
renamed over the current ones; protocol.tls.ClientIdentity refuses the mismatched pair of the
moment between, and finish_install completes a pair that a power cut split.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocol import enrol, topics
from protocol.problems import Said
from protocol.tls import certificate_end

log = logging.getLogger(__name__)

PENDING_SUFFIX: Final = ".renew"
PRIVATE: Final = 0o600
PUBLIC: Final = 0o644
#: Seconds before a certificate found not due is looked at again.
DUE_CHECK_S: Final = 3600.0


class Outcome(Enum):
    """What an answer on the cert topic led to."""

    INSTALLED = "installed"
    IGNORED = "ignored"  # the certificate in use already, or an old one: nothing to do
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class IdentityFiles:
    """The till's TLS files, and the renewal's pending key and staged certificate beside them."""

    ca: str
    cert: str
    key: str

    @property
    def pending_key(self) -> str:
        return self.key + PENDING_SUFFIX

    @property
    def staged_cert(self) -> str:
        return self.cert + PENDING_SUFFIX


def _read_key(path: str) -> ec.EllipticCurvePrivateKey | None:
    try:
        with open(path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _read_cert(path: str) -> x509.Certificate | None:
    try:
        with open(path, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read())
    except (OSError, ValueError):
        return None


def _write(path: str, data: bytes, mode: int) -> None:
    """Write path atomically (temporary name, fsync, rename), created with exactly mode."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # a temporary file left by a crash may have had other bits
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_dir(path)


def _sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None) -> bool:
    return key is not None and enrol.public_der(cert.public_key()) == enrol.public_der(
        key.public_key()
    )


def finish_install(files: IdentityFiles) -> None:
    """Complete an install a power cut interrupted, so the till starts with a matching pair."""
    staged = _read_cert(files.staged_cert)
    if staged is None:
        return
    if _same_key(staged, _read_key(files.pending_key)):
        os.replace(files.pending_key, files.key)
    if _same_key(staged, _read_key(files.key)):
        os.replace(files.staged_cert, files.cert)
        log.warning("finished installing the renewed certificate a restart interrupted")
    else:
        os.unlink(files.staged_cert)  # staged for a key that is gone: it can never be used
    _sync_dir(files.cert)


@dataclass(slots=True)
class RenewStats:
    """Counters for the sync stats and tests."""

    asked: int = 0
    installed: int = 0
    refused: int = 0
    last_problem: str = ""


class Renewer:
    """One terminal's certificate renewal, driven by the sync loop's ticks and inbound messages."""

    def __init__(
        self,
        store_id: str,
        terminal_id: str,
        files: IdentityFiles,
        publish: Callable[[str, bytes], bool],
        retry_s: float,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.terminal_id = terminal_id
        self.files = files
        self.renew_topic = topics.renew_topic(store_id, terminal_id)
        self.cert_topic = topics.cert_topic(store_id, terminal_id)
        self.stats = RenewStats()
        self._publish = publish  # retained, QoS 1; False if it could not be queued
        self._retry_s = retry_s
        self._wall = wall
        self._next_ask = 0.0  # after a restart, ask at the first connect

    def due(self) -> bool:
        """Whether the certificate in use ends within RENEW_BEFORE."""
        end = certificate_end(self.files.cert)
        return end is not None and end - self._wall() <= enrol.RENEW_BEFORE

    def tick(self, now: float, connected: bool) -> None:
        """Ask for a new certificate if due and not asked within retry_s."""
        if not connected or now < self._next_ask:
            return
        if not self.due():
            # The sync loop steps on every message: read and parse the file again only after
            # a while (a certificate becomes due by the calendar, weeks ahead of its end).
            self._next_ask = now + min(self._retry_s, DUE_CHECK_S)
            return
        try:
            key = self._pending_key()
        except OSError as err:
            self.stats.last_problem = Said("renew.key", error=err)
            log.error("%s", self.stats.last_problem)
            self._next_ask = now + self._retry_s
            return
        if self._publish(self.renew_topic, enrol.csr_pem(key, self.terminal_id)):
            self._next_ask = now + self._retry_s
            self.stats.asked += 1
            log.info("certificate %s ends %s: asked the fleet for a new one",
                     self.files.cert, certificate_end(self.files.cert))  # fmt: skip

    def _pending_key(self) -> ec.EllipticCurvePrivateKey:
        key = _read_key(self.files.pending_key)
        if key is None:
            # New, or damaged by a power cut before the first request went out: a fresh one.
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
            _write(self.files.pending_key, pem, PRIVATE)
        return key

    def on_cert(self, payload: bytes) -> Outcome:
        """Check a certificate from the signer; install it if good (then reconnect the link)."""
        if not payload:
            return Outcome.IGNORED
        current = _read_cert(self.files.cert)
        if current is not None and payload.strip() == _pem(current).strip():
            return Outcome.IGNORED  # the retained answer, already installed, at each connect
        pending = _read_key(self.files.pending_key)
        if pending is None:
            log.info("a certificate arrived on %s but no renewal is pending: ignored",
                     self.cert_topic)  # fmt: skip
            return Outcome.IGNORED
        try:
            with open(self.files.ca, "rb") as fh:
                ca_pem = fh.read()
            cert = enrol.check_issued(
                payload, ca_pem=ca_pem, pending=pending.public_key(), terminal_id=self.terminal_id,
                current_end=None if current is None else current.not_valid_after_utc,
                now=self._wall(),
            )  # fmt: skip
            self._install(cert)
        except (enrol.EnrolError, OSError) as err:
            self.stats.refused += 1
            self.stats.last_problem = Said("renew.refused", error=err)
            log.error("%s; the current certificate stays in use", self.stats.last_problem)
            return Outcome.REFUSED
        self.stats.installed += 1
        self.stats.last_problem = ""
        log.warning("installed the renewed certificate (serial %x, ends %s)",
                    cert.serial_number, cert.not_valid_after_utc)  # fmt: skip
        return Outcome.INSTALLED

    def _install(self, cert: x509.Certificate) -> None:
        _write(self.files.staged_cert, _pem(cert), PUBLIC)
        os.replace(self.files.pending_key, self.files.key)
        os.replace(self.files.staged_cert, self.files.cert)
        _sync_dir(self.files.cert)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
