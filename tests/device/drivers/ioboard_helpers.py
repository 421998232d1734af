"""Barriers for the I/O-board tests: proof that nothing more can come, instead of a quiet spell.

Each way the link is one byte stream read in order, so "nothing more can come" takes two facts:
the sender holds nothing it will send again (every frame acknowledged), and a marker sent after
that has come through (whatever was on the wire before it, a resend or a doubled write, came
through first).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from device.drivers.ioboard import IoBoard
from device.drivers.sim.ioboard_sim import BoardSim
from device.mcu import frames as F

SETTLE_S = 30.0  # generous: a starved 2-core machine runs the board's interpreter slowly


def wait_until(check: Callable[[], bool], what: str, timeout: float = SETTLE_S) -> None:
    """Poll check() until true; fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.02)


def board_backlog(sim: BoardSim) -> int:
    """Frames the board's channel holds unacknowledged or waiting (the firmware's own record)."""
    return int(sim.firmware("B.chan.backlog()"))


def board_sent_everything(sim: BoardSim, keys: Callable[[], list[str]], sentinel: str) -> None:
    """Return once every copy of every frame the board sent before now has reached the driver.

    The board first has everything acknowledged, so it never resends an earlier frame; then a
    sentinel key is tapped and its frame, behind every earlier copy on the wire, is waited for.
    A key the firmware emitted twice (contact bounce) was queued before the sentinel's press
    began: a tap ends only once the firmware has the key up again.
    """
    wait_until(lambda: board_backlog(sim) == 0, "the board's frames all being acknowledged")
    sim.tap(sentinel)
    wait_until(lambda: sentinel in keys(), f"the sentinel key {sentinel} arriving")


def board_read_everything(board: IoBoard) -> None:
    """Return once the board has taken in every frame the terminal sent before now.

    The terminal first has everything acknowledged, so it never resends an earlier frame (a
    kick); then a marker request (a counters query, harmless) goes out behind every earlier
    copy, and once the board acknowledges it, it has read all of them.
    """
    link = board.link
    wait_until(lambda: link.chan.backlog() == 0, "the board acknowledging every request")
    assert link.send(F.QUERY)
    wait_until(lambda: link.chan.backlog() == 0, "the board acknowledging the marker")


def drawer_settled(sim: BoardSim, board: IoBoard) -> None:
    """Return once no relay pulse can come without a new kick, with every pulse in sim.pulses.

    The board has read every request, so no kick is on its way to it; its drawer has no kick
    waiting (one is held until a second after the last pulse or the boot) and the relay is
    off. The simulator answers that question behind every pulse it reported before.
    """
    board_read_everything(board)
    idle = "B.drawer.pending is None and not B.drawer.relay_on"
    wait_until(lambda: sim.firmware(idle) == "True", "the board's drawer going idle")
