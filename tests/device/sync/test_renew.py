"""A renewed pair cut in half by a power cut is completed before the till loads it, and a
certificate is asked for once it is due."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from device.sync.renew import DUE_CHECK_S, IdentityFiles, Renewer, finish_install
from protocol import enrol
from protocol.enrol import RENEW_BEFORE
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


def test_a_certificate_not_due_is_asked_for_once_the_calendar_makes_it_due(
    tmp_path: Path,
) -> None:
    """Not due: no request, and the file is looked at again only after DUE_CHECK_S (the sync
    loop steps on every message); once the calendar reaches the renewal window, one request."""
    live, _renewed, _serial = _setup(tmp_path)
    end = certs.load_cert(Path(live.cert)).not_valid_after_utc
    today = [end - RENEW_BEFORE - dt.timedelta(hours=1)]  # an hour before the window opens
    sent: list[tuple[str, bytes]] = []
    renewer = Renewer("S001", "S001-T01", live, lambda t, p: sent.append((t, p)) is None,
                      retry_s=24 * 3600.0, wall=lambda: today[0])  # fmt: skip
    renewer.tick(0.0, connected=True)
    assert sent == [] and not os.path.exists(live.pending_key)
    today[0] += dt.timedelta(hours=2)  # inside the window now
    renewer.tick(DUE_CHECK_S - 1, connected=True)
    assert sent == []  # not looked at again yet
    renewer.tick(DUE_CHECK_S, connected=True)
    assert [t for t, _ in sent] == [renewer.renew_topic]
    assert enrol.read_request(sent[0][1], "S001-T01")  # a good request for its own name
    renewer.tick(DUE_CHECK_S + 60, connected=True)
    assert len(sent) == 1  # asked again only after retry_s
