"""`terminal list`: one line per terminal, its columns aligned whatever the lengths."""

from __future__ import annotations

from pathlib import Path

from provisioning import ports
from provisioning.fleet import Fleet, TerminalRecord
from tests.provisioning.fleet_support import cli


def test_columns_line_up_with_long_serials_and_ids(tmp_path: Path) -> None:
    fleet_dir = tmp_path / "fleet"
    done = cli("fleet", "init", "--fleet", str(fleet_dir), "--port", str(ports.free_ports(1)[0]))
    assert done.code == 0, done.err
    assert "no terminals" in cli("terminal", "list", "--fleet", str(fleet_dir)).out
    fleet = Fleet.open(fleet_dir)
    reg = fleet.registry()
    for rec in (
        TerminalRecord(terminal_id="S001-T01", store_id="S001", status="active",
                       serial="7d2e9f0c4b1a8e6d3c5f2a9b0e7d4c1a6f3b8e2d"),
        TerminalRecord(terminal_id="S0012-CHECKOUT-07", store_id="S0012", status="revoked",
                       serial="1f", reason="stolen"),
        TerminalRecord(terminal_id="S002-T01", store_id="S002"),
    ):  # fmt: skip
        reg.terminals[rec.terminal_id] = rec
    fleet.save_registry(reg)
    lines = cli("terminal", "list", "--fleet", str(fleet_dir)).out.splitlines()
    header, *rows = lines
    assert len(rows) == 3
    starts = [header.index(word) for word in ("store", "status", "serial", "reason")]
    for line in rows:
        for start in starts:  # every value begins where its heading does (no reason: none)
            if start < len(line):
                assert line[start - 2 : start] == "  " and line[start] != " ", (line, start)
    revoked = next(line for line in rows if "CHECKOUT" in line)
    assert revoked.index("stolen") == starts[-1]
    assert revoked.split() == ["S0012-CHECKOUT-07", "S0012", "revoked", "1f", "stolen"]
    assert rows[-1].split() == ["S002-T01", "S002", "pending", "-"]
