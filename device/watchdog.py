"""systemd readiness and watchdog pings, sent only while every watched loop is still turning.

The protocol (sd_notify(3)): one datagram per message to the AF_UNIX socket named in
$NOTIFY_SOCKET (a leading "@" means the abstract namespace). systemd sets $WATCHDOG_USEC when
the unit has WatchdogSec=, and restarts the service when no "WATCHDOG=1" arrives for that
long. A thread that just pinged on a timer would keep a process with a hung till or a dead
sync loop alive for ever, so each loop stamps a heartbeat (a monotonic time) as it goes
round, and the pinger pings only while every heartbeat is recent. Without $NOTIFY_SOCKET
(not under systemd: tests, the demo) everything here does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Heartbeat = Callable[[], float]


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify message; False when not under systemd or the socket is gone."""
    path = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), address)
    except OSError as err:
        log.warning("sd_notify to %s failed: %s", path, err)
        return False
    return True


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """Half the watchdog timeout systemd asked for (the advised ping period), or None."""
    env = env if env is not None else os.environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process of the unit
    return int(usec) / 2_000_000


class Watchdog:
    """READY=1 once every loop has turned, then WATCHDOG=1 while each keeps turning."""

    def __init__(
        self,
        beats: Mapping[str, Heartbeat],
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.beats = dict(beats)
        self.env = dict(env if env is not None else os.environ)
        self.clock = clock
        self.interval_s = watchdog_interval_s(self.env)
        # A loop whose heartbeat is older than half the watchdog timeout is stalled.
        self.stale_after_s = self.interval_s or 15.0
        self.started_at = clock()
        self.ready = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stalled(self) -> list[str]:
        """The loops whose heartbeat is too old (or that have not turned since start)."""
        now = self.clock()
        return [
            name for name, beat in self.beats.items()
            if now - beat() > self.stale_after_s or (not self.ready and beat() < self.started_at)
        ]  # fmt: skip

    def tick(self) -> bool:
        """Check the loops once; ping (and say READY the first time) if all turn."""
        stuck = self.stalled()
        if stuck:
            if self.ready:  # before READY a loop not turning yet is still starting up
                notify(f"STATUS=stalled: {', '.join(stuck)}", self.env)
            return False
        if not self.ready:
            self.ready = True
            notify("READY=1\nSTATUS=running", self.env)
        if self.interval_s is not None:
            notify("WATCHDOG=1", self.env)
        return True

    def start(self) -> Watchdog:
        """Check and ping on a thread, every half watchdog period (at least every second)."""
        if "NOTIFY_SOCKET" not in self.env:
            return self
        period = min(self.interval_s or 1.0, 1.0)

        def run() -> None:
            while not self._stop.wait(period):
                with contextlib.suppress(Exception):  # a failed ping must not end the pinger
                    self.tick()

        self._thread = threading.Thread(target=run, name="watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Tell systemd the service is stopping and end the pinger."""
        self._stop.set()
        if self._thread is not None:
            notify("STOPPING=1", self.env)
            self._thread.join(2)
            self._thread = None
