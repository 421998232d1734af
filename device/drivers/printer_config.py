"""Receipt-printer settings, validated when read, and the transport each kind of printer uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from device.drivers.errors import ConfigError, DeviceUnavailable
from device.drivers.transport import (
    RAW_PRINT_PORT,
    EscposTransport,
    FileTransport,
    SerialTransport,
    TcpTransport,
    Transport,
)

KINDS = ("serial", "usb", "network", "file")
BAUDRATES = (9600, 19200, 38400, 57600, 115200)


@dataclass(frozen=True, slots=True)
class PrinterConfig:
    """Where the printer is and how it behaves; every value is checked on construction."""

    kind: str = "serial"
    path: str = "/dev/ttyUSB0"
    baudrate: int = 9600
    host: str = ""
    port: int = RAW_PRINT_PORT
    usb_vid: int = 0
    usb_pid: int = 0
    width: int = 48
    code_set: str = "gbk"  # the printer's Chinese character set: gb2312, gbk or gb18030
    language: str = "zh"
    drawer_pin: int = 2
    drawer_on_ms: int = 100
    drawer_off_ms: int = 200
    drawer_open_high: bool = True
    spool_dir: str = "/var/lib/pos/print-spool"
    done_history: int = 2000
    status_timeout_s: float = 1.0
    job_timeout_s: float = 30.0
    retry_min_s: float = 0.25
    retry_max_s: float = 5.0
    idle_poll_s: float = 5.0
    confirm: str = "process_id"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"printer kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind in ("serial", "file") and not self.path:
            raise ConfigError(f"a {self.kind} printer needs a path (e.g. /dev/ttyUSB0)")
        if self.kind == "serial" and self.baudrate not in BAUDRATES:
            raise ConfigError(f"printer baudrate must be one of {BAUDRATES}, not {self.baudrate}")
        if self.kind == "network" and not self.host:
            raise ConfigError("a network printer needs a host")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"printer TCP port must be 1..65535, not {self.port}")
        if self.kind == "usb" and not (0 < self.usb_vid <= 0xFFFF and 0 < self.usb_pid <= 0xFFFF):
            raise ConfigError("a USB printer needs usb_vid and usb_pid (1..0xFFFF)")
        if self.width not in (32, 48):
            raise ConfigError(f"printer width must be 32 (58 mm) or 48 (80 mm), not {self.width}")
        if self.code_set not in ("gb2312", "gbk", "gb18030"):
            raise ConfigError(
                f"printer code_set must be gb2312, gbk or gb18030, not {self.code_set!r}"
            )
        if self.language not in ("zh", "en"):
            raise ConfigError(f"printer language must be zh or en, not {self.language!r}")
        if self.drawer_pin not in (2, 5):
            raise ConfigError(f"drawer pin must be 2 or 5, not {self.drawer_pin}")
        for name in ("drawer_on_ms", "drawer_off_ms"):
            value = getattr(self, name)
            if not 2 <= value <= 510:
                raise ConfigError(f"{name} must be 2..510 ms, not {value}")
        if self.done_history < 1:
            raise ConfigError(f"done_history must be at least 1, not {self.done_history}")
        for name in ("status_timeout_s", "job_timeout_s", "retry_min_s", "retry_max_s"):
            value = getattr(self, name)
            if not 0 < value <= 600:
                raise ConfigError(f"{name} must be more than 0 and at most 600 s, not {value}")
        if self.retry_max_s < self.retry_min_s:
            raise ConfigError("retry_max_s must not be less than retry_min_s")
        if self.confirm not in ("process_id", "status"):
            raise ConfigError(f"confirm must be process_id or status, not {self.confirm!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PrinterConfig:
        """Build from a config mapping; unknown keys are errors."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown printer settings: {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"bad printer settings: {exc}") from exc

    @property
    def where(self) -> str:
        """Where the printer is, as a technician would look for it."""
        if self.kind == "network":
            return f"{self.host}:{self.port}"
        if self.kind == "usb":
            return f"USB {self.usb_vid:04x}:{self.usb_pid:04x}"
        return self.path


def _usb_factory(config: PrinterConfig) -> Any:
    def build() -> Any:
        try:
            from escpos.printer import Usb  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - python-escpos is a pinned dependency
            raise DeviceUnavailable(f"python-escpos USB support unavailable: {exc}") from exc
        if not Usb.is_usable():
            raise DeviceUnavailable("USB printing needs pyusb (pip install pyusb) and libusb")
        return Usb(config.usb_vid, config.usb_pid, timeout=2000)

    return build


def make_transport(config: PrinterConfig) -> Transport:
    """The transport for the configured kind of printer (not yet opened)."""
    if config.kind == "serial":
        return SerialTransport(config.path, config.baudrate)
    if config.kind == "file":
        return FileTransport(config.path)
    if config.kind == "network":
        return TcpTransport(config.host, config.port)
    return EscposTransport(_usb_factory(config), config.where)
