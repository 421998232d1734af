"""DLE EOT status-byte parsing, against hand-derived answer bytes and garbage.

Bit meanings: Epson ESC/POS Command Reference, DLE EOT n (transmit real-time status).
n=1: bit 2 drawer kick-out connector pin 3 HIGH, bit 3 offline. n=2: bit 2 cover open,
bit 5 printing stopped by paper end, bit 6 error. n=3: bit 3 autocutter error, bit 5
unrecoverable, bit 6 auto-recoverable. n=4: bits 2-3 roll near end, bits 5-6 roll end.
Bits 1 and 4 are fixed on and bits 0 and 7 fixed off in every answer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import DriverError, ProtocolViolation
from device.drivers.escpos_status import parse_status

IDLE = 0x12  # 0001 0010: only the fixed bits


def test_idle_printer_is_ready() -> None:
    """All four answers 12H: online, cover closed, paper present."""
    state = parse_status(IDLE, IDLE, IDLE, IDLE)
    assert state.ready
    assert state.problem() == ""
    assert not state.drawer_pin3_high


def test_paper_out() -> None:
    """Paper end: n=1 1AH (offline), n=2 32H (stopped by paper end), n=4 7EH (near end + end)."""
    state = parse_status(0x1A, 0x32, IDLE, 0x7E)
    assert state.paper_out and state.paper_near_end and not state.online
    assert not state.ready
    assert state.problem() == "printer out of paper"


@pytest.mark.parametrize("paper", [0x32, 0x52])
def test_either_paper_end_sensor_bit_alone_means_out_of_paper(paper: int) -> None:
    """n=4 bits 5 and 6 both report the roll end sensor; models with one sensor line set only
    one of them: 12H + 20H = 32H, 12H + 40H = 52H. Neither is a near-end warning alone."""
    state = parse_status(IDLE, IDLE, IDLE, paper)
    assert state.paper_out and not state.paper_near_end and not state.ready
    assert state.problem() == "printer out of paper"


@pytest.mark.parametrize("paper", [0x16, 0x1A])
def test_either_near_end_bit_alone_is_a_warning(paper: int) -> None:
    """n=4 bits 2 and 3 report the near-end sensor: 12H + 04H = 16H, 12H + 08H = 1AH."""
    state = parse_status(IDLE, IDLE, IDLE, paper)
    assert state.ready and state.warning() == "printer paper near end"


def test_paper_near_end_still_prints() -> None:
    """Near end only: n=4 1EH; printing continues, a warning is shown."""
    state = parse_status(IDLE, IDLE, IDLE, 0x1E)
    assert state.ready
    assert state.warning() == "printer paper near end"


def test_cover_open() -> None:
    """Cover open: n=1 1AH (offline), n=2 16H (bit 2)."""
    state = parse_status(0x1A, 0x16, IDLE, IDLE)
    assert state.cover_open and not state.ready
    assert state.problem() == "printer cover open"


def test_drawer_pin3_and_cutter_error() -> None:
    """n=1 16H: drawer pin 3 high; n=3 1AH: autocutter error; n=2 52H: error occurred."""
    state = parse_status(0x16, 0x52, 0x1A, IDLE)
    assert state.drawer_pin3_high
    assert state.autocutter_error
    assert state.problem() == "printer cutter jammed"


@pytest.mark.parametrize("value", [0x00, 0xFF, 0x13, 0x92, 0x37, 0x10, 0x02])
def test_bytes_without_fixed_bits_are_rejected(value: int) -> None:
    """A byte lacking bit 1 and bit 4 on, or with bit 0/7 on, is not a status answer."""
    with pytest.raises(ProtocolViolation, match="not a status byte"):
        parse_status(value, IDLE, IDLE, IDLE)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=-5, max_value=300),
            # Half the draws have the fixed bits right, so valid combinations get explored too.
            st.integers(min_value=0, max_value=255).map(lambda v: (v & ~0x93) | 0x12),
        ),
        min_size=4,
        max_size=4,
    )
)
def test_any_four_values_parse_or_raise_driver_error(values: list[int]) -> None:
    """Garbage never raises anything but DriverError; valid patterns always parse."""
    valid = all(0 <= v <= 255 and v & 0x93 == 0x12 for v in values)
    try:
        state = parse_status(*values)
    except DriverError:
        assert not valid
    else:
        assert valid
        assert state.ready == (state.problem() == "")
