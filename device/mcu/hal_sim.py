"""The board's hardware layer under the simulator: every pin, tone and byte goes to the Node host.

Not flashed to a board. The Node host (device/drivers/sim/ioboard_host.mjs) registers the `simhw`
JavaScript module, models the key matrix, the drawer and the link, and calls `Board.run_once`.
Bytes cross the JavaScript boundary as hex text, which both sides convert cheaply.
"""

import binascii

import pins
import simhw


class SimPin:
    """A GPIO pin whose level the host models (value() reads, value(v) drives)."""

    def __init__(self, number):
        self.number = number

    def value(self, v=None):
        if v is None:
            return simhw.pin_read(self.number)
        simhw.pin_write(self.number, 1 if v else 0)
        return None


class Hal:
    """Same surface as hal_rp2.Hal."""

    def __init__(self):
        self.relay = SimPin(pins.RELAY_PIN)
        self.relay.value(0)
        self.switch = SimPin(pins.SWITCH_PIN)
        self.rows = [SimPin(p) for p in pins.ROW_PINS]
        self.cols = [SimPin(p) for p in pins.COL_PINS]
        simhw.wdt_start(pins.WATCHDOG_MS)

    def ticks_ms(self):
        return simhw.ticks_ms()

    def link_read(self):
        data = simhw.link_read()
        return binascii.unhexlify(data) if data else None

    def link_write(self, data):
        simhw.link_write(binascii.hexlify(data).decode())

    def boot_id(self):
        return simhw.boot_id()

    def reset_cause(self):
        return simhw.reset_cause()

    def tone(self, freq):
        simhw.tone(freq)

    def display_write(self, data):
        simhw.display_write(binascii.hexlify(data).decode())

    def feed_watchdog(self):
        simhw.wdt_feed()

    def maintenance(self):
        simhw.maintenance()
