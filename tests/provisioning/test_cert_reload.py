"""A rotated or renewed certificate is used at the next connect, without restarting the client."""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cloud.mqtt import BrokerSettings as CloudBroker
from cloud.mqtt import make_client
from device.sync.client import BrokerSettings as TillBroker
from device.sync.client import Link
from protocol.tls import ClientIdentity, IdentityFilesError
from provisioning import certs
from provisioning.certs import CertPair
from provisioning.terminal_root import Layout
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import connects_with, wait_for

TERMINAL = "S001-T21"

#: (the client's files, fleet) -> a started client, and a function telling whether it is connected
Connector = Callable[[Layout, FleetEnv], "tuple[Callable[[], bool], Callable[[], None]]"]


def _till(layout: Layout, env: FleetEnv) -> tuple[Callable[[], bool], Callable[[], None]]:
    settings = TillBroker(
        host="127.0.0.1", port=env.fleet.settings.broker_port, store_id="S001",
        terminal_id=TERMINAL, ca_file=str(layout.ca), cert_file=str(layout.cert),
        key_file=str(layout.key), reconnect_min_s=1, reconnect_max_s=2,
    )  # fmt: skip
    inbox: queue.Queue[object] = queue.Queue()
    link = Link(settings, inbox, b"{}")  # type: ignore[arg-type]
    link.start()
    return (lambda: link.connected), link.stop


def _cloud(layout: Layout, env: FleetEnv) -> tuple[Callable[[], bool], Callable[[], None]]:
    settings = CloudBroker(
        host="127.0.0.1", port=env.fleet.settings.broker_port, tls_ca=str(layout.ca),
        tls_cert=str(layout.cert), tls_key=str(layout.key),
    )  # fmt: skip
    client = make_client(settings, TERMINAL)
    client.reconnect_delay_set(1, 2)
    up = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: up.set() if not rc.is_failure else None
    client.on_disconnect = lambda *_a: up.clear()
    client.connect_async("127.0.0.1", settings.port)
    client.loop_start()

    def stop() -> None:
        client.disconnect()
        client.loop_stop()

    return up.is_set, stop


@contextmanager
def _started(connect: Connector, layout: Layout, env: FleetEnv) -> Iterator[Callable[[], bool]]:
    connected, stop = connect(layout, env)
    try:
        assert wait_for(connected), "the client never connected with its first certificate"
        yield connected
    finally:
        stop()


@pytest.mark.parametrize("connect", [_till, _cloud], ids=["till", "cloud"])
def test_a_client_reconnects_with_its_rotated_certificate_after_the_old_one_is_refused(
    fleet_env: FleetEnv, connect: Connector
) -> None:
    root = fleet_env.tmp / "pi"
    assert fleet_env.add(TERMINAL, root=root).code == 0
    layout = Layout(root)
    old = CertPair(fleet_env.tmp / "old.crt", fleet_env.tmp / "old.key")
    shutil.copy(layout.cert, old.cert)
    shutil.copy(layout.key, old.key)
    with _started(connect, layout, fleet_env) as connected:
        # Rotated with no grace: the broker's CRL refuses the old certificate from now on.
        done = fleet_env.cmd("terminal", "rotate", "--terminal", TERMINAL, "--root", str(root),
                             "--grace-hours", "0")  # fmt: skip
        assert done.code == 0, done.err
        assert connected()  # a live connection is not checked again
        fleet_env.broker.stop()  # a network blip: every client must handshake again
        assert wait_for(lambda: not connected(), 15)
        fleet_env.broker.start()
        assert wait_for(connected), "the client did not reconnect with its new certificate"
    # The old pair is still a good pair; it is the broker that refuses it now.
    ClientIdentity(str(layout.ca), str(old.cert), str(old.key))
    assert not connects_with(fleet_env.fleet, old)


def test_a_half_written_pair_keeps_the_loaded_one_until_the_files_agree(tmp_path: Path) -> None:
    ca = certs.create_ca(tmp_path / "ca")
    first = certs.issue_client_cert(ca, tmp_path / "a", "S001-T21")
    second = certs.issue_client_cert(ca, tmp_path / "b", "S001-T21")
    live = CertPair(tmp_path / "device.crt", tmp_path / "device.key")
    shutil.copy(first.cert, live.cert)
    shutil.copy(first.key, live.key)
    identity = ClientIdentity(str(ca.files.cert), str(live.cert), str(live.key))
    assert identity.problem == ""
    assert not identity.refresh()  # unchanged files are not loaded again
    # Rotation replaces the key first: a connect in between sees a new key and the old cert.
    shutil.copy(second.key, live.key)
    with pytest.raises(IdentityFilesError, match=r"device\.crt"):
        identity.refresh()
    identity.before_connect()
    assert "still using the certificate loaded before" in identity.problem
    shutil.copy(second.cert, live.cert)
    identity.before_connect()
    assert identity.problem == ""
    assert not identity.refresh()
    live.cert.unlink()
    identity.before_connect()
    assert "device.crt" in identity.problem


def test_the_first_load_of_a_missing_or_mismatched_pair_is_a_clear_error(tmp_path: Path) -> None:
    ca = certs.create_ca(tmp_path / "ca")
    one = certs.issue_client_cert(ca, tmp_path / "a", "S001-T21")
    two = certs.issue_client_cert(ca, tmp_path / "b", "S001-T21")
    with pytest.raises(IdentityFilesError, match="with its key"):
        ClientIdentity(str(ca.files.cert), str(one.cert), str(two.key))
    with pytest.raises(IdentityFilesError, match="CA file"):
        ClientIdentity(str(tmp_path / "nope.crt"), str(one.cert), str(one.key))
