"""Byte transports for peripherals: a Protocol plus serial, file, TCP and python-escpos backends.

Why our own serial/file/TCP classes rather than python-escpos's printer classes: those open the
device in their constructor, raise library-specific errors and offer no read timeout, while the
drivers here need explicit open/close for reconnect-with-backoff, bounded reads for status polls,
and every failure mapped to DeviceUnavailable. python-escpos still builds the bytes (see
receipt_layout) and is used as a transport for USB through EscposTransport.
"""

from __future__ import annotations

import contextlib
import os
import socket
import termios
import time
from typing import Any, Protocol, runtime_checkable

import serial  # type: ignore[import-untyped]

from device.drivers.errors import DeviceUnavailable, DriverError

RAW_PRINT_PORT = 9100


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to one device; every I/O failure surfaces as DeviceUnavailable."""

    where: str
    bidirectional: bool

    def open(self) -> None:
        """Open the underlying port; raise DeviceUnavailable when it cannot be opened."""
        ...

    def close(self) -> None:
        """Close the port; never raises."""
        ...

    @property
    def is_open(self) -> bool:
        """True while the port is open and no I/O error has been seen."""
        ...

    def write(self, data: bytes) -> None:
        """Write all bytes or raise DeviceUnavailable."""
        ...

    def read(self, n: int, timeout: float) -> bytes:
        """Read up to n bytes, waiting at most timeout seconds; b"" when nothing came."""
        ...

    def discard_input(self) -> None:
        """Drop bytes already received but not read (stale answers)."""
        ...


class SerialTransport:
    """A serial port through pyserial; works on a real UART, a USB-serial adapter or a pty."""

    bidirectional = True

    def __init__(self, port: str, baudrate: int = 9600, rtscts: bool = False) -> None:
        self.where = port
        self._baudrate = baudrate
        self._rtscts = rtscts
        self._serial: serial.Serial | None = None

    def open(self) -> None:
        self.close()
        try:
            # exclusive: a second opener (another till process, a getty, a modem manager)
            # is told the port is busy instead of interleaving its bytes with ours.
            self._serial = serial.Serial(
                self.where, self._baudrate, timeout=0, write_timeout=5, rtscts=self._rtscts,
                exclusive=True,
            )  # fmt: skip
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open serial port {self.where}: {exc}") from exc

    def close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                ser.close()

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise DeviceUnavailable(f"serial port {self.where} is not open")
        return self._serial

    def write(self, data: bytes) -> None:
        port = self._port()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise DeviceUnavailable(f"write to {self.where} failed: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        port = self._port()
        try:
            port.timeout = max(0.0, timeout)
            return bytes(port.read(n))
        except (serial.SerialException, OSError, termios.error) as exc:
            # A pty whose master went away reads as EIO; a USB adapter pulled out likewise.
            self.close()
            raise DeviceUnavailable(f"read from {self.where} failed: {exc}") from exc

    def discard_input(self) -> None:
        # A pulled adapter (or a closed pty master) fails tcflush with termios.error, which
        # is not an OSError: it must still read as the device being gone, so it is reopened.
        try:
            self._port().reset_input_buffer()
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise DeviceUnavailable(f"{self.where} failed: {exc}") from exc


class FileTransport:
    """Appends bytes to a file or device node (e.g. /dev/usb/lp0); no answers come back."""

    bidirectional = False

    def __init__(self, path: str) -> None:
        self.where = path
        self._fd: int | None = None

    def open(self) -> None:
        self.close()
        try:
            self._fd = os.open(self.where, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise DeviceUnavailable(f"cannot open {self.where}: {exc.strerror}") from exc

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise DeviceUnavailable(f"{self.where} is not open")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
            if os.path.isfile(self.where):
                os.fsync(self._fd)
        except OSError as exc:
            self.close()
            raise DeviceUnavailable(f"write to {self.where} failed: {exc.strerror}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        if self._fd is None:
            raise DeviceUnavailable(f"{self.where} is not open")
        return b""

    def discard_input(self) -> None:
        return None


class TcpTransport:
    """A raw TCP socket, by default to the printer's port 9100 (JetDirect / raw printing)."""

    bidirectional = True

    def __init__(self, host: str, port: int = RAW_PRINT_PORT, connect_timeout: float = 3.0) -> None:
        self.where = f"{host}:{port}"
        self._addr = (host, port)
        self._connect_timeout = connect_timeout
        self._sock: socket.socket | None = None

    def open(self) -> None:
        self.close()
        try:
            self._sock = socket.create_connection(self._addr, timeout=self._connect_timeout)
        except OSError as exc:
            raise DeviceUnavailable(f"cannot connect to {self.where}: {exc}") from exc

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise DeviceUnavailable(f"{self.where} is not connected")
        return self._sock

    def write(self, data: bytes) -> None:
        sock = self._socket()
        try:
            sock.settimeout(10.0)
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise DeviceUnavailable(f"send to {self.where} failed: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        sock = self._socket()
        try:
            sock.settimeout(max(timeout, 0.001))
            data = sock.recv(n)
        except TimeoutError:
            return b""
        except OSError as exc:
            self.close()
            raise DeviceUnavailable(f"receive from {self.where} failed: {exc}") from exc
        if not data:
            self.close()
            raise DeviceUnavailable(f"{self.where} closed the connection")
        return data

    def discard_input(self) -> None:
        sock = self._socket()
        try:
            sock.setblocking(False)
            while sock.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.close()
            raise DeviceUnavailable(f"{self.where} failed: {exc}") from exc
        finally:
            if self._sock is not None:
                self._sock.setblocking(True)


class EscposTransport:
    """Adapts a python-escpos printer object (e.g. escpos.printer.Usb) to the Transport protocol.

    The printer object is built lazily by a factory so that pyusb need not be installed to import
    this module; python-escpos's own errors become DeviceUnavailable.
    """

    bidirectional = True

    def __init__(self, factory: Any, where: str) -> None:
        self.where = where
        self._factory = factory
        self._device: Any = None

    def open(self) -> None:
        self.close()
        try:
            device = self._factory()
            device.open()
        except DriverError:
            raise
        except Exception as exc:  # python-escpos and pyusb raise many unrelated types
            raise DeviceUnavailable(f"cannot open printer {self.where}: {exc}") from exc
        self._device = device

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            # Closing a vanished USB device may raise anything.
            with contextlib.suppress(Exception):
                device.close()

    @property
    def is_open(self) -> bool:
        return self._device is not None

    def write(self, data: bytes) -> None:
        if self._device is None:
            raise DeviceUnavailable(f"printer {self.where} is not open")
        try:
            self._device._raw(data)
        except Exception as exc:
            self.close()
            raise DeviceUnavailable(f"write to printer {self.where} failed: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        if self._device is None:
            raise DeviceUnavailable(f"printer {self.where} is not open")
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = bytes(self._device._read() or b"")[:n]
            except Exception as exc:
                self.close()
                raise DeviceUnavailable(f"read from printer {self.where} failed: {exc}") from exc
            if data or time.monotonic() >= deadline:
                return data
            time.sleep(0.01)

    def discard_input(self) -> None:
        return None
