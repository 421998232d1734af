"""Terminal configuration: valid files load, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import ConfigError, TerminalConfig, dump_config, load_config

GOOD = """
[terminal]
store_id = "S001"
terminal_id = "S001-T01"

[store]
db_path = "var/t.db"

[printer]
width = 32
"""


def test_a_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.terminal.terminal_id == "S001-T01"
    assert cfg.printer.width == 32
    assert cfg.broker.port == 1883
    assert cfg.devices.drawer_alarm_s == 30


def test_a_misspelt_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD + '\n[broker]\nhots = "x"\n')
    with pytest.raises(ConfigError, match="hots"):
        load_config(path)


def test_out_of_bounds_values_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD.replace("width = 32", "width = 40"))
    with pytest.raises(ConfigError, match="width"):
        load_config(path)


def test_an_id_with_a_topic_wildcard_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD.replace('"S001-T01"', '"S001/#"'))
    with pytest.raises(ConfigError, match="terminal_id"):
        load_config(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_dump_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    again = tmp_path / "again.toml"
    again.write_text(dump_config(cfg))
    assert load_config(again) == cfg
    assert isinstance(cfg, TerminalConfig)
