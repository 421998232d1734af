"""Frame codec and CRC under MicroPython: check values worked out by hand, resync after junk."""

import unittest

import frames as F


class Crc(unittest.TestCase):
    def test_check_value_of_the_standard(self):
        # CRC-16/CCITT-FALSE's published check value for the ASCII digits 1..9.
        self.assertEqual(F.crc16(b"123456789"), 0x29B1)

    def test_empty_is_the_initial_value(self):
        self.assertEqual(F.crc16(b""), 0xFFFF)


class Encode(unittest.TestCase):
    def test_layout_of_a_frame_by_hand(self):
        frame = F.encode(F.KEY, 7, b"\x05\x00")
        crc = F.crc16(bytes([2, 7, F.KEY, 5, 0]))
        self.assertEqual(frame, bytes([0x7E, 2, 7, F.KEY, 5, 0, crc >> 8, crc & 0xFF]))

    def test_payload_over_the_limit_is_refused(self):
        with self.assertRaises(ValueError):
            F.encode(F.DISPLAY, 0, bytes(F.MAX_PAYLOAD + 1))


class Decode(unittest.TestCase):
    def test_round_trip_byte_by_byte(self):
        d = F.Decoder()
        wire = F.encode(F.KEY, 1, b"\x01\x00") + F.encode(F.DRAWER, 2, b"\x01")
        got = []
        for i in range(len(wire)):
            got += d.feed(wire[i : i + 1])
        self.assertEqual(got, [(F.KEY, 1, b"\x01\x00"), (F.DRAWER, 2, b"\x01")])

    def test_junk_before_and_sync_inside_payload(self):
        d = F.Decoder()
        frame = F.encode(F.DISPLAY, 3, b"\x7e\x7e\x01")
        got = d.feed(b"\x00\x7e\x05garbage" + frame)
        self.assertEqual(got, [(F.DISPLAY, 3, b"\x7e\x7e\x01")])

    def test_corrupt_frame_is_counted_and_the_next_one_survives(self):
        d = F.Decoder()
        bad = bytearray(F.encode(F.KEY, 1, b"\x01\x00"))
        bad[4] ^= 0x10
        got = d.feed(bytes(bad) + F.encode(F.KEY, 2, b"\x02\x00"))
        self.assertEqual(got, [(F.KEY, 2, b"\x02\x00")])
        self.assertEqual(d.crc_errors, 1)

    def test_impossible_length_is_skipped(self):
        d = F.Decoder()
        got = d.feed(bytes([0x7E, F.MAX_PAYLOAD + 1]) + F.encode(F.ACK, 9))
        self.assertEqual(got, [(F.ACK, 9, b"")])
        self.assertEqual(d.bad_frames, 1)

    def test_half_frame_that_stops_is_given_up(self):
        # A corrupted length byte claims 90 bytes; the real frame behind it must not wait
        # for 90 more bytes to arrive.
        d = F.Decoder(stale_ms=40)
        self.assertEqual(d.feed(bytes([0x7E, 90, 1]) + F.encode(F.ACK, 4), now=1000), [])
        self.assertEqual(d.expire(1020), [])
        self.assertEqual(d.expire(1041), [(F.ACK, 4, b"")])
        self.assertEqual(d.bad_frames, 1)


class Payloads(unittest.TestCase):
    def test_config_round_trip(self):
        cfg = {"debounce_ms": 20, "repeat_delay_ms": 500, "repeat_ms": 100, "stuck_s": 20,
               "alarm_after_s": 30, "pulse_ms": 200, "switch_ms": 30,
               "layout": [[1, 2], [3, F.NO_KEY]], "repeat": [26, 27]}
        self.assertEqual(F.unpack_config(F.pack_config(cfg)), cfg)

    def test_truncated_config_is_refused(self):
        cfg = {"debounce_ms": 20, "repeat_delay_ms": 500, "repeat_ms": 100, "stuck_s": 20,
               "alarm_after_s": 30, "pulse_ms": 200, "switch_ms": 30,
               "layout": [[1, 2], [3, 4]], "repeat": []}
        with self.assertRaises(ValueError):
            F.unpack_config(F.pack_config(cfg)[:-2])

    def test_ticks_diff_across_the_wrap(self):
        self.assertEqual(F.ticks_diff(5, F.TICKS_PERIOD - 5), 10)
        self.assertEqual(F.seq_diff(2, 250), 8)
        self.assertEqual(F.seq_diff(250, 2), -8)
