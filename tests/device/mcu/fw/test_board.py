"""The whole firmware under MicroPython with a fake hardware layer: sessions, requests, safety."""

import struct
import unittest

import board as BD
import frames as F


class Pin:
    def __init__(self, level=1):
        self.level = level

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


class Hal:
    def __init__(self):
        self.t = 10000
        self.relay = Pin(1)  # floating high at reset: the firmware must drive it low
        self.switch = Pin(1)
        self.rows = [Pin() for _ in range(6)]
        self.cols = [Pin() for _ in range(8)]
        self.rx = b""
        self.tx = F.Decoder()
        self.out = []
        self.fed = 0
        self.tones = []
        self.display = b""
        self.fail = False
        self.maint = 0

    def ticks_ms(self):
        return self.t

    def link_read(self):
        if self.fail:
            raise OSError("simulated fault")
        data, self.rx = self.rx, b""
        return data or None

    def link_write(self, data):
        self.out += self.tx.feed(data)

    def boot_id(self):
        return 0x1234

    def reset_cause(self):
        return 1

    def tone(self, f):
        self.tones.append(f)

    def display_write(self, data):
        self.display += data

    def feed_watchdog(self):
        self.fed += 1

    def maintenance(self):
        self.maint += 1


def hello(session=5, version=F.PROTOCOL_VERSION, seq=0):
    payload = F.pack_hello(session, 0, 0, False)
    if version != F.PROTOCOL_VERSION:
        payload = bytes((version,)) + payload[1:]
    return F.encode(F.HELLO, seq, payload)


class Fixture(unittest.TestCase):
    def setUp(self):
        self.hal = Hal()
        self.board = BD.Board(self.hal)

    def run_for(self, ms):
        for _ in range(ms):
            self.hal.t += 1
            self.board.run_once()

    def frames(self, ftype):
        return [f for f in self.hal.out if f[0] == ftype]


class Boot(Fixture):
    def test_relay_off_and_announce_until_hello(self):
        self.assertEqual(self.hal.relay.level, 0)
        self.run_for(2100)
        announces = self.frames(F.ANNOUNCE)
        self.assertEqual(len(announces), 3)
        version, boot, cause, flags, fw = F.unpack_announce(announces[0][2])
        self.assertEqual((version, boot, cause, flags, fw),
                         (F.PROTOCOL_VERSION, 0x1234, 1, 0, F.FIRMWARE_VERSION))

    def test_watchdog_fed_only_by_good_passes(self):
        self.run_for(10)
        self.assertEqual(self.hal.fed, 10)
        self.hal.fail = True
        self.run_for(10)
        self.assertEqual(self.hal.fed, 10)
        self.assertEqual(self.board.errors, 10)


class Session(Fixture):
    def test_hello_answered_and_keys_flow(self):
        self.hal.rx = hello()
        self.run_for(5)
        reply = self.frames(F.ANNOUNCE)[-1]
        self.assertTrue(F.unpack_announce(reply[2])[3] & F.ANN_REPLY)
        drawer = self.frames(F.DRAWER)
        self.assertEqual(drawer[0][2], b"\x00")
        self.hal.rows[0].level = 1
        self.board.matrix.rows[3].value(1)
        # Hold "0" (row 3, col 0 of the default layout) by pulling column 0 low on row 3.
        rows = self.hal.rows

        class Col:
            def value(_self, v=None):
                return 0 if rows[3].level == 0 else 1

        self.hal.cols[0] = Col()
        self.board.matrix.cols = self.hal.cols
        self.run_for(100)
        # Nobody acknowledges here, so the board resends: one sequence number, one key.
        keys = {f[1]: f[2] for f in self.frames(F.KEY)}
        self.assertEqual(list(keys.values()), [bytes((F.KEY_NAMES.index("0"), 0))])

    def test_version_mismatch_is_refused_and_said(self):
        self.hal.rx = hello(version=F.PROTOCOL_VERSION + 1)
        self.run_for(5)
        flags = [F.unpack_announce(f[2])[3] for f in self.frames(F.ANNOUNCE)]
        self.assertIn(F.ANN_REPLY | F.ANN_MISMATCH, flags)
        self.assertFalse(self.board.chan.open)
        self.assertEqual(self.board.mismatches, 1)

    def test_kick_pulses_the_relay(self):
        self.hal.rx = hello()
        self.run_for(1100)
        self.hal.rx = F.encode(F.KICK, 0, struct.pack(">IH", 77, 150))
        self.run_for(1)
        self.assertEqual(self.hal.relay.level, 1)
        self.run_for(200)
        self.assertEqual(self.hal.relay.level, 0)
        kicked = self.frames(F.KICKED)
        self.assertEqual(struct.unpack(">IB", kicked[0][2]), (77, F.KICK_PULSED))

    def test_bad_request_is_noted_not_fatal(self):
        self.hal.rx = hello()
        self.run_for(5)
        self.hal.rx = F.encode(F.CONFIG, 0, b"\x01\x02")
        self.run_for(5)
        notes = self.frames(F.NOTE)
        self.assertTrue(notes and b"CONFIG refused" in notes[0][2])
        self.assertEqual(self.board.errors, 0)

    def test_display_bytes_pass_through(self):
        self.hal.rx = hello()
        self.run_for(5)
        self.hal.rx = F.encode(F.DISPLAY, 0, b"\x1b@hello")
        self.run_for(5)
        self.assertEqual(self.hal.display, b"\x1b@hello")

    def test_maintenance_needs_the_word(self):
        self.hal.rx = F.encode(F.MAINT, 0, b"NOPE")
        self.run_for(2)
        self.assertEqual(self.hal.maint, 0)
        self.hal.rx = F.encode(F.MAINT, 0, F.MAINT_WORD)
        self.run_for(2)
        self.assertEqual(self.hal.maint, 1)


class Alarm(Fixture):
    def test_left_open_alarm_sounds_without_any_terminal(self):
        self.hal.switch.level = 0  # opened by hand; nobody has said HELLO
        self.run_for(31000)
        self.assertIn(2200, self.hal.tones)
        self.hal.switch.level = 1
        self.run_for(100)
        self.assertEqual(self.hal.tones[-1], 0)
