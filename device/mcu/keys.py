"""Keypad matrix on the board: scanning the pins, debounce, key repeat and stuck-key detection.

`Matrix` pulls one row low at a time (open-drain, so two keys in one column never short two
driven rows) and reads the pulled-up columns. `KeyLogic` is the pure part, fed one scan at a
time with the time in ms, so it runs the same on the board, in tests and on the host:
- a key changes state once its raw reading has held for `debounce_ms` (contact bounce is
  shorter than that, so one press is one event however much the contact chatters);
- a held key in the repeat set repeats after `repeat_delay_ms`, then every `repeat_ms`;
- a key held for `stuck_ms` is reported stuck once and stops repeating; its release is
  reported too. The other keys keep working meanwhile.
"""

try:
    from . import frames as F
except ImportError:  # on the board the modules sit side by side, not in a package
    import frames as F

KEY = "key"
STUCK = "stuck"
RELEASED = "released"

# The keypad maps the terminal already uses (device.drivers.keypad.DEFAULT_MATRIX), as codes.
_NUMERIC = (
    ("7", "8", "9", "CLEAR"),
    ("4", "5", "6", "QTY"),
    ("1", "2", "3", "SUBTOTAL"),
    ("0", "00", ".", "ENTER"),
)


def codes(names_layout):
    """A layout of key names -> a layout of key codes (None or "" for an empty cell)."""
    out = []
    for row in names_layout:
        out.append([F.KEY_NAMES.index(n) if n else F.NO_KEY for n in row])
    return out


DEFAULT_LAYOUT = codes(_NUMERIC)
DEFAULT_REPEAT = [F.KEY_NAMES.index("UP"), F.KEY_NAMES.index("DOWN")]


class Matrix:
    """Row pins (open-drain outputs, idle high) and column pins (inputs with pull-ups)."""

    def __init__(self, rows, cols):
        self.rows = rows
        self.cols = cols
        for pin in rows:
            pin.value(1)

    def scan(self, nrows, ncols, out):
        """Fill `out` (a bytearray of nrows * ncols) with 1 where a key reads pressed."""
        cols = self.cols
        i = 0
        for r in range(nrows):
            row = self.rows[r]
            row.value(0)
            for c in range(ncols):
                out[i] = 0 if cols[c].value() else 1
                i += 1
            row.value(1)
        return out


class KeyLogic:
    """Debounce, repeat and stuck detection over raw scans of one layout."""

    def __init__(self, layout=None, debounce_ms=20, repeat_delay_ms=500, repeat_ms=100,
                 repeat=None, stuck_ms=20000):
        self.configure(layout or DEFAULT_LAYOUT, debounce_ms, repeat_delay_ms, repeat_ms,
                       DEFAULT_REPEAT if repeat is None else repeat, stuck_ms)

    def configure(self, layout, debounce_ms, repeat_delay_ms, repeat_ms, repeat, stuck_ms):
        """Take a new layout and timings. Keys keep their state when the matrix size is the
        same, so a key held while the terminal reconfigures is not pressed a second time."""
        same = getattr(self, "rows", 0) == len(layout) and self.cols == len(layout[0])
        self.rows = len(layout)
        self.cols = len(layout[0])
        self.cells = [code for row in layout for code in row]
        n = len(self.cells)
        self.debounce_ms = debounce_ms
        self.repeat_delay_ms = repeat_delay_ms
        self.repeat_ms = max(repeat_ms, 20)
        self.repeat = set(repeat)
        self.stuck_ms = stuck_ms
        if same:
            return
        self.raw = bytearray(n)
        self.down = bytearray(n)
        self.stuck = bytearray(n)
        self.since = [0] * n
        self.pressed_at = [0] * n
        self.next_repeat = [0] * n
        self.repeats = [0] * n
        self.scan_buf = bytearray(n)
        self.stuck_count = 0

    def step(self, now, raw):
        """One scan (`raw[i]` 1 = reads pressed) at time `now` -> [(kind, code, n)]."""
        events = []
        diff = F.ticks_diff
        for i in range(len(self.cells)):
            r = raw[i]
            if r != self.raw[i]:
                self.raw[i] = r
                self.since[i] = now
                continue
            code = self.cells[i]
            if r != self.down[i]:
                if diff(now, self.since[i]) < self.debounce_ms:
                    continue
                self.down[i] = r
                if r:
                    self.pressed_at[i] = now
                    self.next_repeat[i] = now + self.repeat_delay_ms
                    self.repeats[i] = 0
                    if code != F.NO_KEY:
                        events.append((KEY, code, 0))
                elif self.stuck[i]:
                    self.stuck[i] = 0
                    events.append((RELEASED, code, 0))
            elif r and not self.stuck[i] and code != F.NO_KEY:
                if diff(now, self.pressed_at[i]) >= self.stuck_ms:
                    self.stuck[i] = 1
                    self.stuck_count += 1
                    events.append((STUCK, code, diff(now, self.pressed_at[i]) // 1000))
                elif code in self.repeat and diff(now, self.next_repeat[i]) >= 0:
                    self.repeats[i] += 1
                    self.next_repeat[i] = self.next_repeat[i] + self.repeat_ms
                    events.append((KEY, code, min(self.repeats[i], 255)))
        return events
