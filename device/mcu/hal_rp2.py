"""The board's hardware layer on an RP2040 running MicroPython: pins, PWM, UARTs, watchdog."""

import os
import sys

import machine
import micropython
import select
import time

import pins

MAINT_FLAG = "/maint"


class Hal:
    """What `board.Board` needs from the hardware, on real pins."""

    def __init__(self):
        # Relay first and low: at reset the pin floated (the driver board's pull-down held
        # the solenoid off); from here on it is driven off until a kick.
        self.relay = machine.Pin(pins.RELAY_PIN, machine.Pin.OUT, value=0)
        self.switch = machine.Pin(pins.SWITCH_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self.rows = [machine.Pin(p, machine.Pin.OPEN_DRAIN, value=1) for p in pins.ROW_PINS]
        self.cols = [machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in pins.COL_PINS]
        self._pwm = machine.PWM(machine.Pin(pins.BUZZER_PIN))
        self._pwm.duty_u16(0)
        self._display = machine.UART(
            pins.DISPLAY_UART, pins.DISPLAY_BAUD,
            tx=machine.Pin(pins.DISPLAY_TX), rx=machine.Pin(pins.DISPLAY_RX),
        )
        self._buf = bytearray(128)
        if pins.LINK == "uart":
            self._uart = machine.UART(
                pins.LINK_UART, pins.LINK_BAUD, tx=machine.Pin(pins.LINK_TX),
                rx=machine.Pin(pins.LINK_RX), rxbuf=1024,
            )
            self.link_read = self._uart_read
            self.link_write = self._uart.write
        else:
            # Frames carry any byte; 0x03 must not raise KeyboardInterrupt on the USB REPL.
            micropython.kbd_intr(-1)
            self._in = sys.stdin.buffer
            self._out = sys.stdout.buffer
            self._poll = select.poll()
            self._poll.register(sys.stdin, select.POLLIN)
            self.link_read = self._usb_read
            self.link_write = self._out.write
        self._wdt = machine.WDT(timeout=pins.WATCHDOG_MS)

    ticks_ms = staticmethod(time.ticks_ms)

    def _uart_read(self):
        n = self._uart.readinto(self._buf)
        return bytes(self._buf[:n]) if n else None

    def _usb_read(self):
        out = bytearray()
        while len(out) < 128 and self._poll.poll(0):
            out += self._in.read(1)
        return bytes(out) if out else None

    def boot_id(self):
        return int.from_bytes(os.urandom(4), "big")

    def reset_cause(self):
        cause = machine.reset_cause()
        if cause == machine.PWRON_RESET:
            return 0
        if cause == machine.WDT_RESET:
            return 1
        return 2 if cause == getattr(machine, "SOFT_RESET", -1) else 3

    def tone(self, freq):
        if freq:
            self._pwm.freq(freq)
            self._pwm.duty_u16(32768)
        else:
            self._pwm.duty_u16(0)

    def display_write(self, data):
        self._display.write(data)

    def feed_watchdog(self):
        self._wdt.feed()

    def maintenance(self):
        """Restart without the firmware (and so without the watchdog) for one boot."""
        with open(MAINT_FLAG, "w") as f:
            f.write("1")
        machine.reset()
