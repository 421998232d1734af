"""Make a private CA, the broker's server certificate and per-terminal client certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol import enrol
from provisioning import files
from provisioning.errors import CertificateError

CA_DAYS: Final = 3650
LEAF_DAYS: Final = 825


@dataclass(frozen=True, slots=True)
class CertPair:
    """A certificate and its private key, as PEM files on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Authority:
    """A CA loaded in memory, able to sign leaves."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    files: CertPair


def _name(common_name: str) -> x509.Name:
    return enrol.subject(common_name)


def _write_pair(
    directory: Path,
    stem: str,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    owner: files.Owner = files.NOBODY_CHANGE,
) -> CertPair:
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    write_key(key_path, key, owner)
    files.write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=files.PUBLIC,
                      owner=owner)  # fmt: skip
    return CertPair(cert_path, key_path)


def write_key(
    path: Path, key: ec.EllipticCurvePrivateKey, owner: files.Owner = files.NOBODY_CHANGE
) -> Path:
    """Write a private key as PKCS#8 PEM, created 0600 (and owned by owner)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return files.write_bytes(path, pem, mode=files.PRIVATE, owner=owner)


def _now() -> dt.datetime:
    # Backdated a little so a terminal whose clock lags slightly still accepts the cert.
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def create_ca(directory: Path, common_name: str = "pos-edge CA") -> Authority:
    """Create a self-signed CA (ECDSA P-256) and write ca.crt / ca.key into directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key, _write_pair(directory, "ca", cert, key))


def load_ca(cert_file: Path, key_file: Path) -> Authority:
    """Load a CA written by create_ca."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise CertificateError(f"cannot load CA from {cert_file}: {err}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{key_file} is not an EC private key")
    return Authority(cert, key, CertPair(cert_file, key_file))


def _issue(
    ca: Authority,
    common_name: str,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    days: int,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def issue_server_cert(
    ca: Authority,
    directory: Path,
    hostnames: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1",),
    days: int = LEAF_DAYS,
    owner: files.Owner = files.NOBODY_CHANGE,
) -> CertPair:
    """Issue the broker's certificate (names in SAN, as TLS clients check) as server.crt/.key."""
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    common_name = hostnames[0] if hostnames else ips[0]
    cert, key = _issue(ca, common_name, ExtendedKeyUsageOID.SERVER_AUTH, sans, days)
    return _write_pair(directory, "server", cert, key, owner)


def issue_client_cert(
    ca: Authority,
    directory: Path,
    common_name: str,
    days: int = LEAF_DAYS,
    owner: files.Owner = files.NOBODY_CHANGE,
) -> CertPair:
    """Issue a client certificate whose CN is the broker username (the terminal id)."""
    cert, key = _issue(ca, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [], days)
    return _write_pair(directory, common_name, cert, key, owner)


def server_names(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The host names and IP addresses a server certificate is valid for (its SAN)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), ()
    hosts = tuple(sans.get_values_for_type(x509.DNSName))
    return hosts, tuple(str(a) for a in sans.get_values_for_type(x509.IPAddress))


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh device key (ECDSA P-256), made where it will live and never sent anywhere."""
    return ec.generate_private_key(ec.SECP256R1())


#: The request a till makes for its own key (shared with the till, which renews over MQTT).
make_csr = enrol.make_csr


def sign_csr(
    ca: Authority,
    csr: x509.CertificateSigningRequest,
    *,
    days: int = LEAF_DAYS,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    """Sign a client certificate for a CSR; the CA never sees the private key."""
    if not csr.is_signature_valid:
        raise CertificateError("the signing request's signature is invalid (damaged in transit?)")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateError("the signing request must name exactly one identity (CN)")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CertificateError("the signing request's key is not an EC key")
    start = not_before or _now()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(str(names[0].value)))
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM bytes of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(path: Path) -> x509.Certificate:
    """Read a PEM certificate, or raise CertificateError naming the file."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as err:
        raise CertificateError(f"cannot read certificate {path}: {err}") from None


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex (what HQ records for a terminal)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def serial_hex(cert: x509.Certificate) -> str:
    """The certificate's serial number as lowercase hex."""
    return format(cert.serial_number, "x")


def common_name(cert: x509.Certificate) -> str:
    """The certificate's CN (the broker identity)."""
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def build_crl(ca: Authority, revoked: dict[int, dt.datetime], days: int = 365) -> bytes:
    """A PEM CRL listing these serials (serial -> revocation time), valid for days.

    The broker refuses every client certificate once its CRL is past next_update (OpenSSL's
    rule), so the CRL is rewritten by every fleet command and by `fleet apply` from a timer.
    """
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
    )
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
