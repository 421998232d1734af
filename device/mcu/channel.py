"""Reliable, ordered, exactly-once frames over the I/O-board link; the same code runs at both ends.

Go-back-N with cumulative acknowledgements, as in Klipper's host/MCU block protocol:
- every data frame carries an 8-bit sequence number; the receiver delivers only the one it
  expects next and answers with ACK(next expected), so an ACK also repeats lost ACKs;
- a frame out of order, or a CRC failure, is answered with NAK(next expected), and the sender
  resends from there at once instead of waiting for its timer;
- a frame seen before (its ACK was lost) is counted and dropped, never delivered twice;
- unacknowledged frames are resent after a timeout that doubles up to a cap;
- at most `window` frames are in flight; more wait in a bounded queue (overflow is counted);
- an idle side sends HEARTBEAT(next expected) so the other knows it is there, and a side that
  hears nothing good for `dead_ms` closes the session (its owner then reopens one).

Opening a session (HELLO / ANNOUNCE) is the owner's business: it tells `start()` where the
peer's numbering stands. Data frames that arrive behind a HELLO or ANNOUNCE belong to the
session it opens, so they are held back until the owner has handled it: `feed` and `step`
return at most one session frame, last, and the next call goes on from there.
Numbers are MicroPython ticks in milliseconds, wrap-safe.
"""

try:
    from . import frames as F
except ImportError:  # on the board the modules sit side by side, not in a package
    import frames as F


class Channel:
    """One end of the link: `send` data, `feed` received bytes, call `step` often."""

    def __init__(self, write, clock, window=8, rto_ms=100, rto_max_ms=800, heartbeat_ms=250,
                 dead_ms=1500, queue_max=64, nak_gap_ms=20):
        self._write = write
        self._clock = clock
        self.window = window
        self.rto_min = rto_ms
        self.rto_max = rto_max_ms
        self.heartbeat_ms = heartbeat_ms
        self.dead_ms = dead_ms
        self.queue_max = queue_max
        self.nak_gap_ms = nak_gap_ms
        self.decoder = F.Decoder()
        self.tx_base = 0
        self.tx_next = 0
        self.unacked = []  # [seq, type, payload], oldest first
        self.pending = []  # [type, payload] waiting for room in the window
        self.rx_expect = 0
        self.open = False
        self.held = []  # decoded frames behind a session frame the owner has not handled yet
        now = clock()
        self.last_rx = now
        self.last_tx = now
        self._base_sent = now
        self._last_nak = now - 10 * nak_gap_ms
        self._last_go_back = now - 10 * nak_gap_ms
        self.rto = rto_ms
        self.stats = {}
        for name in F.STAT_NAMES:
            self.stats[name] = 0

    # -- sending --------------------------------------------------------------------------

    def send(self, ftype, payload=b""):
        """Queue a data frame; False (and counted) when the queue is full."""
        if len(self.pending) + len(self.unacked) >= self.queue_max:
            self.stats["queue_overflows"] += 1
            return False
        self.pending.append((ftype, bytes(payload)))
        if self.open:
            self._fill()
        return True

    def backlog(self):
        """Frames not yet acknowledged, sent or waiting."""
        return len(self.unacked) + len(self.pending)

    def control(self, ftype, payload=b"", seq=None):
        """Send an unsequenced frame (SEQ = next expected unless given)."""
        self._put(F.encode(ftype, self.rx_expect if seq is None else seq, payload))

    def _put(self, data):
        self.last_tx = self._clock()
        self._write(data)

    def _fill(self):
        while self.pending and len(self.unacked) < self.window:
            ftype, payload = self.pending.pop(0)
            seq = self.tx_next
            self.tx_next = (seq + 1) % F.SEQ_MOD
            if not self.unacked:
                self._base_sent = self._clock()
            self.unacked.append((seq, ftype, payload))
            self._put(F.encode(ftype, seq, payload))

    def _go_back(self):
        now = self._clock()
        self._base_sent = now
        self._last_go_back = now
        for seq, ftype, payload in self.unacked:
            self.stats["retransmits"] += 1
            self._put(F.encode(ftype, seq, payload))

    def acknowledge(self, ack):
        """The peer says it expects `ack` next (from a HELLO); False if that is not ours."""
        return self._acked(ack)

    def _acked(self, ack):
        """The peer expects `ack` next: everything before it has arrived."""
        done = F.seq_diff(ack, self.tx_base)
        if done <= 0 or done > len(self.unacked):
            return False  # stale, or not a number we sent
        del self.unacked[:done]
        self.tx_base = ack
        self.rto = self.rto_min
        self._base_sent = self._clock()
        self._fill()
        return True

    # -- receiving ------------------------------------------------------------------------

    def feed(self, data):
        """Bytes from the wire -> [(type, seq, payload)]: data frames in order and exactly
        once, plus HELLO, ANNOUNCE and MAINT for the owner."""
        crc_before = self.decoder.crc_errors + self.decoder.bad_frames
        frames = self._take_held() + self.decoder.feed(data, self._clock())
        return self._handle(frames, crc_before)

    def _take_held(self):
        held = self.held
        self.held = []
        return held

    def _handle(self, frames, damaged_before):
        out = []
        need_ack = need_nak = False
        for i in range(len(frames)):
            ftype, seq, payload = frames[i]
            self.last_rx = self._clock()
            if ftype == F.ACK or ftype == F.HEARTBEAT:
                if self.open:
                    self._acked(seq)
            elif ftype == F.NAK:
                self.stats["naks_received"] += 1
                if self.open:
                    self._acked(seq)
                    gap = F.ticks_diff(self._clock(), self._last_go_back)
                    if self.unacked and self.unacked[0][0] == seq and gap >= self.nak_gap_ms:
                        self._go_back()
            elif ftype == F.HELLO or ftype == F.ANNOUNCE or ftype == F.MAINT:
                out.append((ftype, seq, payload))
                # What follows is numbered for the session this frame opens: wait for it.
                self.held = frames[i + 1:]
                break
            elif self.open:
                ahead = F.seq_diff(seq, self.rx_expect)
                if ahead == 0:
                    self.rx_expect = (seq + 1) % F.SEQ_MOD
                    out.append((ftype, seq, payload))
                    need_ack = True
                elif ahead < 0:
                    self.stats["duplicates"] += 1
                    need_ack = True
                else:
                    self.stats["out_of_order"] += 1
                    need_nak = True
        damaged = self.decoder.crc_errors + self.decoder.bad_frames - damaged_before
        if damaged > 0:
            self.stats["crc_errors"] = self.decoder.crc_errors
            self.stats["bad_frames"] = self.decoder.bad_frames
            need_nak = need_nak or self.open
        if need_nak:
            now = self._clock()
            if F.ticks_diff(now, self._last_nak) >= self.nak_gap_ms:
                self._last_nak = now
                self.stats["naks_sent"] += 1
                self.control(F.NAK)
                need_ack = False
        if need_ack:
            self.control(F.ACK)
        return out

    # -- time -----------------------------------------------------------------------------

    def step(self):
        """Timers: give up stalled half frames, resend on timeout, heartbeat, notice silence.

        Returns, like `feed`, frames held behind a session frame and frames completed by
        giving up a stalled one (rare)."""
        now = self._clock()
        before = self.decoder.crc_errors + self.decoder.bad_frames
        out = self._handle(self._take_held() + self.decoder.expire(now), before)
        if not self.open:
            return out
        if F.ticks_diff(now, self.last_rx) >= self.dead_ms:
            self.open = False
            return out
        if self.unacked and F.ticks_diff(now, self._base_sent) >= self.rto:
            self._go_back()
            self.rto = min(self.rto * 2, self.rto_max)
        if F.ticks_diff(now, self.last_tx) >= self.heartbeat_ms:
            self.control(F.HEARTBEAT)
        return out

    def heard_within(self, ms):
        """True if a good frame arrived in the last `ms` milliseconds."""
        return F.ticks_diff(self._clock(), self.last_rx) < ms

    # -- sessions -------------------------------------------------------------------------

    def start(self, rx_expect=None, ack=None):
        """Open a session: optionally take the peer's numbering and what it has already
        received, then resend everything still unacknowledged."""
        if rx_expect is not None:
            self.rx_expect = rx_expect % F.SEQ_MOD
        if ack is not None:
            self._acked(ack)
        self.open = True
        self.stats["sessions"] += 1
        self.last_rx = self._clock()
        self.rto = self.rto_min
        if self.unacked:
            self._go_back()
        self._fill()

    def close(self):
        """Stop data flowing (frames stay queued for the next session)."""
        self.open = False

    def drop_queued(self):
        """Forget every unacknowledged and waiting frame (the peer that wanted them is gone)."""
        lost = len(self.unacked) + len(self.pending)
        self.unacked = []
        self.pending = []
        self.tx_base = self.tx_next
        return lost
