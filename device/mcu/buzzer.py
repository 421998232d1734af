"""Buzzer patterns on the board: short beeps on request, the drawer alarm underneath them.

A pattern is a tuple of (frequency Hz, milliseconds) steps, frequency 0 being silence. A
requested beep plays once; the alarm loops for as long as the drawer stands open, and a beep
played meanwhile interrupts it and then gives it back.
"""

try:
    from . import frames as F
except ImportError:  # on the board the modules sit side by side, not in a package
    import frames as F

PATTERNS = {
    F.BEEP_SCAN: ((2700, 60),),
    F.BEEP_KEY: ((3000, 15),),
    F.BEEP_ERROR: ((700, 150), (0, 80), (700, 150)),
    F.BEEP_ALARM: ((2200, 250), (0, 250)),
}


class Buzzer:
    """`tone(freq)` drives the hardware (0 = off); call `step` from the main loop."""

    def __init__(self, tone):
        self._tone = tone
        self._freq = -1
        self._shot = None
        self._shot_start = 0
        self.played = 0
        self._set(0)

    def _set(self, freq):
        if freq != self._freq:
            self._freq = freq
            self._tone(freq)

    def play(self, pattern, now):
        """Start a one-shot pattern; False for an unknown one."""
        steps = PATTERNS.get(pattern)
        if steps is None:
            return False
        self._shot = steps
        self._shot_start = now
        self.played += 1
        return True

    def _at(self, steps, elapsed, loop):
        total = 0
        for _, ms in steps:
            total += ms
        if loop:
            elapsed %= total
        elif elapsed >= total:
            return None
        for freq, ms in steps:
            if elapsed < ms:
                return freq
            elapsed -= ms
        return None

    def step(self, now, alarm):
        """Drive the output for this moment: the one-shot if playing, else the alarm."""
        if self._shot is not None:
            freq = self._at(self._shot, F.ticks_diff(now, self._shot_start), False)
            if freq is not None:
                self._set(freq)
                return
            self._shot = None
        if alarm:
            self._set(self._at(PATTERNS[F.BEEP_ALARM], now, True))
        else:
            self._set(0)
