"""The reliable channel under MicroPython: two ends over a lossy wire, exactly-once delivery."""

import random
import unittest

import channel as C
import frames as F


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


class Wire:
    """Frames written by one end, delivered to the other after the test decides their fate."""

    def __init__(self):
        self.queue = []

    def write(self, data):
        self.queue.append(bytes(data))


class Pair:
    def __init__(self, seed=1, drop=0.0, dup=0.0, corrupt=0.0):
        self.clock = Clock()
        self.ab, self.ba = Wire(), Wire()
        self.a = C.Channel(self.ab.write, self.clock)
        self.b = C.Channel(self.ba.write, self.clock)
        random.seed(seed)
        self.drop, self.dup, self.corrupt = drop, dup, corrupt
        self.got_a, self.got_b = [], []
        self.a.start(rx_expect=0)
        self.b.start(rx_expect=0)

    def _fate(self, data):
        if random.random() < self.drop:
            return []
        if random.random() < self.corrupt:
            b = bytearray(data)
            b[random.getrandbits(8) % len(b)] ^= 1 << (random.getrandbits(3))
            data = bytes(b)
        out = [data]
        if random.random() < self.dup:
            out.append(data)
        return out

    def run(self, ms, step=5):
        for _ in range(ms // step):
            self.clock.t += step
            for wire, end, got in ((self.ab, self.b, self.got_b), (self.ba, self.a, self.got_a)):
                frames, wire.queue = wire.queue, []
                for data in frames:
                    for piece in self._fate(data):
                        got += [p for t, s, p in end.feed(piece) if t == F.KEY]
            self.a.step()
            self.b.step()


class Delivery(unittest.TestCase):
    def test_clean_wire_in_order(self):
        p = Pair()
        for i in range(20):
            p.a.send(F.KEY, bytes((i, 0)))
        p.run(500)
        self.assertEqual(p.got_b, [bytes((i, 0)) for i in range(20)])
        self.assertEqual(p.a.stats["retransmits"], 0)

    def test_lossy_wire_exactly_once(self):
        p = Pair(seed=7, drop=0.2, dup=0.2, corrupt=0.2)
        for i in range(60):
            p.a.send(F.KEY, bytes((i, 0)))
            p.b.send(F.KEY, bytes((i, 1)))
            p.run(20)
        p.run(20000)  # simulated time: resend timers back off to 800 ms under this much loss
        self.assertEqual(p.got_b, [bytes((i, 0)) for i in range(60)])
        self.assertEqual(p.got_a, [bytes((i, 1)) for i in range(60)])
        faults = p.a.stats["retransmits"] + p.b.stats["retransmits"]
        self.assertTrue(faults > 0)
        self.assertTrue(p.a.decoder.crc_errors + p.b.decoder.crc_errors > 0)
        self.assertTrue(p.a.stats["duplicates"] + p.b.stats["duplicates"] > 0)

    def test_window_and_overflow(self):
        p = Pair()
        p.a.queue_max = 10
        sent = [p.a.send(F.KEY, bytes((i, 0))) for i in range(12)]
        self.assertEqual(sent.count(False), 2)
        self.assertEqual(p.a.stats["queue_overflows"], 2)
        self.assertEqual(len(p.a.unacked), p.a.window)
        p.run(200)
        self.assertEqual(len(p.got_b), 10)

    def test_gap_is_naked_and_resent_at_once(self):
        p = Pair()
        p.a.send(F.KEY, b"\x00\x00")
        p.ab.queue = []  # the first frame is lost
        p.a.send(F.KEY, b"\x01\x00")
        p.run(10)
        self.assertEqual(p.b.stats["naks_sent"], 1)
        self.assertEqual(p.got_b, [b"\x00\x00", b"\x01\x00"])

    def test_silence_closes_the_session(self):
        p = Pair()
        p.ba.write = lambda data: None
        p.b._write = p.ba.write
        for _ in range(400):
            p.clock.t += 5
            p.a.step()
        self.assertFalse(p.a.open)

    def test_heartbeat_when_idle(self):
        p = Pair()
        p.run(300)
        self.assertTrue(p.a.open and p.b.open)


class Sessions(unittest.TestCase):
    def test_frames_behind_an_announce_wait_for_its_session(self):
        # A board that restarted answers HELLO and sends its first event at once; the terminal
        # reads both in one go while it still counts the old board's numbering (it expects 5).
        clock = Clock()
        wire = Wire()
        host = C.Channel(Wire().write, clock)
        host.start(rx_expect=5)
        board = C.Channel(wire.write, clock)
        board.control(F.ANNOUNCE, b"new boot", seq=board.tx_base)
        board.start(rx_expect=0)
        board.send(F.DRAWER, b"\x00")
        board.send(F.KICKED, b"\x00\x00\x00\x07\x01")
        first = host.feed(b"".join(wire.queue))
        self.assertEqual([t for t, s, p in first], [F.ANNOUNCE])
        host.start(rx_expect=0)  # the owner takes the new board's numbering
        rest = host.step()
        self.assertEqual([(t, p) for t, s, p in rest],
                         [(F.DRAWER, b"\x00"), (F.KICKED, b"\x00\x00\x00\x07\x01")])
        self.assertEqual(host.rx_expect, 2)
        self.assertEqual(host.stats["duplicates"] + host.stats["out_of_order"], 0)

    def test_two_hellos_in_one_read_are_handed_over_one_at_a_time(self):
        clock = Clock()
        wire = Wire()
        terminal = C.Channel(wire.write, clock)
        terminal.control(F.HELLO, b"one", seq=0)
        terminal.control(F.HELLO, b"two", seq=0)
        board = C.Channel(Wire().write, clock)
        self.assertEqual([p for t, s, p in board.feed(b"".join(wire.queue))], [b"one"])
        self.assertEqual([p for t, s, p in board.step()], [b"two"])
        self.assertEqual(board.step(), [])
