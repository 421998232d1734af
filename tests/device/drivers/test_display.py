"""Pole display over a real pty: byte-exact commands, screen contents, code page, replug."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.display import DisplayConfig, PoleDisplay, fit, to_code_page
from device.drivers.errors import ConfigError
from device.drivers.sim.display_sim import DisplaySim
from tests.device.drivers.input_helpers import Collector


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wait_screen(sim: DisplaySim, want: tuple[str, ...], timeout: float = 30.0) -> tuple[str, ...]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sim.screen() == want:
            return want
        time.sleep(0.01)
    return sim.screen()


@pytest.fixture(params=["cd5220", "dmd"])
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[DisplaySim, PoleDisplay, Collector]]:
    with DisplaySim(command_set=request.param) as sim:
        out = Collector()
        display = PoleDisplay(DisplayConfig(port=sim.path, command_set=request.param), out)
        yield sim, display, out  # type: ignore[misc]
        display.transport.close()


class Recorder:
    """A transport that keeps what was written, for byte-exact checks."""

    where = "recorder"
    bidirectional = False

    def __init__(self) -> None:
        self.data = bytearray()
        self._open = False

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def write(self, data: bytes) -> None:
        self.data += data

    def read(self, n: int, timeout: float) -> bytes:
        return b""

    def discard_input(self) -> None:
        pass


def test_cd5220_bytes_are_exact() -> None:
    """CD5220 standard mode command list: ESC @ = 1B 40 (initialise), CLR = 0C, ESC DC1 =
    1B 11 (overwrite mode), ESC l x y = 1B 6C x y (cursor to column x, row y, 1-based)."""
    rec = Recorder()
    display = PoleDisplay(DisplayConfig(), Collector(), transport=rec)
    display.show_total("12.50")
    expected = (
        bytes.fromhex("1b40 0c 1b11".replace(" ", ""))
        + bytes.fromhex("1b6c0101") + b"TOTAL".ljust(20)
        + bytes.fromhex("1b6c0102") + b"12.50".rjust(20)
    )  # fmt: skip
    assert bytes(rec.data) == expected


def test_epson_dmd_bytes_are_exact() -> None:
    """Epson DM-D (ESC/POS customer display): US MD1 = 1F 01 (overwrite mode), US $ x y =
    1F 24 x y (move cursor), with the shared ESC @ and CLR."""
    rec = Recorder()
    display = PoleDisplay(DisplayConfig(command_set="dmd"), Collector(), transport=rec)
    display.greet()
    expected = (
        bytes.fromhex("1b400c1f01")
        + bytes.fromhex("1f240101") + b"WELCOME".ljust(20)
        + bytes.fromhex("1f240102") + b" " * 20
    )  # fmt: skip
    assert bytes(rec.data) == expected


def test_screens_as_the_customer_sees_them(rig) -> None:
    sim, display, _ = rig
    display.show_line("Coca-Cola 330ml", "2 x 3.50 = 7.00")
    assert wait_screen(sim, ("Coca-Cola 330ml     ", "     2 x 3.50 = 7.00")) == (
        "Coca-Cola 330ml     ",
        "     2 x 3.50 = 7.00",
    )
    display.show_change("100.00", "12.50")
    want = ("PAID          100.00", "CHANGE         12.50")
    assert wait_screen(sim, want) == want
    display.clear()
    assert wait_screen(sim, (" " * 20, " " * 20)) == (" " * 20, " " * 20)
    assert sim.unknown == []


def test_chinese_name_falls_back_to_english_and_yen_sign_shows(rig) -> None:
    sim, display, _ = rig
    display.show_line("可口可乐 330ml", "¥3.50", fallback_name="Coca-Cola 330ml")
    want = ("Coca-Cola 330ml     ", "               ¥3.50")  # ¥ is 0x9D in code page 437
    assert wait_screen(sim, want) == want


def test_long_names_are_cut_not_wrapped(rig) -> None:
    sim, display, _ = rig
    display.greet("Alexandria Ocasio-Smithsonian")
    want = ("WELCOME             ", "Alexandria Ocasio-Sm")
    assert wait_screen(sim, want) == want


def test_gb18030_display_shows_chinese_two_columns_each() -> None:
    with DisplaySim(encoding="gb18030") as sim:
        display = PoleDisplay(DisplayConfig(port=sim.path, encoding="gb18030"), Collector())
        display.greet("张伟")
        assert wait_screen(sim, ("WELCOME             ", "张伟" + " " * 16))[1].startswith("张伟")
        display.transport.close()


def test_unplug_and_replug_then_the_next_screen_appears() -> None:
    clock = Clock()
    with DisplaySim() as sim:
        out = Collector()
        display = PoleDisplay(DisplayConfig(port=sim.path), out, clock=clock)
        display.show_total("1.00")
        out.status("connected")
        sim.unplug()
        display.show_total("2.00")  # lost: the display is not there
        assert out.status("error").state == "error"
        display.show_total("3.00")  # within the backoff: no reopen attempt, no exception
        sim.replug()
        clock.now += 60
        display.show_total("4.00")
        want = ("TOTAL               ", "                4.00")
        assert wait_screen(sim, want) == want
        assert sim.initialised  # re-initialised after power came back
        out.status("connected")
        display.transport.close()


def test_missing_display_is_reported_and_self_test_fails(tmp_path) -> None:
    out = Collector()
    port = str(tmp_path / "ttyUSB2")
    display = PoleDisplay(DisplayConfig(port=port), out)
    result = display.self_test()
    assert result.message == f"display self-test failed: display not found on {port}"


def test_self_test_pattern(rig) -> None:
    sim, display, _ = rig
    assert display.self_test().ok
    want = ("0123456789ABCDEFGHIJ", "       TEST 12345.67")
    assert wait_screen(sim, want) == want


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="command_set"):
        DisplayConfig(command_set="vt100")
    with pytest.raises(ConfigError, match="encoding"):
        DisplayConfig(encoding="klingon")


def test_code_page_reduction() -> None:
    assert to_code_page("Café Ｎｏ.１", "ascii") == b"Cafe No.1"  # accents and full-width
    assert to_code_page("牛奶", "cp437") == b"??"
    assert to_code_page("牛奶", "cp437", fallback="Milk") == b"Milk"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["cp437", "ascii", "gb18030"]))
def test_any_text_fits_exactly(text: str, encoding: str) -> None:
    data = fit(to_code_page(text, encoding), 20, "left", encoding)
    assert len(data) == 20
    data.decode(encoding)  # never a split multibyte character


def test_gb18030_display_gets_only_two_byte_codes() -> None:
    """GB18030 gives '¥' (U+00A5) and 'Ä' four-byte codes (81 30 84 36, 81 30 87 32) that a
    display's GB2312 font lacks; the full-width yen '￥' is A3 A4 and 'Ä' reduces to 'A'."""
    assert to_code_page("¥12.50", "gb18030") == bytes.fromhex("a3a4") + b"12.50"
    assert to_code_page("Äpfel", "gb18030") == b"Apfel"
    with DisplaySim(encoding="gb18030") as sim:
        display = PoleDisplay(DisplayConfig(port=sim.path, encoding="gb18030"), Collector())
        display.show_line("Äpfel 苹果", "¥12.50")
        want = ("Apfel 苹果" + " " * 10, " " * 13 + "￥12.50")
        assert wait_screen(sim, want) == want
        display.transport.close()
