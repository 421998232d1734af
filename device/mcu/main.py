"""Boot entry of the I/O board: start the firmware unless a maintenance boot was asked for."""

import os
import time

import hal_rp2


def _maintenance_boot():
    # One boot without firmware and watchdog, so the REPL is free for flashing.
    try:
        os.remove(hal_rp2.MAINT_FLAG)
    except OSError:
        return False
    import machine

    machine.Pin(hal_rp2.pins.RELAY_PIN, machine.Pin.OUT, value=0)
    return True


def main():
    if _maintenance_boot():
        print("I/O board: maintenance boot, firmware not started")
        return
    from board import Board

    board = Board(hal_rp2.Hal())
    while True:
        board.run_once()
        time.sleep_ms(1)


main()
