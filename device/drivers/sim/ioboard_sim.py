"""The I/O board on a pty: the real firmware under MicroPython's WebAssembly port, run by Node.

`BoardSim` owns the pseudo-terminal (the terminal's driver opens `path`), starts
ioboard_host.mjs with the pty's master end, and turns the host's JSON lines into state a test
or the demo can read: relay pulses, buzzer tones, boots, the drawer. Keys are pressed on the
simulated matrix, the drawer pushed shut, faults injected on the link, the board reset (its
RAM lost, the held keys and the drawer not) or unplugged (the pty goes away and the board
loses power; replug boots it again behind the same path).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device.drivers.errors import DeviceUnavailable
from device.drivers.sim.pty import PtyPair

ROOT = Path(__file__).resolve().parents[3]
HOST_SCRIPT = Path(__file__).with_name("ioboard_host.mjs")
FIRMWARE_DIR = ROOT / "device" / "mcu"
WASM_PACKAGE = ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"


def simulator_available() -> str:
    """Empty when Node and the MicroPython WebAssembly package are installed, else why not."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (WASM_PACKAGE / "micropython.mjs").exists():
        return f"{WASM_PACKAGE} is missing (run make, which runs npm ci)"
    return ""


class BoardSim:
    """A simulated I/O board behind a pty; every method is safe to call from any thread."""

    def __init__(
        self,
        link_path: str | None = None,
        display_path: str | None = None,
        seed: int = 1,
        firmware_dir: Path = FIRMWARE_DIR,
        log_path: str | None = None,
    ) -> None:
        missing = simulator_available()
        if missing:
            raise DeviceUnavailable(f"I/O-board simulator cannot start: {missing}")
        self.pty = PtyPair(link_path)
        self._display_path = display_path
        self._seed = seed
        self._firmware = firmware_dir
        self._log_path = log_path
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self.events: list[dict[str, Any]] = []
        self.pulses: list[int] = []
        self.tones: list[int] = []
        self.boots: list[str] = []
        self.logs: list[str] = []
        self.relay_on = False
        self.drawer_open = False
        self._start()

    @property
    def path(self) -> str:
        """The serial port the terminal's driver opens."""
        return self.pty.path

    # -- process ---------------------------------------------------------------------------

    def _start(self) -> None:
        cmd = [
            "node", str(HOST_SCRIPT), "--fd", str(self.pty.master_fd),
            "--firmware", str(self._firmware), "--seed", str(self._seed),
        ]  # fmt: skip
        if self._display_path:
            cmd += ["--display", self._display_path]
        stderr = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            pass_fds=(self.pty.master_fd,), cwd=str(ROOT),
        )  # fmt: skip
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        boots = len(self.boots)
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True,
                                        name="ioboard-sim")  # fmt: skip
        self._reader.start()
        if not self.wait(lambda: len(self.boots) > boots, 30):
            raise DeviceUnavailable("the simulated I/O board did not boot")

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            with self._cond:
                self._apply(msg)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _apply(self, msg: dict[str, Any]) -> None:
        kind = msg.get("ev")
        if kind == "reply":
            self._replies[int(msg.get("id") or 0)] = msg
            return
        if kind == "log":
            self.logs.append(str(msg.get("line")))
            return
        self.events.append(msg)
        if kind == "pulse":
            self.pulses.append(int(msg["ms"]))
        elif kind == "relay":
            self.relay_on = bool(msg["on"])
        elif kind == "tone":
            self.tones.append(int(msg["freq"]))
        elif kind == "boot":
            self.boots.append(str(msg["cause"]))
        elif kind == "drawer":
            self.drawer_open = bool(msg["open"])

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until predicate() holds (checked on every message from the board)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    def command(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send one control line to the host and wait for its reply."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise DeviceUnavailable("the simulated I/O board is not running")
        msg_id = next(self._ids)
        line = json.dumps({"op": op, "id": msg_id, **fields}) + "\n"
        with self._cond:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
        if not self.wait(lambda: msg_id in self._replies, timeout):
            raise DeviceUnavailable(f"the simulated I/O board did not answer {op}")
        with self._cond:
            reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise DeviceUnavailable(f"simulated I/O board: {reply['error']}")
        return reply

    # -- the physical world ------------------------------------------------------------------

    def press(self, key: str, bounce_ms: int = 0) -> None:
        """Hold a key down (by its name on the board's current layout)."""
        self.command("press", key=key, bounce_ms=bounce_ms)

    def release(self, key: str) -> None:
        """Let a key go."""
        self.command("release", key=key)

    def tap(self, key: str, hold_s: float = 0.06, bounce_ms: int = 0) -> None:
        """Press and release a key: held at least hold_s and until the firmware has it down,
        then off until the firmware has it up (as a finger waits for the click), so a tap
        counts once however slowly the board's interpreter is scheduled."""
        self.command("tap", timeout=30, key=key, hold_ms=int(hold_s * 1000), bounce_ms=bounce_ms)

    def open_drawer(self) -> None:
        """Open the drawer by hand (with its key)."""
        self.command("drawer", open=True)

    def close_drawer(self) -> None:
        """Push the drawer shut."""
        self.command("drawer", open=False)

    def jam(self, on: bool = True) -> None:
        """A drawer whose lock does not release on a pulse."""
        self.command("jam", on=on)

    # -- faults --------------------------------------------------------------------------------

    def faults(self, seed: int | None = None, **probabilities: float) -> None:
        """Per-frame fault odds: corrupt, drop, dup (board -> Pi); inCorrupt, inDrop, inDup."""
        fields: dict[str, Any] = {"set": probabilities}
        if seed is not None:
            fields["seed"] = seed
        self.command("faults", **fields)

    def reset(self, cause: str = "power on", cut: int | None = None,
              on_rx: int | None = None) -> None:  # fmt: skip
        """Reset the board now, or halfway through its next frame out (`cut` bytes sent) or
        in (`on_rx` bytes received)."""
        if cut is not None:
            self.command("reset", cut=cut)
        elif on_rx is not None:
            self.command("reset", on_rx=on_rx)
        else:
            self.command("reset", cause=cause)

    def mute(self, on: bool = True) -> None:
        """Cut the link both ways (a UART cable pulled while the board keeps power)."""
        self.command("mute", on=on)

    def hang(self) -> None:
        """Make every main-loop pass fail, as a firmware fault would (the watchdog fires)."""
        self.command("hang")

    def state(self) -> dict[str, Any]:
        """Relay, drawer, tone, boots and the host's link counters."""
        return self.command("state")

    def firmware(self, expr: str) -> str:
        """repr() of a Python expression evaluated inside the running firmware (`B` is it)."""
        return str(self.command("exec", expr=expr)["value"])

    def unplug(self) -> None:
        """Pull the USB cable: the board loses power and the pty goes away."""
        self._halt()
        self.pty.close()

    def replug(self) -> None:
        """Plug it back in: a new pty behind the same path, and the board boots."""
        self.pty.open()
        self._start()

    def _halt(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)

    def stop(self) -> None:
        """Stop the board and remove the pty."""
        self._halt()
        self.pty.remove()

    def __enter__(self) -> BoardSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
