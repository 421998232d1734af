"""A renewed pair cut in half by a power cut is completed before the till loads it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from device.sync.renew import IdentityFiles, finish_install
from protocol.tls import ClientIdentity, IdentityFilesError
from provisioning import certs


def _setup(tmp_path: Path) -> tuple[IdentityFiles, certs.CertPair, int]:
    ca = certs.create_ca(tmp_path / "ca")
    live = IdentityFiles(str(ca.files.cert), str(tmp_path / "device.crt"),
                         str(tmp_path / "device.key"))  # fmt: skip
    first = certs.issue_client_cert(ca, tmp_path / "first", "S001-T01")
    shutil.copy(first.cert, live.cert)
    shutil.copy(first.key, live.key)
    renewed = certs.issue_client_cert(ca, tmp_path / "renewed", "S001-T01")
    return live, renewed, certs.load_cert(renewed.cert).serial_number


def _loaded_serial(live: IdentityFiles) -> int:
    ClientIdentity(live.ca, live.cert, live.key)  # raises on a mismatched pair
    return certs.load_cert(Path(live.cert)).serial_number


@pytest.mark.parametrize("cut", ["after staging", "after the key"])
def test_an_interrupted_install_is_finished_at_start(tmp_path: Path, cut: str) -> None:
    live, renewed, serial = _setup(tmp_path)
    shutil.copy(renewed.key, live.pending_key)
    shutil.copy(renewed.cert, live.staged_cert)
    if cut == "after the key":
        os.replace(live.pending_key, live.key)
        with pytest.raises(IdentityFilesError):
            ClientIdentity(live.ca, live.cert, live.key)  # what the till would meet
    finish_install(live)
    assert _loaded_serial(live) == serial
    assert not os.path.exists(live.pending_key) and not os.path.exists(live.staged_cert)


def test_a_staged_certificate_for_a_lost_key_is_dropped_and_the_pair_kept(tmp_path: Path) -> None:
    live, renewed, _serial = _setup(tmp_path)
    before = Path(live.cert).read_bytes()
    shutil.copy(renewed.cert, live.staged_cert)  # its key is nowhere
    finish_install(live)
    assert Path(live.cert).read_bytes() == before and not os.path.exists(live.staged_cert)
    _loaded_serial(live)
