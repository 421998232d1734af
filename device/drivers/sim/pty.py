"""Pseudo-terminal pairs and a base class for simulated serial devices on the master end."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import sys
import tempfile
import termios
import threading
import time
import tty

from device.drivers.errors import DeviceUnavailable


class PtyPair:
    """A raw-mode pseudo-terminal: the driver opens `path`, the simulator owns `master_fd`.

    `path` is a symlink kept stable across unplug/replug, because the kernel may hand out a
    different /dev/pts number each time a pair is created. The simulator also holds one slave
    descriptor open, so that the master does not read EIO while the driver has its end closed.
    """

    def __init__(self, link_path: str | None = None) -> None:
        if link_path is None:
            self._tmpdir: str | None = tempfile.mkdtemp(prefix="pos-pty-")
            link_path = os.path.join(self._tmpdir, "tty")
        else:
            self._tmpdir = None
        self.path = link_path
        self.master_fd = -1
        self._slave_fd = -1
        self.open()

    @property
    def is_open(self) -> bool:
        """True while the pair exists (the device is "plugged in")."""
        return self.master_fd >= 0

    @property
    def slave_name(self) -> str:
        """The real /dev/pts/N path behind `path`."""
        return os.ttyname(self._slave_fd) if self._slave_fd >= 0 else ""

    def open(self) -> None:
        """Create a fresh pair and point `path` at it."""
        if self.is_open:
            return
        master, slave = os.openpty()
        # Raw: no echo, no CR/LF translation, no signals; ESC/POS and card data are binary.
        tty.setraw(slave)
        tty.setraw(master)
        self.master_fd, self._slave_fd = master, slave
        tmp_link = f"{self.path}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_link)
        os.symlink(os.ttyname(slave), tmp_link)
        os.replace(tmp_link, self.path)

    def unread(self) -> int:
        """Bytes sent towards the driver that it has not read yet (0 when unplugged)."""
        if self._slave_fd < 0:
            return 0
        # The slave's input queue is shared by every descriptor on it, the driver's included.
        got = fcntl.ioctl(self._slave_fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(got, sys.byteorder, signed=True)

    def close(self) -> None:
        """Close both ends and remove the link, as a pulled USB adapter's /dev node goes away.

        A driver reading the slave then sees an I/O error, and reopening the path fails. The
        link must not outlive the pair: the kernel hands the freed /dev/pts number to the next
        pty anyone on the machine opens, and a driver reopening a stale link would then talk
        to that other process's device.
        """
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for fd in (self.master_fd, self._slave_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master_fd = self._slave_fd = -1

    def remove(self) -> None:
        """Close the pair and delete the link's temporary directory."""
        self.close()
        if self._tmpdir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._tmpdir)


class SerialSimulator:
    """Base for a fake serial device: a reader thread feeds `on_bytes`; `send` answers.

    Subclasses override `on_bytes(data)` and call `send(data)`. State shared with the test
    thread is guarded by `self.lock`. `unplug()` closes the master so the driver gets an I/O
    error; `replug()` creates a new pair behind the same path.
    """

    poll_interval = 0.02

    def __init__(self, link_path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.pty = PtyPair(link_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    @property
    def path(self) -> str:
        """The serial port path a driver should open."""
        return self.pty.path

    @property
    def plugged(self) -> bool:
        """True while the simulated device is connected."""
        return self.pty.is_open

    def start(self) -> SerialSimulator:
        """Start the reader thread; returns self for chaining."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"{type(self).__name__}-reader", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the reader thread and remove the pty."""
        self._halt_thread()
        self.pty.remove()

    def _halt_thread(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def unplug(self) -> None:
        """Simulate pulling the cable: the driver's next read or write fails."""
        self._halt_thread()
        self.pty.close()

    def replug(self) -> None:
        """Simulate plugging the cable back in, behind the same path."""
        self.pty.open()
        self.start()

    def send(self, data: bytes) -> None:
        """Write bytes towards the driver; raise DeviceUnavailable when unplugged."""
        fd = self.pty.master_fd
        if fd < 0:
            raise DeviceUnavailable("simulated device is unplugged")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def wait_read(self, timeout: float) -> bool:
        """Block until the driver has read everything sent so far (or timeout)."""
        deadline = time.monotonic() + timeout
        while self.pty.unread():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def on_bytes(self, data: bytes) -> None:
        """Handle bytes received from the driver; subclasses override this."""

    def __enter__(self) -> SerialSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self.pty.master_fd
            if fd < 0:
                return
            try:
                ready, _, _ = select.select([fd], [], [], self.poll_interval)
                if not ready:
                    continue
                data = os.read(fd, 4096)
            except OSError:
                # EIO while no slave is open, or EBADF after unplug: keep polling until stopped.
                self._stop.wait(self.poll_interval)
                continue
            if not data:
                continue
            try:
                with self.lock:
                    self.on_bytes(data)
            except Exception as exc:  # a simulator bug must not kill the reader silently
                self.errors.append(f"{type(exc).__name__}: {exc}")
