"""Cash drawer on the board: the debounced open switch, a protected relay pulse, the open alarm.

The solenoid is protected here, on the board, whatever the terminal asks:
- a pulse never lasts longer than MAX_PULSE_MS (a longer request is cut to it);
- two pulses are at least MIN_INTERVAL_MS apart, counted from the end of the last one and
  from boot (so a board in a reset loop cannot hammer the solenoid); a kick that comes too
  soon waits, and a third kick meanwhile is merged into the waiting one;
- a kick while the drawer already reads open does not pulse;
- the same kick id twice pulses once (a resend after a lost acknowledgement).
The relay is switched off first thing at construction, i.e. at boot.

The left-open alarm (`alarming`) needs nothing from the terminal: the board sounds it itself.
"""

try:
    from . import frames as F
except ImportError:  # on the board the modules sit side by side, not in a package
    import frames as F

MAX_PULSE_MS = 300
MIN_PULSE_MS = 20
MIN_INTERVAL_MS = 1000
RECENT_KICKS = 8

OPENED = "drawer"
ALARM = "alarm"
KICKED = "kicked"


class Drawer:
    """Relay and switch pins; `kick` and `step` return events [(kind, ...)]."""

    def __init__(self, relay, switch, now, open_level=0, pulse_ms=200, alarm_after_s=30,
                 switch_ms=30):
        self.relay = relay
        relay.value(0)
        self.switch = switch
        self.open_level = open_level
        self.pulse_ms = pulse_ms
        self.alarm_after_ms = alarm_after_s * 1000
        self.switch_ms = switch_ms
        self.relay_on = False
        self.relay_until = now
        self.last_end = now  # boot counts as a pulse end: no pulse within MIN_INTERVAL of boot
        self.pending = None
        self.recent = []
        self.kicks = 0
        self.refused = 0
        self._raw = self._read()
        self._raw_since = now
        self.is_open = self._raw
        self.opened_at = now
        self.alarmed = False

    def configure(self, pulse_ms, alarm_after_s, switch_ms):
        """New timings from the terminal (the hard limits above still apply)."""
        self.pulse_ms = pulse_ms
        self.alarm_after_ms = alarm_after_s * 1000
        self.switch_ms = switch_ms

    @property
    def alarming(self):
        """True while the drawer stands open past the alarm time."""
        return self.is_open and self.alarmed

    def _read(self):
        return self.switch.value() == self.open_level

    def kick(self, kick_id, pulse_ms, now):
        """A kick request from the terminal -> events (KICKED now, or later from `step`)."""
        if kick_id in self.recent:
            return [(KICKED, kick_id, F.KICK_DUPLICATE)]
        self.recent.append(kick_id)
        if len(self.recent) > RECENT_KICKS:
            self.recent.pop(0)
        pulse = max(MIN_PULSE_MS, min(pulse_ms or self.pulse_ms, MAX_PULSE_MS))
        if self.pending is not None:
            self.refused += 1
            return [(KICKED, kick_id, F.KICK_MERGED)]
        self.pending = (kick_id, pulse)
        return self._start_pending(now)

    def _start_pending(self, now):
        if self.pending is None or self.relay_on:
            return []
        if F.ticks_diff(now, self.last_end) < MIN_INTERVAL_MS:
            return []
        kick_id, pulse = self.pending
        self.pending = None
        if self.is_open:
            return [(KICKED, kick_id, F.KICK_ALREADY_OPEN)]
        self.relay.value(1)
        self.relay_on = True
        self.relay_until = now + pulse
        self.kicks += 1
        return [(KICKED, kick_id, F.KICK_PULSED)]

    def off(self):
        """Relay off now (shutdown, maintenance)."""
        self.relay.value(0)
        self.relay_on = False

    def step(self, now):
        """Pulse timing, switch debounce and the alarm -> events."""
        events = []
        if self.relay_on and F.ticks_diff(now, self.relay_until) >= 0:
            self.relay.value(0)
            self.relay_on = False
            self.last_end = now
        raw = self._read()
        if raw != self._raw:
            self._raw = raw
            self._raw_since = now
        elif raw != self.is_open and F.ticks_diff(now, self._raw_since) >= self.switch_ms:
            self.is_open = raw
            self.opened_at = now
            self.alarmed = False
            events.append((OPENED, 1 if raw else 0))
        if (self.is_open and not self.alarmed
                and F.ticks_diff(now, self.opened_at) >= self.alarm_after_ms):
            self.alarmed = True
            events.append((ALARM, F.ticks_diff(now, self.opened_at) // 1000))
        events.extend(self._start_pending(now))
        return events
