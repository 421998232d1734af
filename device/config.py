"""Typed terminal settings from a TOML file: validated on read, unknown keys are errors."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, Literal

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Millis = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class ConfigError(Exception):
    """The terminal configuration file is missing or invalid; the message names the key."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for config sections: a misspelt key is an error, never silently ignored."""


class TerminalSection(_Section):
    """Who this terminal is and how it speaks to people."""

    store_id: Ident
    terminal_id: Ident
    store_name: str = "便利超市"
    store_name_en: str = "Demo Supermarket"
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"
    software_version: str = "0.1.0"


class StoreSection(_Section):
    """Where the durable store lives."""

    db_path: str
    create_if_missing: bool = False  # only provisioning and the demo create a database


class BrokerSection(_Section):
    """How to reach the MQTT broker."""

    host: str = "127.0.0.1"
    port: Port = 1883
    username: str = ""
    password: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    enabled: bool = True


class SyncSection(_Section):
    """How the till syncs with the cloud."""

    # Days an acknowledged event stays in the outbox, to be sent again to a cloud whose
    # database was restored from an older backup (docs/sync.md). A week covers a restore of
    # last night's or last weekend's backup noticed days later; on the SD card it is a few MB
    # for a busy till (a sale's outbox row holds no body of its own), pruned on each ACK.
    # 0 keeps nothing: such a restore then loses the events at HQ, to be recovered by hand.
    resend_window_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 7


class PrinterSection(_Section):
    """The receipt printer."""

    kind: Literal["serial", "usb", "network", "file", "simulated"] = "simulated"
    path: str = ""
    baudrate: int = 19200
    host: str = ""
    port: Port = 9100
    usb_vid: int = 0
    usb_pid: int = 0
    width: Literal[32, 48] = 48
    # The Chinese character set in the printer's font ROM; characters outside it print as ？.
    code_set: Literal["gb2312", "gbk", "gb18030"] = "gbk"
    drawer_pin: Literal[2, 5] = 2
    drawer_on_ms: Millis = 100
    drawer_off_ms: Millis = 100
    output_dir: str = "var/receipts"  # where the simulated printer writes .txt and .png


class DevicesSection(_Section):
    """The input peripherals and the drawer; "simulated" uses the byte-level simulators."""

    scanner: Literal["serial", "evdev", "simulated"] = "simulated"
    scanner_path: str = ""  # scanner = "serial"
    # A USB keyboard-wedge scanner (scanner = "evdev"): its "VID:PID" (hex, as lsusb shows it)
    # and the keyboard layout it is set to type in ("us", "de").
    scanner_usb_id: str = ""
    scanner_layout: str = "us"
    # "serial": a magstripe reader's port; "pn532": the PN532 NFC reader's UART (HSU).
    card_reader: Literal["serial", "evdev", "pn532", "simulated"] = "simulated"
    card_reader_path: str = ""
    card_reader_usb_id: str = ""  # card_reader = "evdev": a magstripe reader typing as a keyboard
    card_reader_layout: str = "us"
    display: Literal["serial", "simulated", "none"] = "simulated"
    display_path: str = ""
    # The pole display's own settings (on the I/O board too): its code page is "gb18030" for
    # a pole with a Chinese font; with the default cp437 Chinese text shows its ASCII fallback.
    display_baudrate: int = 9600
    display_command_set: Literal["cd5220", "dmd"] = "cd5220"
    display_encoding: str = "cp437"
    display_columns: Annotated[int, msgspec.Meta(ge=8, le=40)] = 20
    drawer: Literal["printer", "gpio", "simulated"] = "simulated"
    drawer_relay_pin: int = 17
    drawer_switch_pin: int = 27
    drawer_alarm_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    keypad: Literal["keyboard", "evdev", "gpio"] = "keyboard"
    keypad_usb_id: str = ""  # "VID:PID" of a USB POS keypad (keypad = "evdev")
    keypad_row_pins: list[int] = msgspec.field(default_factory=list)  # keypad = "gpio"
    keypad_col_pins: list[int] = msgspec.field(default_factory=list)


class IoBoardSection(_Section):
    """The optional I/O board (MicroPython, device/mcu): keypad, drawer, buzzer, pole display."""

    enabled: bool = False
    port: str = "/dev/ttyACM0"  # "simulated" runs the firmware under Node (with --simulate)
    baudrate: int = 115200
    keypad: bool = True  # each part on the board replaces the one configured in [devices]
    drawer: bool = True
    display: bool = True
    layout: list[list[str]] = msgspec.field(default_factory=list)  # rows of key names
    repeat_keys: list[str] = msgspec.field(default_factory=lambda: ["UP", "DOWN"])
    debounce_ms: Annotated[int, msgspec.Meta(ge=5, le=100)] = 20
    stuck_s: Annotated[int, msgspec.Meta(ge=1, le=255)] = 20
    pulse_ms: Annotated[int, msgspec.Meta(ge=20, le=300)] = 200


class BarcodesSection(_Section):
    """How the store's scale labels (restricted-circulation codes) are laid out.

    Each entry is ``PREFIXES:PATTERN`` with one letter per digit: F flag, I item (PLU),
    P price in fen, W weight in grams, V price verifier digit, C check digit; for example
    ``21:FFIIIIIVPPPPC`` or ``2:FIIIIIIPPPPPWWWWWC``. Each code must match exactly one.
    """

    scale_labels: list[str] = msgspec.field(
        default_factory=lambda: ["20-24:FIIIIIIPPPPPC", "25-29:FIIIIIIWWWWWC"]
    )
    numeric_code128_lengths: list[int] = msgspec.field(default_factory=list)


class TerminalConfig(_Section):
    """The whole terminal configuration."""

    terminal: TerminalSection
    store: StoreSection
    broker: BrokerSection = msgspec.field(default_factory=BrokerSection)
    sync: SyncSection = msgspec.field(default_factory=SyncSection)
    printer: PrinterSection = msgspec.field(default_factory=PrinterSection)
    devices: DevicesSection = msgspec.field(default_factory=DevicesSection)
    ioboard: IoBoardSection = msgspec.field(default_factory=IoBoardSection)
    barcodes: BarcodesSection = msgspec.field(default_factory=BarcodesSection)


def load_config(path: str | Path) -> TerminalConfig:
    """Read and validate a terminal TOML file, raising ConfigError with the offending key."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"configuration file {file} not found") from None
    try:
        config = msgspec.toml.decode(raw, type=TerminalConfig)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{file}: {err}") from None
    except msgspec.DecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from None
    check_barcodes(config.barcodes, file)
    check_devices(config.devices, file)
    try:
        codecs.lookup(config.devices.display_encoding)
    except LookupError:
        raise ConfigError(
            f"{file}: devices.display_encoding: unknown code page"
            f" {config.devices.display_encoding!r} (cp437, gb18030, ...)"
        ) from None
    return config


def check_barcodes(section: BarcodesSection, file: str | Path = "configuration") -> None:
    """Refuse scale-label layouts that are malformed or read the same codes, naming the key."""
    from device.checkout.barcodes import Gs1Layout
    from device.checkout.errors import BarcodeError

    try:
        Gs1Layout.from_specs(
            tuple(section.scale_labels), frozenset(section.numeric_code128_lengths)
        )
    except BarcodeError as err:
        raise ConfigError(f"{file}: barcodes.scale_labels: {err}") from None


def check_devices(section: DevicesSection, file: str | Path = "configuration") -> None:
    """Refuse an input device that names no device to drive, naming the key to set."""
    d = section
    for kind, wanted, key, what in (
        (d.scanner, "serial", "scanner_path", "the scanner's serial port, e.g. /dev/ttyACM0"),
        (
            d.card_reader,
            "serial",
            "card_reader_path",
            "the reader's serial port, e.g. /dev/ttyUSB1",
        ),
        (d.card_reader, "pn532", "card_reader_path", "the PN532's UART, e.g. /dev/ttyS0"),
    ):
        if kind == wanted and not getattr(d, key).strip():
            device = "scanner" if key.startswith("scanner") else "card_reader"
            raise ConfigError(
                f'{file}: devices.{key}: required when devices.{device} = "{wanted}" ({what})'
            )
    for device, kind, layout_key in (
        ("scanner", d.scanner, "scanner_layout"),
        ("card_reader", d.card_reader, "card_reader_layout"),
        ("keypad", d.keypad, ""),
    ):
        if kind == "evdev":
            _check_usb_device(d, device, layout_key, file)


def _check_usb_device(d: DevicesSection, device: str, layout_key: str, file: str | Path) -> None:
    from device.drivers.errors import ConfigError as DriverConfigError
    from device.drivers.evdev_input import UsbId
    from device.drivers.keymap import layout

    key = f"{device}_usb_id"
    usb_id = getattr(d, key)
    if not usb_id.strip():
        raise ConfigError(
            f'{file}: devices.{key}: required when devices.{device} = "evdev" (its USB id as'
            ' "VID:PID" in hex, e.g. "05e0:1200"; lsusb lists it)'
        )
    try:
        UsbId.parse(usb_id)
    except DriverConfigError as err:
        raise ConfigError(f"{file}: devices.{key}: {err}") from None
    if layout_key:
        try:
            layout(getattr(d, layout_key))
        except KeyError as err:
            raise ConfigError(f"{file}: devices.{layout_key}: {err}") from None


def dump_config(config: TerminalConfig) -> str:
    """Render a configuration as TOML text (used by provisioning and the demo)."""
    lines: list[str] = []
    for section in TerminalConfig.__struct_fields__:
        lines.append(f"[{section}]")
        values = msgspec.to_builtins(getattr(config, section))
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
