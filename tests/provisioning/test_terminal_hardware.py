"""A till's own hardware: `terminal add` says its peripherals start simulated, running it again
keeps what the technician set, and the self-test refuses to pass simulators off as the till's
printer and scanner."""

from __future__ import annotations

from pathlib import Path

import msgspec

from device.config import dump_config, load_config
from device.wiring import receipt_header
from provisioning.ports import free_ports
from provisioning.terminal_root import Layout
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import TOKEN, cli


def test_hardware_settings_survive_add_again_and_self_test_refuses_the_simulators(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    root = tmp_path / "pi"
    first = fleet_env.add("S001-T06", root=root)
    assert first.code == 0, first.err
    assert "[printer] kind" in first.out and "are simulated" in first.out
    layout = Layout(root)
    config = str(layout.config)

    # A self-test now would only exercise the simulators: refused, saying what to set.
    refused = cli("self-test", "--config", config, "--timeout", "5")
    assert refused.code == 1
    assert "[printer] kind" in refused.err and "[devices] scanner" in refused.err
    assert "--simulate" in refused.err
    receipts = Path(load_config(config).printer.output_dir)
    assert not any(receipts.glob("*")), "a test receipt was printed on the simulator"

    # The technician sets the till's printer, drawer and the store's name ...
    cfg = load_config(config)
    paper = tmp_path / "printer.bin"
    cfg = msgspec.structs.replace(
        cfg,
        terminal=msgspec.structs.replace(cfg.terminal, store_name="徐汇店"),
        printer=msgspec.structs.replace(cfg.printer, kind="file", path=str(paper)),
        devices=msgspec.structs.replace(cfg.devices, drawer="printer", display="none"),
    )
    layout.config.write_text(dump_config(cfg))
    # ... and runs `terminal add` again, as its help says is safe: nothing of it is lost.
    again = fleet_env.add("S001-T06", root=root)
    assert again.code == 0, again.err
    assert "settings kept" in again.out
    kept = load_config(config)
    assert (kept.printer.kind, kept.printer.path) == ("file", str(paper))
    assert (kept.devices.drawer, kept.devices.display) == ("printer", "none")
    assert kept.terminal.store_name == "徐汇店"
    assert (kept.terminal.terminal_id, kept.broker.username) == ("S001-T06", "S001-T06")
    assert kept.broker.cert_file == str(layout.cert)
    # The scanner and card reader are still simulated, and the tool still says so.
    assert "scanner ([devices] scanner)" in again.out and "[printer] kind" not in again.out


def test_the_store_name_on_receipts_is_set_at_provisioning_and_kept(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    root = tmp_path / "pi"
    args = ["terminal", "add", "--fleet", str(fleet_env.dir), "--store", "S001",
            "--terminal", "S001-T07", "--root", str(root), "--token", TOKEN]  # fmt: skip
    unnamed = cli(*args)
    assert unnamed.code == 1 and "--store-name" in unnamed.err
    assert not root.exists() and "S001-T07" not in fleet_env.fleet.registry().terminals

    named = cli(*args, "--store-name", "徐汇店", "--store-name-en", "Xuhui store")
    assert named.code == 0, named.err
    assert "receipts are headed: 徐汇店 (English: Xuhui store)" in named.out
    config = load_config(Layout(root).config)
    assert receipt_header(config)[0] == "徐汇店"
    english = msgspec.structs.replace(
        config, terminal=msgspec.structs.replace(config.terminal, language="en")
    )
    assert receipt_header(english)[0] == "Xuhui store"

    again = cli(*args)  # a later run without the names keeps them
    assert again.code == 0, again.err
    assert receipt_header(load_config(Layout(root).config))[0] == "徐汇店"
    assert "receipts are headed: 徐汇店 (English: Xuhui store)" in again.out
    renamed = cli(*args, "--store-name", "静安店")
    assert renamed.code == 0, renamed.err
    kept = load_config(Layout(root).config).terminal
    assert (kept.store_name, kept.store_name_en) == ("静安店", "静安店")
    assert cli(*args, "--store-name-en", "Jing'an store").code == 0
    kept = load_config(Layout(root).config).terminal
    assert (kept.store_name, kept.store_name_en) == ("静安店", "Jing'an store")


def test_fleet_init_names_every_step_before_the_first_terminal(tmp_path: Path) -> None:
    """The printed next steps, followed as written, provision a mounted SD card for the Pi
    (--image writes paths as the Pi sees them) and bring the HQ token `terminal add` needs."""
    done = cli("fleet", "init", "--fleet", str(tmp_path / "fleet"), "--port", str(free_ports(1)[0]))
    assert done.code == 0, done.err
    add = done.out[done.out.index("add a terminal:") :]
    assert "--root /mnt/sdcard --image" in add and "POS_HQ_TOKEN=" in add
    assert "--role technician --token" in done.out and "stores put S001" in done.out
