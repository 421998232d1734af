"""Bad input leaves nothing behind; rotate, retire and the CLI's own manners."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning import certs, ports
from provisioning.certs import CertPair
from provisioning.terminal_root import Layout
from tests.device.sync.harness import record_sales
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import TOKEN, cli, connects_with, wait_for


def _live_identities(env: FleetEnv) -> set[str]:
    with env.fleet.admin() as admin:
        return set(admin.live()[1])


def _nothing_left(env: FleetEnv, terminal: str, root: Path) -> None:
    assert terminal not in env.fleet.registry().terminals
    assert terminal not in _live_identities(env)
    assert not root.exists() or not any(root.rglob("*")), sorted(root.rglob("*"))


def test_an_unknown_store_is_refused_by_hq_and_nothing_is_left(fleet_env: FleetEnv) -> None:
    root = fleet_env.tmp / "pi"
    done = fleet_env.add("S009-T01", "S009", root)
    assert done.code == 1 and "HQ does not know store S009" in done.err
    _nothing_left(fleet_env, "S009-T01", root)


def test_a_duplicate_terminal_id_is_refused(fleet_env: FleetEnv) -> None:
    assert fleet_env.add("S001-T10", root=fleet_env.tmp / "a").code == 0
    other = fleet_env.tmp / "b"
    done = fleet_env.add("S001-T10", root=other)
    assert done.code == 1 and "already provisioned" in done.err
    assert not other.exists()
    # HQ knows an id the fleet does not (registered elsewhere): HQ's 409 is the answer.
    fleet_env.hq.accepted.append({"terminal_id": "S001-T11"})
    done = fleet_env.add("S001-T11", root=other)
    assert done.code == 1 and "HQ already has a terminal S001-T11" in done.err
    _nothing_left(fleet_env, "S001-T11", other)


def test_an_unreachable_hq_leaves_nothing(fleet_env: FleetEnv) -> None:
    root = fleet_env.tmp / "pi"
    nowhere = f"http://127.0.0.1:{ports.free_ports(1)[0]}"
    done = fleet_env.add("S001-T12", "S001", root, "--hq-url", nowhere)
    assert done.code == 1 and "cannot reach HQ" in done.err and "--hq-url" in done.err
    _nothing_left(fleet_env, "S001-T12", root)
    again = fleet_env.add("S001-T12", "S001", root)  # the network is back: same command
    assert again.code == 0, again.err


def test_an_unwritable_root_is_refused_before_anything_happens(fleet_env: FleetEnv) -> None:
    blocker = fleet_env.tmp / "not-a-dir"
    blocker.write_text("")
    done = fleet_env.add("S001-T13", root=blocker / "pi")
    assert done.code == 1 and "is a file, not a directory" in done.err
    assert fleet_env.hq.accepted == []
    _nothing_left(fleet_env, "S001-T13", blocker / "pi")


def test_a_root_from_another_fleet_is_refused_untouched(fleet_env: FleetEnv) -> None:
    root = fleet_env.tmp / "pi"
    other_ca = certs.create_ca(fleet_env.tmp / "other")
    layout = Layout(root)
    layout.tls.mkdir(parents=True)
    layout.ca.write_bytes(other_ca.files.cert.read_bytes())
    done = fleet_env.add("S001-T14", root=root)
    assert done.code == 1 and "not issued by this fleet's CA" in done.err
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["ca.crt"]
    assert "S001-T14" not in fleet_env.fleet.registry().terminals


def test_no_token_is_a_clear_error(fleet_env: FleetEnv) -> None:
    root = fleet_env.tmp / "pi"
    done = cli("terminal", "add", "--fleet", str(fleet_env.dir), "--store", "S001",
               "--terminal", "S001-T15", "--root", str(root), "--token", "",
               "--store-name", "徐汇店")  # fmt: skip
    assert done.code == 1 and "POS_HQ_TOKEN" in done.err
    # ... and where a technician's token comes from: the HQ page's users, or the command.
    assert "Users (用户) on the HQ page" in done.err and "technician role" in done.err
    assert "python -m cloud.api users add NAME --role technician --token NAME" in done.err
    _nothing_left(fleet_env, "S001-T15", root)


def test_bad_ids_and_a_missing_fleet_name_what_to_fix(fleet_env: FleetEnv, tmp_path: Path) -> None:
    done = fleet_env.add("S001/T16", root=tmp_path / "x")
    assert done.code == 1 and "terminal id 'S001/T16'" in done.err
    args = ["--store", "S001", "--terminal", "S001-T16", "--root", str(tmp_path / "x")]
    done = cli("terminal", "add", "--fleet", str(tmp_path / "none"), *args, "--token", TOKEN)
    assert done.code == 1 and "fleet init" in done.err
    assert cli("terminal", "add", "--help").code == 0


def test_rotation_keeps_the_old_certificate_for_the_grace_period_only(
    fleet_env: FleetEnv,
) -> None:
    root = fleet_env.tmp / "pi"
    assert fleet_env.add("S001-T17", root=root).code == 0
    layout = Layout(root)
    old = CertPair(fleet_env.tmp / "old.crt", fleet_env.tmp / "old.key")
    old.cert.write_bytes(layout.cert.read_bytes())
    old.key.write_bytes(layout.key.read_bytes())
    # A renewal the till had begun: its key may be as compromised as the one rotated out.
    renewal_key = layout.tls / "device.key.renew"
    renewal_key.write_bytes(layout.key.read_bytes())
    done = fleet_env.cmd("terminal", "rotate", "--terminal", "S001-T17", "--root", str(root),
                         "--grace-hours", "0")  # fmt: skip
    assert done.code == 0, done.err
    assert not renewal_key.exists()
    second = CertPair(fleet_env.tmp / "second.crt", fleet_env.tmp / "second.key")
    second.cert.write_bytes(layout.cert.read_bytes())
    second.key.write_bytes(layout.key.read_bytes())
    assert second.cert.read_bytes() != old.cert.read_bytes()
    fleet = fleet_env.fleet
    assert connects_with(fleet, second)
    # No grace asked: refused once the broker has reloaded the CRL (SIGHUP is asynchronous).
    assert wait_for(lambda: not connects_with(fleet, old))
    done = fleet_env.cmd("terminal", "rotate", "--terminal", "S001-T17", "--root", str(root))
    assert done.code == 0, done.err
    # The default grace period: the rotated-out certificate works until the terminal restarts.
    assert connects_with(fleet_env.fleet, CertPair(layout.cert, layout.key))
    assert connects_with(fleet, second) and not connects_with(fleet, old)


def test_retire_refuses_with_unsynced_sales_unless_forced(fleet_env: FleetEnv) -> None:
    root = fleet_env.tmp / "pi"
    assert fleet_env.add("S001-T18", root=root).code == 0
    layout = Layout(root)
    pair = CertPair(fleet_env.tmp / "kept.crt", fleet_env.tmp / "kept.key")
    pair.cert.write_bytes(layout.cert.read_bytes())
    pair.key.write_bytes(layout.key.read_bytes())
    record_sales(layout.db, 2)
    done = fleet_env.cmd("terminal", "retire", "--terminal", "S001-T18", "--root", str(root))
    assert done.code == 1 and "2 unsynced" in done.err
    assert "S001-T18" in _live_identities(fleet_env) and layout.key.exists()
    done = fleet_env.cmd("terminal", "retire", "--terminal", "S001-T18", "--root", str(root),
                         "--force")  # fmt: skip
    assert done.code == 0, done.err
    assert "S001-T18" not in _live_identities(fleet_env)
    assert not layout.key.exists() and not layout.cert.exists()
    assert not connects_with(fleet_env.fleet, pair)
    assert fleet_env.fleet.registry().terminals["S001-T18"].status == "retired"


@pytest.mark.parametrize("argv", [[], ["terminal"], ["fleet"]])
def test_every_group_explains_itself(argv: list[str]) -> None:
    done = cli(*argv, "--help")
    assert done.code == 0 and "usage:" in done.out


@pytest.mark.skipif(os.geteuid() != 0, reason="only root creates service users")
def test_a_run_cut_short_after_hq_is_finished_by_running_it_again(fleet_env: FleetEnv) -> None:
    root = fleet_env.tmp / "pi"
    # The service user cannot be made (a name useradd refuses): the run stops at step 6,
    # after HQ has registered the terminal and the broker knows its identity.
    done = fleet_env.add("S001-T19", "S001", root, "--user", "no such user!")
    assert done.code == 1 and "service user" in done.err
    rec = fleet_env.fleet.registry().terminals["S001-T19"]
    assert (rec.status, rec.registered) == ("pending", True)
    pending = Layout(root).tls / "device.crt.pending"
    assert pending.exists()
    again = fleet_env.add("S001-T19", "S001", root)
    assert again.code == 0, again.err
    assert "resuming a half-done run" in again.out and "already registered" in again.out
    layout = Layout(root)
    assert certs.fingerprint(certs.load_cert(layout.cert)) == rec.sha256  # the same identity
    assert [a["terminal_id"] for a in fleet_env.hq.accepted] == ["S001-T19"]  # registered once
    assert fleet_env.fleet.registry().terminals["S001-T19"].status == "active"
    assert connects_with(fleet_env.fleet, CertPair(layout.cert, layout.key))


def test_retire_from_the_fleet_host_reads_the_terminals_own_status(fleet_env: FleetEnv) -> None:
    from device.config import load_config
    from device.sync.client import BrokerSettings
    from device.sync.service import SyncService, SyncSettings
    from device.sync.storage import SyncStorage

    root = fleet_env.tmp / "pi"
    assert fleet_env.add("S001-T22", root=root).code == 0
    layout = Layout(root)
    record_sales(layout.db, 3)  # nobody ingests: they stay unsynced
    cfg = load_config(layout.config)
    b = cfg.broker
    settings = SyncSettings(status_check_s=0.1, broker=BrokerSettings(
        host=b.host, port=b.port, store_id="S001", terminal_id="S001-T22", ca_file=b.ca_file,
        cert_file=b.cert_file, key_file=b.key_file))  # fmt: skip
    svc = SyncService(settings, open_store=lambda: SyncStorage.open(layout.db))
    svc.start()
    try:
        assert svc.wait(lambda s: s.statuses_sent >= 1 and s.outbox_depth == 3, 15), svc.stats()
    finally:
        svc.stop()  # its farewell status (offline) still says 3 unsynced
    done = fleet_env.cmd("terminal", "retire", "--terminal", "S001-T22")  # no --root: remote
    assert done.code == 1 and "3 unsynced" in done.err
    assert "S001-T22" in _live_identities(fleet_env)
