"""The terminal's clock-sync flag comes from the kernel's own NTP state."""

from __future__ import annotations

import ctypes
import ctypes.util

from device.store.kernel_clock import TIME_ERROR, kernel_clock_synced
from device.store.store import SystemClock


def _kernel_state() -> int:
    """An independent read of adjtimex(2): the timex struct's status word bit STA_UNSYNC."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buf = ctypes.create_string_buffer(512)
    return int(libc.adjtimex(buf))


def test_the_flag_agrees_with_the_kernel_clock_state() -> None:
    state = _kernel_state()
    assert kernel_clock_synced() is (0 <= state < TIME_ERROR)


def test_the_system_clock_asks_the_kernel_unless_told() -> None:
    assert SystemClock().synced() is kernel_clock_synced()
    assert SystemClock(synced=True).synced() is True
    assert SystemClock(synced=False).synced() is False
