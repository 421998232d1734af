"""The I/O board's firmware: keypad, drawer, buzzer and pole display behind one link to the Pi.

`Board(hal)` takes a hardware layer (hal_rp2 on the board, hal_sim under the simulator) and
`run_once()` is one pass of the main loop. Everything the shop relies on while the Pi is away
happens here: keys are scanned and queued, the drawer relay is timed and limited, the left-open
alarm sounds. Events reach the Pi over the reliable channel once it opens a session (HELLO);
until then the board announces itself every second.
"""

import struct

try:
    from . import buzzer as B
    from . import channel as C
    from . import drawer as D
    from . import frames as F
    from . import keys as K
except ImportError:  # on the board the modules sit side by side, not in a package
    import buzzer as B
    import channel as C
    import drawer as D
    import frames as F
    import keys as K

SCAN_MS = 5
ANNOUNCE_MS = 1000
EVENT_QUEUE = 48


class Board:
    """The firmware's state; `hal` supplies pins, the link, the display port and the clock."""

    def __init__(self, hal):
        self.hal = hal
        now = hal.ticks_ms()
        # The relay first: nothing below may leave the solenoid powered after a reset.
        self.drawer = D.Drawer(hal.relay, hal.switch, now)
        self.boot = hal.boot_id() & 0xFFFFFFFF
        self.cause = hal.reset_cause()
        self.chan = C.Channel(hal.link_write, hal.ticks_ms, queue_max=EVENT_QUEUE)
        self.matrix = K.Matrix(hal.rows, hal.cols)
        self.keys = K.KeyLogic()
        self.buzzer = B.Buzzer(hal.tone)
        self.session = None
        self.mismatches = 0
        self.errors = 0
        self.last_error = ""
        self._last_scan = now
        self._last_announce = now - ANNOUNCE_MS
        self._handlers = {
            F.CONFIG: self._on_config,
            F.KICK: self._on_kick,
            F.BEEP: self._on_beep,
            F.DISPLAY: self._on_display,
            F.QUERY: self._on_query,
        }

    # -- main loop ------------------------------------------------------------------------

    def run_once(self):
        """One main-loop pass; the watchdog is fed only when the pass went through."""
        try:
            self.tick()
        except Exception as exc:  # noqa: BLE001 - a fault that repeats lets the watchdog reset
            self.errors += 1
            self.last_error = repr(exc)
            return False
        self.hal.feed_watchdog()
        return True

    def tick(self):
        """Link in, keypad, drawer, buzzer, link timers."""
        hal = self.hal
        data = hal.link_read()
        if data:
            self._frames(self.chan.feed(data))
        self._frames(self.chan.step())
        now = hal.ticks_ms()
        if F.ticks_diff(now, self._last_scan) >= SCAN_MS:
            self._last_scan = now
            k = self.keys
            raw = self.matrix.scan(k.rows, k.cols, k.scan_buf)
            for kind, code, n in k.step(now, raw):
                if kind == K.KEY:
                    self.chan.send(F.KEY, bytes((code, n)))
                else:
                    self.chan.send(F.STUCK, bytes((code, 1 if kind == K.STUCK else 0)))
        self._drawer_events(self.drawer.step(now))
        self.buzzer.step(now, self.drawer.alarming)
        if not self.chan.open and F.ticks_diff(now, self._last_announce) >= ANNOUNCE_MS:
            self._last_announce = now
            self._announce(0)

    def stop(self):
        """Leave the board safe: relay and buzzer off."""
        self.drawer.off()
        self.hal.tone(0)

    # -- link -----------------------------------------------------------------------------

    def _announce(self, flags):
        payload = F.pack_announce(self.boot, self.cause, flags)
        self.chan.control(F.ANNOUNCE, payload, seq=self.chan.tx_base)

    def _frames(self, frames):
        for ftype, seq, payload in frames:
            if ftype == F.HELLO:
                self._on_hello(seq, payload)
                continue
            if ftype == F.MAINT:
                if payload == F.MAINT_WORD:
                    self.stop()
                    self.hal.maintenance()
                continue
            handler = self._handlers.get(ftype)
            if handler is None:
                self._note("unknown frame type 0x%02x" % ftype)
                continue
            try:
                handler(payload)
            except Exception as exc:  # noqa: BLE001 - a bad request must not stop the board
                self._note("%s refused: %r" % (F.TYPE_NAMES.get(ftype, "frame"), exc))

    def _on_hello(self, seq, payload):
        try:
            version, session, ack, boot, ack_valid = F.unpack_hello(payload)
        except ValueError:
            return
        if version != F.PROTOCOL_VERSION:
            # Refuse the session and say why; the board keeps guarding the drawer alone.
            self.mismatches += 1
            self.chan.close()
            self._announce(F.ANN_REPLY | F.ANN_MISMATCH)
            return
        if ack_valid and boot == self.boot:
            self.chan.acknowledge(ack)
        same = session == self.session
        self.session = session
        self._announce(F.ANN_REPLY)
        self.chan.start(rx_expect=None if same else seq)
        # The terminal learns the drawer's state at every session, not only its changes.
        self.chan.send(F.DRAWER, bytes((1 if self.drawer.is_open else 0,)))

    def _note(self, text):
        self.chan.send(F.NOTE, text.encode()[: F.MAX_PAYLOAD])

    # -- requests from the terminal --------------------------------------------------------

    def _on_config(self, payload):
        cfg = F.unpack_config(payload)
        rows, cols = len(cfg["layout"]), len(cfg["layout"][0])
        if rows > len(self.hal.rows) or cols > len(self.hal.cols):
            raise ValueError("layout %dx%d is larger than the board's %dx%d matrix pins"
                             % (rows, cols, len(self.hal.rows), len(self.hal.cols)))
        self.keys.configure(cfg["layout"], cfg["debounce_ms"], cfg["repeat_delay_ms"],
                            cfg["repeat_ms"], cfg["repeat"], cfg["stuck_s"] * 1000)
        self.drawer.configure(cfg["pulse_ms"], cfg["alarm_after_s"], cfg["switch_ms"])

    def _on_kick(self, payload):
        kick_id, pulse_ms = struct.unpack(">IH", payload)
        self._drawer_events(self.drawer.kick(kick_id, pulse_ms, self.hal.ticks_ms()))

    def _on_beep(self, payload):
        if not self.buzzer.play(payload[0], self.hal.ticks_ms()):
            raise ValueError("no beep pattern %d" % payload[0])

    def _on_display(self, payload):
        self.hal.display_write(payload)

    def _on_query(self, payload):
        stats = self.chan.stats
        stats["crc_errors"] = self.chan.decoder.crc_errors
        stats["bad_frames"] = self.chan.decoder.bad_frames
        stats["stuck_keys"] = self.keys.stuck_count
        stats["kicks"] = self.drawer.kicks
        stats["kicks_refused"] = self.drawer.refused
        stats["loop_errors"] = self.errors
        stats["mismatches"] = self.mismatches
        self.chan.send(F.STATS, F.pack_stats([stats[n] for n in F.STAT_NAMES]))

    def _drawer_events(self, events):
        for event in events:
            kind = event[0]
            if kind == D.OPENED:
                self.chan.send(F.DRAWER, bytes((event[1],)))
            elif kind == D.ALARM:
                self.chan.send(F.ALARM, struct.pack(">H", min(event[1], 0xFFFF)))
            elif kind == D.KICKED:
                self.chan.send(F.KICKED, struct.pack(">IB", event[1], event[2]))
