"""Keypad logic under MicroPython: debounce, repeat, stuck keys, and the pin scan."""

import unittest

import frames as F
import keys as K

FIVE = F.KEY_NAMES.index("5")
UP = F.KEY_NAMES.index("UP")
LAYOUT = [[FIVE, UP], [F.NO_KEY, F.KEY_NAMES.index("ENTER")]]


def logic(**kw):
    args = dict(debounce_ms=20, repeat_delay_ms=500, repeat_ms=100, repeat=[UP], stuck_ms=5000)
    args.update(kw)
    return K.KeyLogic(LAYOUT, **args)


def run(k, start, end, raw, step=5):
    events = []
    t = start
    while t < end:
        events += k.step(t, raw(t) if callable(raw) else raw)
        t += step
    return events


class Debounce(unittest.TestCase):
    def test_chattering_contact_is_one_press(self):
        k = logic()
        # The contact flips every scan for 15 ms, then holds.
        bounce = lambda t: bytes([1 if t >= 15 or (t // 5) % 2 else 0, 0, 0, 0])
        events = run(k, 0, 200, bounce)
        self.assertEqual(events, [(K.KEY, FIVE, 0)])

    def test_blip_shorter_than_debounce_is_ignored(self):
        k = logic()
        events = run(k, 0, 10, bytes([1, 0, 0, 0])) + run(k, 10, 200, bytes(4))
        self.assertEqual(events, [])

    def test_empty_cell_never_sends(self):
        k = logic()
        self.assertEqual(run(k, 0, 200, bytes([0, 0, 1, 0])), [])


class Repeat(unittest.TestCase):
    def test_digit_does_not_repeat(self):
        self.assertEqual(run(logic(), 0, 1500, bytes([1, 0, 0, 0])), [(K.KEY, FIVE, 0)])

    def test_up_repeats_after_the_delay_at_the_rate(self):
        events = run(logic(), 0, 1000, bytes([0, 1, 0, 0]))
        # Pressed at 20 ms (debounce), first repeat at 520, then 620, 720, 820, 920.
        self.assertEqual(events, [(K.KEY, UP, n) for n in range(6)])


class Stuck(unittest.TestCase):
    def test_stuck_key_reported_once_and_stops_repeating(self):
        k = logic(stuck_ms=1000)
        events = run(k, 0, 3000, bytes([0, 1, 0, 0]))
        stuck = [e for e in events if e[0] == K.STUCK]
        self.assertEqual(len(stuck), 1)
        after = events[events.index(stuck[0]) + 1 :]
        self.assertEqual(after, [])
        released = run(k, 3000, 3100, bytes(4))
        self.assertEqual(released, [(K.RELEASED, UP, 0)])

    def test_other_keys_work_while_one_is_stuck(self):
        k = logic(stuck_ms=500)
        run(k, 0, 1000, bytes([1, 0, 0, 0]))
        events = run(k, 1000, 1100, bytes([1, 0, 0, 1]))
        self.assertEqual(events, [(K.KEY, F.KEY_NAMES.index("ENTER"), 0)])


class Reconfigure(unittest.TestCase):
    def test_held_key_is_not_pressed_again_by_new_timings(self):
        k = logic()
        run(k, 0, 100, bytes([1, 0, 0, 0]))
        k.configure(LAYOUT, 30, 500, 100, [UP], 5000)
        self.assertEqual(run(k, 100, 300, bytes([1, 0, 0, 0])), [])


class Pin:
    def __init__(self, matrix=None, col=None):
        self.level = 1
        self.matrix, self.col = matrix, col

    def value(self, v=None):
        if v is None:
            return self.matrix.read(self.col)
        self.level = v


class Board:
    def __init__(self):
        self.rows = [Pin(), Pin()]
        self.cols = [Pin(self, 0), Pin(self, 1)]
        self.down = set()

    def read(self, col):
        for r, c in self.down:
            if c == col and self.rows[r].level == 0:
                return 0
        return 1


class Scan(unittest.TestCase):
    def test_matrix_reads_the_key_at_its_row_and_column(self):
        b = Board()
        m = K.Matrix(b.rows, b.cols)
        b.down.add((1, 0))
        self.assertEqual(bytes(m.scan(2, 2, bytearray(4))), bytes([0, 0, 1, 0]))
        self.assertEqual([p.level for p in b.rows], [1, 1])

    def test_default_layout_is_the_terminal_keypad_map(self):
        names = [[F.KEY_NAMES[c] for c in row] for row in K.DEFAULT_LAYOUT]
        self.assertEqual(names[0], ["7", "8", "9", "CLEAR"])
        self.assertEqual(names[3], ["0", "00", ".", "ENTER"])
