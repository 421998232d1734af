"""Pick loopback listen ports outside the kernel's ephemeral range, so no client can take them."""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path
from typing import Final

EPHEMERAL_RANGE_FILE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Below this are well-known and registered service ports (PostgreSQL 5432, MQTT 1883/8883...).
LOWEST: Final = 10_000
FALLBACK_EPHEMERAL: Final = (32_768, 60_999)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default if unreadable)."""
    try:
        lo, hi = (int(x) for x in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return FALLBACK_EPHEMERAL
    return lo, hi


def _candidates() -> list[int]:
    lo, hi = ephemeral_range()
    # Prefer the band below the ephemeral range; above it where the range starts too low.
    below = range(LOWEST, lo) if lo > LOWEST + 1000 else range(0)
    above = range(hi + 1, 65_536) if hi < 64_535 else range(0)
    return [*below, *above]


def free_ports(count: int, host: str = "127.0.0.1", rng: random.Random | None = None) -> list[int]:
    """Distinct ports free on ``host`` a moment ago, none in the ephemeral range.

    An ephemeral port can be taken at any moment by any outgoing connection on the machine
    (a restart of a broker on "its" port then fails with "Address already in use"); a port
    outside the range can only be taken by another listener. Each candidate is held bound
    while the rest are chosen, so the ports returned are distinct.
    """
    pool = _candidates()
    if not pool:
        raise OSError("no port range outside the ephemeral range to choose from")
    chooser = rng or random.SystemRandom()
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(200 * count):
            if len(ports) == count:
                break
            port = chooser.choice(pool)
            if port in ports:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            ports.append(port)
        if len(ports) < count:
            raise OSError(f"could not find {count} free ports outside the ephemeral range")
        return ports


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """``preferred`` if it is free on ``host``, else a free port outside the ephemeral range.

    Free means no listener holds it. The connections of a server that just stopped linger in
    TIME_WAIT on its port for a minute; the broker and the HQ API listen with SO_REUSEADDR
    and take the port back regardless, so the probe does too (without it, `make run` right
    after the last one moved the HQ page off 8080).
    """
    if preferred is not None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, preferred))
                return preferred
            except OSError:
                pass
    return free_ports(1, host)[0]
