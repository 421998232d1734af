"""Input-driver decoding cost: one wedge scan from key events to text, the p99 over many runs.

`scanner.decode_p99_us` times scans_from_keys on the key events a USB keyboard-wedge scanner
sends for one EAN-13 with AIM prefix and Enter suffix (the recorded fixture shape: EV_MSC and
EV_SYN around each key, Shift around capitals). Wedge decoding is reported rather than serial
because it is the heavier path: ~100 input events per scan against ~17 bytes. The serial figure
and a magstripe parse are reported alongside for scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks._stats import percentile
from device.drivers.keymap import text_to_keys
from device.drivers.magstripe import encode_swipe, parse_swipe
from device.drivers.scanner import ScanAssembler, scans_from_keys

SCAN = "]E05901234123457"


def _wedge_events() -> list[tuple[int, int, int]]:
    events: list[tuple[int, int, int]] = []
    for ev in text_to_keys(SCAN + "\r", "us"):
        if ev[0] == 1 and ev[2] == 1:
            events.append((4, 4, 458752))  # EV_MSC MSC_SCAN, as HID devices send before a key
        events.append(ev)
    return events


def _p99_us(fn: Callable[[], object], runs: int) -> float:
    for _ in range(min(200, runs)):
        fn()
    samples: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return percentile(samples, 99) / 1000


def run(quick: bool) -> dict[str, float]:
    """Measured figures in microseconds."""
    runs = 2000 if quick else 20000
    events = _wedge_events()
    assert scans_from_keys(events, "us")[0] == [SCAN]
    serial = (SCAN + "\r").encode()
    swipe = encode_swipe("6012345678901234", "LI/WEI", with_lrc=True)
    return {
        "scanner.decode_p99_us": _p99_us(lambda: scans_from_keys(events, "us"), runs),
        "scanner.serial_decode_p99_us": _p99_us(lambda: ScanAssembler().feed(serial), runs),
        "card_reader.swipe_parse_p99_us": _p99_us(lambda: parse_swipe(swipe, True), runs),
    }


if __name__ == "__main__":
    print(run(quick=True))
