"""I/O-board figures: link frames per second over a pty, and matrix key to screen model p99."""

from __future__ import annotations

import queue
import time

from benchmarks._stats import percentile
from device.drivers.events import KeyEvent
from device.drivers.ioboard import IoBoard, IoBoardConfig
from device.drivers.sim.ioboard_sim import BoardSim
from device.mcu import frames as F


def run(quick: bool) -> dict[str, float]:
    """mcu.link_frames_per_s (display frames acknowledged by the firmware), with the raw pty
    byte rate of the same frames as baseline; mcu.key_to_screen_p99_ms."""
    sim = BoardSim()
    inbox: queue.Queue[object] = queue.Queue()
    board = IoBoard(IoBoardConfig(port=sim.path), inbox.put)
    board.start()
    try:
        board.link.connected.wait(15)
        n = 200 if quick else 1000
        start = time.perf_counter()
        for _ in range(n):
            while not board.link.send(F.DISPLAY, bytes(20)):
                time.sleep(0.001)
        while board.link.chan.backlog():
            time.sleep(0.001)
        frames_per_s = n / (time.perf_counter() - start)
        latencies = []
        for _ in range(10 if quick else 40):
            t0 = time.perf_counter()
            sim.press("5")
            while not isinstance(inbox.get(timeout=10), KeyEvent):
                pass
            latencies.append((time.perf_counter() - t0) * 1000)
            sim.release("5")
            time.sleep(0.05)
    finally:
        board.stop()
        sim.stop()
    return {
        "mcu.link_frames_per_s": frames_per_s,
        "mcu.key_to_screen_p99_ms": percentile(latencies, 99),
    }
