"""Whether the kernel's clock is NTP-synchronised, read with adjtimex(2) (the Pi has no RTC)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# adjtimex() returns the clock state; TIME_ERROR (5) means "not synchronised" (STA_UNSYNC set),
# which is how the kernel reports a clock no NTP client (systemd-timesyncd, chrony) has
# disciplined since boot. A read-only call (modes = 0) needs no privilege.
TIME_ERROR = 5
# struct timex is 208 bytes on 64-bit Linux and smaller on 32-bit; a zeroed, larger buffer
# is a valid read-only argument on every architecture.
_TIMEX_BYTES = 512


def kernel_clock_synced() -> bool:
    """True when the kernel says an NTP client has synchronised the clock; False otherwise.

    Anything that prevents asking (not Linux, no libc, a refused call) counts as not
    synchronised, so events never claim a trustworthy time they do not have.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_BYTES)
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return False
    return 0 <= state < TIME_ERROR
