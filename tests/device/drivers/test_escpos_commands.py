"""Byte-exact fixtures for the control commands the printer driver sends itself.

Expected bytes are written out by hand from the Epson ESC/POS Command Reference (TM series).
"""

from __future__ import annotations

import pytest

from device.drivers import escpos_commands as cmd
from device.drivers.errors import ConfigError, DriverError


def test_dle_eot_status_requests() -> None:
    """Epson ESC/POS Command Reference: DLE EOT n (10 04 n) — transmit real-time status,
    n=1 printer, 2 offline cause, 3 error cause, 4 roll paper sensor."""
    assert cmd.status_request(1) == bytes.fromhex("100401")
    assert cmd.status_request(2) == bytes.fromhex("100402")
    assert cmd.status_request(3) == bytes.fromhex("100403")
    assert cmd.status_request(4) == bytes.fromhex("100404")
    with pytest.raises(ConfigError):
        cmd.status_request(5)


def test_drawer_kick_pin_and_pulse() -> None:
    """Epson ESC/POS Command Reference: ESC p m t1 t2 (1B 70 m t1 t2) — generate pulse;
    m=0 drawer kick-out connector pin 2, m=1 pin 5; on time t1 x 2 ms, off time t2 x 2 ms."""
    assert cmd.drawer_kick(2, 100, 200) == bytes.fromhex("1b70003264")
    assert cmd.drawer_kick(5, 2, 510) == bytes.fromhex("1b700101ff")
    for bad in ((3, 100, 100), (2, 0, 100), (2, 100, 600)):
        with pytest.raises(DriverError):
            cmd.drawer_kick(*bad)


def test_cut_modes() -> None:
    """Epson ESC/POS Command Reference: GS V m — select cut mode and cut paper;
    function A m=0 full / m=1 partial, function B m=65/66 feeds n dots first."""
    assert cmd.cut() == bytes.fromhex("1d5600")
    assert cmd.cut(partial=True) == bytes.fromhex("1d5601")
    assert cmd.cut(feed_dots=3) == bytes.fromhex("1d564103")
    assert cmd.cut(partial=True, feed_dots=0) == bytes.fromhex("1d564200")


def test_process_id_and_its_response() -> None:
    """Epson ESC/POS Command Reference: GS ( H <Function 48> (1D 28 48 06 00 30 30 d1..d4)
    — specify the process ID response, sent as 37H 22H d1..d4 NUL once the data before it
    has printed."""
    assert cmd.process_id("0001") == bytes.fromhex("1d284806003030" + "30303031")
    assert cmd.process_id_response("0001") == bytes.fromhex("3722" + "30303031" + "00")
    with pytest.raises(ConfigError):
        cmd.process_id("12345")
    with pytest.raises(ConfigError):
        cmd.process_id("中文ab")


def test_buffer_clear_init_and_chinese_mode() -> None:
    """Epson ESC/POS Command Reference: DLE DC4 fn=8 d1..d7 = 1 3 20 1 6 2 8 — clear buffers
    (answer 37H 25H NUL); ESC @ — initialize printer; FS & / FS . — select / cancel Kanji
    (Chinese) character mode."""
    assert bytes.fromhex("10140801031401060208") == cmd.BUFFER_CLEAR
    assert bytes.fromhex("372500") == cmd.BUFFER_CLEAR_RESPONSE
    assert bytes.fromhex("1b40") == cmd.INIT
    assert bytes.fromhex("1c26") == cmd.CHINESE_ON
    assert bytes.fromhex("1c2e") == cmd.CHINESE_OFF


def test_realtime_drawer_pulse() -> None:
    """Epson ESC/POS Command Reference: DLE DC4 n m t (10 14 01 m t) — generate pulse in
    real-time; n=1, m=0 pin 2 / m=1 pin 5, 1 <= t <= 8, on and off time t x 100 ms."""
    assert cmd.realtime_pulse(2, 100) == bytes.fromhex("1014010001")
    assert cmd.realtime_pulse(5, 250) == bytes.fromhex("1014010102")
    assert cmd.realtime_pulse(2, 2) == bytes.fromhex("1014010001")  # at least 100 ms
    assert cmd.realtime_pulse(5, 5000) == bytes.fromhex("1014010108")  # at most 800 ms
    with pytest.raises(ConfigError):
        cmd.realtime_pulse(3, 100)
