"""Wedge key-event decoding: recorded evdev streams (tests/fixtures/evdev) and fuzzed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import ConfigError
from device.drivers.keymap import (
    EV_KEY,
    LAYOUTS,
    WedgeState,
    decode_keys,
    keys_to_text,
    layout,
    text_to_keys,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "evdev"
RECORDINGS = sorted(p for p in FIXTURES.glob("*.json") if "expected_text" in p.read_text())


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_recordings_decode_to_the_text_the_device_typed(path: Path) -> None:
    """Each fixture was written from Linux key names (linux/input-event-codes.h via
    evdev.ecodes) with its expected text by hand; EV_MSC/EV_SYN noise is included."""
    data = json.loads(path.read_text())
    events = [tuple(ev) for ev in data["events"]]
    assert keys_to_text(events, data["layout"]) == data["expected_text"]


def test_same_keys_read_with_the_wrong_layout_give_different_text() -> None:
    """A DE-layout scanner read as US swaps Y/Z and loses the AltGr ']' (why layout is config)."""
    data = json.loads((FIXTURES / "de_member_qr_tab.json").read_text())
    events = [tuple(ev) for ev in data["events"]]
    assert keys_to_text(events, "us") != data["expected_text"]
    assert "Yz" in keys_to_text(events, "us")


def test_scan_split_across_reads_is_joined_and_shift_state_carries() -> None:
    events = [
        tuple(ev) for ev in json.loads((FIXTURES / "us_ean13_enter.json").read_text())["events"]
    ]
    lay = layout("us")
    # Cut right after Shift goes down for 'E' so the modifier state must carry over.
    cut = next(i for i, ev in enumerate(events) if ev == (EV_KEY, 42, 1)) + 1
    first = decode_keys(events[:cut], lay)
    assert first.lines == () and first.state.shift
    second = decode_keys(events[cut:], lay, first.state)
    assert second.lines == ("]E05901234123457\r",)
    assert second.state == WedgeState()


def test_unknown_keys_are_dropped_with_a_note_and_junk_is_bounded() -> None:
    lay = layout("us")
    result = decode_keys([(EV_KEY, 183, 1), (EV_KEY, 30, 1), (EV_KEY, 28, 1)], lay)  # F13, a, Enter
    assert result.lines == ("a\r",)
    assert "183" in result.problems[0]
    junk = [(EV_KEY, 30, 1)] * 20
    bounded = decode_keys(junk, lay, max_len=10)
    assert bounded.state.pending == "" and bounded.state.skipping
    assert any("without a terminator" in p for p in bounded.problems)
    # The junk's tail, up to the next Enter, is thrown away with it; then decoding resumes.
    tail = decode_keys([(EV_KEY, 30, 1), (EV_KEY, 28, 1)] * 2, lay, bounded.state)
    assert tail.lines == ("a\r",) and not tail.state.skipping


def test_autorepeat_and_caps_lock() -> None:
    lay = layout("us")
    # Caps Lock on: letters upper-case, digits unchanged; repeat (value 2) types nothing.
    events = [(EV_KEY, 58, 1), (EV_KEY, 30, 1), (EV_KEY, 30, 2), (EV_KEY, 2, 1), (EV_KEY, 28, 1)]
    assert decode_keys(events, lay).lines == ("A1\r",)


def test_ctrl_bracket_types_gs_and_numlock_types_nothing() -> None:
    """GS1-128 via a wedge: Ctrl (KEY_LEFTCTRL=29) + ']' (KEY_RIGHTBRACE=27) is ASCII GS 0x1D;
    KEY_NUMLOCK (69) toggles only the keypad LEDs."""
    lay = layout("us")
    events = [(EV_KEY, 69, 1), (EV_KEY, 3, 1), (EV_KEY, 29, 1), (EV_KEY, 27, 1), (EV_KEY, 29, 0)]
    events += [(EV_KEY, 4, 1), (EV_KEY, 28, 1)]
    result = decode_keys(events, lay)
    assert result.lines == ("2\x1d3\r",) and result.problems == ()


def test_unknown_layout_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="us, de") as caught:
        layout("fr")
    assert isinstance(caught.value, KeyError)  # what a layout lookup raised before
    assert str(caught.value) == "unknown keyboard layout 'fr'; known: us, de"
    with pytest.raises(ConfigError, match="cannot be typed on the us layout"):
        text_to_keys("中", "us")


PRINTABLE_US = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@settings(max_examples=200, deadline=None)
@given(PRINTABLE_US)
def test_any_ascii_text_survives_a_round_trip_through_key_events(text: str) -> None:
    assert keys_to_text(text_to_keys(text + "\r", "us"), "us") == text + "\r"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-5, 300), st.integers(-5, 300), st.integers(-5, 5)), max_size=80
    ),
    st.sampled_from(sorted(LAYOUTS)),
)
def test_garbage_events_never_raise(events: list[tuple[int, int, int]], name: str) -> None:
    result = decode_keys(events, layout(name), max_len=32)
    assert all(line[-1] in "\r\t" for line in result.lines)
    assert len(result.state.pending) <= 32


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(st.text(max_size=2)), st.just(())), max_size=10))
def test_malformed_event_objects_are_reported_not_raised(events: list[object]) -> None:
    result = decode_keys(events, layout("us"))  # type: ignore[arg-type]
    assert len(result.problems) == len(events)


DE = layout("de")
DE_CHARS = sorted({c for pair in DE.keys.values() for c in pair} | set(DE.altgr.values()))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=DE_CHARS, max_size=40))
def test_german_layout_round_trips_everything_it_can_type(text: str) -> None:
    assert keys_to_text(text_to_keys(text + "\t", "de"), "de") == text + "\t"


def test_german_layout_spot_checks_from_din_2137() -> None:
    """QWERTZ: the key labelled Y on a US board (KEY_Y=21) types 'z'; Shift+KEY_2 is '"';
    AltGr+KEY_Q is '@'; KEY_SLASH (53) is '-'."""
    assert keys_to_text([(EV_KEY, 21, 1)], "de") == "z"
    assert keys_to_text([(EV_KEY, 42, 1), (EV_KEY, 3, 1)], "de") == '"'
    assert keys_to_text([(EV_KEY, 100, 1), (EV_KEY, 16, 1)], "de") == "@"
    assert keys_to_text([(EV_KEY, 53, 1)], "de") == "-"
