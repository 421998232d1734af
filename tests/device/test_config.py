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


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ('scanner = "evdev"', 'devices.scanner_usb_id: required when devices.scanner = "evdev"'),
        ('scanner = "evdev"\nscanner_usb_id = "05e0-1200"',
         "devices.scanner_usb_id: USB id '05e0-1200' is not in the form vvvv:pppp (hex)"),
        ('scanner = "evdev"\nscanner_usb_id = "zz:1200"',
         "devices.scanner_usb_id: USB id 'zz:1200' is not in the form vvvv:pppp (hex)"),
        ('scanner = "evdev"\nscanner_usb_id = "05e0:1200"\nscanner_layout = "fr"',
         "devices.scanner_layout: unknown keyboard layout 'fr'; known: us, de"),
        ('card_reader = "evdev"',
         'devices.card_reader_usb_id: required when devices.card_reader = "evdev"'),
        ('card_reader = "evdev"\ncard_reader_usb_id = "0801"',
         "devices.card_reader_usb_id: USB id '0801' is not in the form vvvv:pppp (hex)"),
        ('card_reader = "pn532"',
         'devices.card_reader_path: required when devices.card_reader = "pn532"'),
        ('scanner = "serial"', 'devices.scanner_path: required when devices.scanner = "serial"'),
        ('keypad = "evdev"', 'devices.keypad_usb_id: required when devices.keypad = "evdev"'),
    ],
)  # fmt: skip
def test_an_input_device_without_a_usable_address_is_refused(
    tmp_path: Path, devices: str, message: str
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(f"{GOOD}\n[devices]\n{devices}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_usb_readers_with_their_ids_load(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        f'{GOOD}\n[devices]\nscanner = "evdev"\nscanner_usb_id = "05E0:1200"\n'
        'scanner_layout = "de"\ncard_reader = "pn532"\ncard_reader_path = "/dev/ttyS0"\n'
    )
    d = load_config(path).devices
    assert (d.scanner_usb_id, d.scanner_layout, d.card_reader_path) == (
        "05E0:1200", "de", "/dev/ttyS0")  # fmt: skip
