"""Drawer protection under MicroPython: relay off at boot, pulse cap, interval, alarm."""

import unittest

import drawer as D
import frames as F


class Pin:
    def __init__(self, level=0):
        self.level = level
        self.writes = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.writes.append(v)


def make(now=0, **kw):
    relay, switch = Pin(1), Pin(1)  # relay pin high as if left on; switch open = low
    return D.Drawer(relay, switch, now, **kw), relay, switch


def run(d, start, end, step=5):
    events = []
    t = start
    while t < end:
        events += d.step(t)
        t += step
    return events


class Relay(unittest.TestCase):
    def test_relay_is_driven_off_at_construction(self):
        d, relay, _ = make()
        self.assertEqual(relay.writes[0], 0)
        self.assertEqual(relay.level, 0)

    def test_pulse_is_cut_to_the_maximum(self):
        d, relay, _ = make()
        ev = d.kick(1, 5000, 2000)
        self.assertEqual(ev, [(D.KICKED, 1, F.KICK_PULSED)])
        off_at = None
        for t in range(2005, 3000, 5):
            d.step(t)
            if off_at is None and not relay.level:
                off_at = t
        self.assertEqual(off_at - 2000, D.MAX_PULSE_MS)

    def test_the_width_asked_is_kept(self):
        d, relay, _ = make()
        d.kick(2, 150, 2000)
        off_at = None
        for t in range(2005, 3000, 5):
            d.step(t)
            if off_at is None and not relay.level:
                off_at = t
        self.assertEqual(off_at - 2000, 150)

    def test_no_pulse_within_the_minimum_interval_of_boot(self):
        d, relay, _ = make(now=0)
        self.assertEqual(d.kick(1, 200, 100), [])
        events = run(d, 100, 1100)
        self.assertEqual(events, [(D.KICKED, 1, F.KICK_PULSED)])

    def test_second_kick_waits_third_merges(self):
        d, relay, switch = make()
        d.kick(1, 100, 5000)
        self.assertEqual(d.kick(2, 100, 5050), [])
        self.assertEqual(d.kick(3, 100, 5060), [(D.KICKED, 3, F.KICK_MERGED)])
        events = run(d, 5060, 7000)
        kicked = [e for e in events if e[0] == D.KICKED]
        self.assertEqual(kicked, [(D.KICKED, 2, F.KICK_PULSED)])
        self.assertEqual(d.kicks, 2)

    def test_same_kick_id_pulses_once(self):
        d, _, _ = make()
        d.kick(9, 100, 5000)
        self.assertEqual(d.kick(9, 100, 5001), [(D.KICKED, 9, F.KICK_DUPLICATE)])

    def test_kick_while_open_does_not_pulse(self):
        d, relay, switch = make()
        switch.level = 0
        run(d, 0, 2000)
        self.assertEqual(d.kick(1, 100, 2000), [(D.KICKED, 1, F.KICK_ALREADY_OPEN)])
        self.assertEqual(relay.level, 0)


class Alarm(unittest.TestCase):
    def test_open_reported_after_debounce_and_alarm_once(self):
        d, _, switch = make(alarm_after_s=2, switch_ms=30)
        switch.level = 0
        events = run(d, 0, 4000)
        self.assertEqual(events[0], (D.OPENED, 1))
        self.assertEqual([e for e in events if e[0] == D.ALARM], [(D.ALARM, 2)])
        self.assertTrue(d.alarming)
        switch.level = 1
        events = run(d, 4000, 4100)
        self.assertEqual(events, [(D.OPENED, 0)])
        self.assertFalse(d.alarming)
