"""Certificate re-enrolment over MQTT: the signing request a till sends and the checks on both ends.

A terminal's key never leaves the terminal. When its certificate is within RENEW_BEFORE of its
end, the till makes a new key, keeps it beside the current one, and publishes a PEM signing
request (CN = its terminal id) retained on its own renew topic. The fleet's signer reads it,
checks it (read_request) and publishes the signed certificate, PEM, retained on the terminal's
own cert topic; the till installs it only if check_issued accepts it. Both ends import these
checks so they agree on what a good request and a good answer are.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocol.errors import ProtocolError

#: A certificate is renewed this long before its end (the till asks, the signer agrees).
RENEW_BEFORE: Final = dt.timedelta(days=30)
#: Bigger than any request or certificate we make (about 500 and 700 bytes).
MAX_PEM_BYTES: Final = 8192
ORGANIZATION: Final = "pos-edge"


class EnrolError(ProtocolError):
    """A signing request or an issued certificate that must not be used (the reason says why)."""


def subject(common_name: str) -> x509.Name:
    """The subject every fleet certificate and request carries: O=pos-edge, CN=identity."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.CertificateSigningRequest:
    """A certificate signing request: the public half of key, with CN = the identity."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject(common_name))
        .sign(key, hashes.SHA256())
    )


def csr_pem(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    """make_csr as the PEM bytes a till publishes."""
    return make_csr(key, common_name).public_bytes(serialization.Encoding.PEM)


def _common_names(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)]


def public_der(key: ec.EllipticCurvePublicKey | object) -> bytes:
    """A public key as DER SubjectPublicKeyInfo, to compare two keys."""
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return b""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_request(payload: bytes, terminal_id: str) -> x509.CertificateSigningRequest:
    """The request in payload if it is one this terminal may make, else EnrolError saying why."""
    if len(payload) > MAX_PEM_BYTES:
        raise EnrolError(f"the request is {len(payload)} bytes, more than {MAX_PEM_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(payload)
    except ValueError:
        raise EnrolError("the payload is not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise EnrolError("the request's signature is invalid (not signed by its own key)")
    names = _common_names(csr.subject)
    if names != [terminal_id]:
        raise EnrolError(f"the request names {names or 'no CN'}, not {terminal_id} (its topic)")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise EnrolError("the request's key is not an ECDSA P-256 key (what tills make)")
    return csr


def _authorities(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        raise EnrolError("the trusted CA file holds no readable certificate") from None


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex (what HQ records for a terminal)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def read_issued(payload: bytes, terminal_id: str, ca_pem: bytes | None) -> x509.Certificate:
    """The certificate in payload if it names terminal_id (and, given ca_pem, is from that CA).

    The checks anyone reading a terminal's cert topic makes before believing it; EnrolError
    says which one failed.
    """
    if len(payload) > MAX_PEM_BYTES:
        raise EnrolError(f"the answer is {len(payload)} bytes, more than {MAX_PEM_BYTES}")
    try:
        cert = x509.load_pem_x509_certificate(payload)
    except ValueError:
        raise EnrolError("the answer is not a PEM certificate") from None
    if ca_pem is not None and not any(_issued_by(cert, ca) for ca in _authorities(ca_pem)):
        raise EnrolError("the certificate was not issued by the CA this terminal trusts")
    names = _common_names(cert.subject)
    if names != [terminal_id]:
        raise EnrolError(f"the certificate names {names or 'no CN'}, not {terminal_id}")
    return cert


def check_issued(
    payload: bytes,
    *,
    ca_pem: bytes,
    pending: ec.EllipticCurvePublicKey,
    terminal_id: str,
    current_end: dt.datetime | None,
    now: dt.datetime,
) -> x509.Certificate:
    """The certificate in payload if a till may install it for its pending key, else EnrolError."""
    cert = read_issued(payload, terminal_id, ca_pem)
    if public_der(cert.public_key()) != public_der(pending):
        raise EnrolError("the certificate is not for this terminal's pending key")
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise EnrolError(
            f"the certificate is not valid now ({cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        )
    if current_end is not None and cert.not_valid_after_utc <= current_end:
        raise EnrolError(
            f"the certificate ends {cert.not_valid_after_utc:%Y-%m-%d}, not later than the "
            f"current one ({current_end:%Y-%m-%d})"
        )
    return cert


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
