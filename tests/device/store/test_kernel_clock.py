"""The terminal's clock-sync flag comes from the kernel's own NTP state."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import pytest

from device.store.kernel_clock import kernel_clock_synced
from device.store.store import SystemClock

STA_UNSYNC = 0x0040  # linux/timex.h: clock not synchronised


class _Timex(ctypes.Structure):
    """The leading fields of struct timex (linux/timex.h) on 64-bit Linux."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_byte * 256),
    ]


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"),
    reason="struct timex layout written for 64-bit Linux",
)
def test_the_flag_follows_the_kernels_unsynchronised_status_bit() -> None:
    """Read the status word itself, not the call's return value the code uses."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    timex = _Timex()
    libc.adjtimex(ctypes.byref(timex))
    unsynchronised = bool(timex.status & STA_UNSYNC)
    assert kernel_clock_synced() is not unsynchronised


def test_the_system_clock_asks_the_kernel_unless_told() -> None:
    assert SystemClock().synced() is kernel_clock_synced()
    assert SystemClock(synced=True).synced() is True
    assert SystemClock(synced=False).synced() is False
