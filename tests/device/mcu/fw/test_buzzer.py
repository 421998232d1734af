"""Buzzer patterns under MicroPython: one-shots, the looping alarm, and their priority."""

import unittest

import buzzer as B
import frames as F


def trace(bz, start, end, alarm, step=10):
    tones = []
    for t in range(start, end, step):
        bz.step(t, alarm)
        tones.append(bz._freq)
    return tones


class Patterns(unittest.TestCase):
    def setUp(self):
        self.out = []
        self.bz = B.Buzzer(self.out.append)

    def test_scan_beep_is_60_ms_then_silence(self):
        self.bz.play(F.BEEP_SCAN, 0)
        tones = trace(self.bz, 0, 100, False)
        self.assertEqual(tones, [2700] * 6 + [0] * 4)
        self.assertEqual(self.out, [0, 2700, 0])

    def test_alarm_loops_while_asked(self):
        tones = trace(self.bz, 0, 1000, True, step=250)
        self.assertEqual(tones, [2200, 0, 2200, 0])

    def test_beep_interrupts_the_alarm_and_gives_it_back(self):
        self.bz.play(F.BEEP_ERROR, 0)
        tones = trace(self.bz, 0, 600, True, step=50)
        self.assertEqual(tones[:3], [700, 700, 700])
        self.assertEqual(tones[-1], 2200)

    def test_unknown_pattern_is_refused(self):
        self.assertFalse(self.bz.play(99, 0))
