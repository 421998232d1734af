"""The private CA and the certificates it issues, checked with the cryptography package and ssl."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.certs import create_ca, issue_client_cert, issue_server_cert, load_ca
from provisioning.errors import CertificateError, ProvisioningError


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_and_client_certs_chain_to_the_ca(tmp_path: Path) -> None:
    ca = create_ca(tmp_path)
    server = issue_server_cert(ca, tmp_path, hostnames=("broker.local",), ips=("127.0.0.1",))
    client = issue_client_cert(ca, tmp_path / "clients", "S001-T01")

    ca_cert = _cert(ca.files.cert)
    for pair in (server, client):
        leaf = _cert(pair.cert)
        leaf.verify_directly_issued_by(ca_cert)  # raises if the signature or issuer is wrong
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    srv = _cert(server.cert)
    sans = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["broker.local"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    cli = _cert(client.cert)
    assert cli.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "S001-T01"
    usage = cli.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_private_keys_are_readable_by_owner_only(tmp_path: Path) -> None:
    ca = create_ca(tmp_path)
    client = issue_client_cert(ca, tmp_path, "S001-T01")
    for key in (ca.files.key, client.key):
        assert key.stat().st_mode & 0o077 == 0


def test_python_ssl_accepts_the_pairs(tmp_path: Path) -> None:
    ca = create_ca(tmp_path)
    server = issue_server_cert(ca, tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.files.cert))
    ctx.load_cert_chain(str(server.cert), str(server.key))  # raises on a key/cert mismatch


def test_a_reloaded_ca_issues_certs_that_chain(tmp_path: Path) -> None:
    ca = create_ca(tmp_path)
    again = load_ca(ca.files.cert, ca.files.key)
    leaf = issue_client_cert(again, tmp_path, "S002-T01")
    _cert(leaf.cert).verify_directly_issued_by(_cert(ca.files.cert))


def test_loading_a_missing_or_broken_ca_says_which_file(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("not a certificate")
    with pytest.raises(CertificateError, match=r"ca\.crt"):
        load_ca(tmp_path / "ca.crt", tmp_path / "ca.key")
    with pytest.raises(ProvisioningError, match=r"nowhere\.crt"):
        load_ca(tmp_path / "nowhere.crt", tmp_path / "ca.key")


def test_the_crl_lists_the_serials_and_outlives_a_missed_daily_refresh(tmp_path: Path) -> None:
    import datetime as dt

    from provisioning.certs import build_crl

    ca = create_ca(tmp_path)
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    crl = x509.load_pem_x509_crl(build_crl(ca, {12345: when, 77: when}))
    assert crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
    assert sorted(r.serial_number for r in crl) == [77, 12345]
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)
