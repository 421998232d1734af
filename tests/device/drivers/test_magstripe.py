"""ISO/IEC 7813 track parsing and the ISO/IEC 7811-2 LRC, with garbled swipes and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import CardReaderError, DriverError
from device.drivers.magstripe import SwipeJoiner, encode_swipe, lrc, parse_swipe, split_tracks

T1 = "%B6012345678901234^LI/WEI^4912101?"
T2 = ";6012345678901234=4912101?"


def test_good_swipe_gives_pan_name_and_expiry() -> None:
    swipe = parse_swipe(T1 + T2)
    assert swipe.card_id == "6012345678901234"
    assert swipe.name == "LI/WEI"
    assert swipe.expiry == "4912"
    assert (swipe.track1, swipe.track2) == (T1, T2)


def test_track2_only_card_and_track2_without_separator() -> None:
    assert parse_swipe(";88001234=2612?").card_id == "88001234"
    only = parse_swipe(";88001234?")
    assert only.card_id == "88001234" and only.expiry is None and only.name is None


def test_lrc_by_hand_for_a_short_track2() -> None:
    """ISO/IEC 7811-2 numeric set: ';'=0xB, '1'=1, '2'=2, '?'=0xF. 0xB^1^2^0xF = 7 -> '7'."""
    assert lrc(";12?", 0x30) == "7"
    assert parse_swipe(";12?7", with_lrc=True).card_id == "12"


def test_lrc_by_hand_for_a_short_track1() -> None:
    """Alphanumeric set: '%'=0x05, 'B'=0x22, '1'=0x11, '^'=0x3E, 'A'=0x21, '9'=0x19, '?'=0x1F.
    XOR over '%B1^AA^9999?': 0x05^0x22^0x11^0x3E^0x21^0x21^0x3E^(0x19 x4 = 0)^0x1F = 0x29 -> 'I'."""
    assert lrc("%B1^AA^9999?", 0x20) == "I"


def test_lrc_mismatch_is_a_clear_error() -> None:
    with pytest.raises(CardReaderError, match="track 2 LRC check failed — swipe again"):
        parse_swipe(";12?8", with_lrc=True)
    with pytest.raises(CardReaderError, match="track 2 LRC missing"):
        parse_swipe(";12?", with_lrc=True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            ";6012345678901234=4912101",
            "card read failed: track 2 end sentinel missing — swipe again",
        ),
        ("%B6012^LI^4912?;60123", "track 2 end sentinel missing"),
        ("%B6012^LI^4912;6012=49?", "track 1 end sentinel missing"),
        ("", "no track data"),
        ("xyz", "unexpected 'x' where a track should start"),
        (";60A2?", "track 2 has a character outside its character set"),
        ("%B1^x^4912?", "track 1 has a character outside its character set"),
        (";E?", "track 2 could not be read"),
        ("%E?", "track 1 could not be read"),
        ("%B1234^LI^4912?;5678=4912?", "card numbers differ"),
        (";" + "1" * 40 + "?", "longer than a card can hold"),
    ],
)
def test_garbled_swipes_explain_themselves(raw: str, message: str) -> None:
    with pytest.raises(CardReaderError, match=message):
        parse_swipe(raw)


def test_unreadable_track1_with_good_track2_still_identifies_the_member() -> None:
    swipe = parse_swipe("%E?" + T2)
    assert swipe.card_id == "6012345678901234" and swipe.track1 is None


def test_good_track1_with_unreadable_track2_uses_the_track1_number() -> None:
    """ISO/IEC 7813: track 1 format B carries the same PAN as track 2, so a reader's ';E?'
    (track 2 unreadable) beside a good track 1 still identifies the member."""
    swipe = parse_swipe(T1 + ";E?")
    assert (swipe.card_id, swipe.name, swipe.expiry) == ("6012345678901234", "LI/WEI", "4912")
    assert swipe.track2 is None


def test_bad_lrc_on_one_track_leaves_the_other_track_to_identify_the_card() -> None:
    """ISO/IEC 7811-2 LRC: a track whose LRC fails is not trusted, but its end sentinel
    bounds it, so the other track is still read; both failing is a clear error."""
    raw = encode_swipe("6012345678901234", "li/wei", with_lrc=True)
    t1, t2 = raw[: len(T1) + 1], raw[len(T1) + 1 :]
    wrong = chr(ord(t1[-1]) ^ 1)
    swipe = parse_swipe(t1[:-1] + wrong + t2, with_lrc=True)
    assert (swipe.card_id, swipe.track1, swipe.name) == ("6012345678901234", None, None)
    bad_t2 = t2[:-1] + chr(ord(t2[-1]) ^ 1)
    swipe = parse_swipe(t1 + bad_t2, with_lrc=True)
    assert (swipe.card_id, swipe.track2, swipe.name) == ("6012345678901234", None, "LI/WEI")
    with pytest.raises(CardReaderError, match="LRC check failed"):
        parse_swipe(t1[:-1] + wrong + bad_t2, with_lrc=True)


def test_tracks_sent_one_per_line_are_joined_into_one_swipe() -> None:
    joiner = SwipeJoiner()
    assert joiner.feed(T1) == []  # held: its track 2 may follow
    assert joiner.feed(T2) == [T1 + T2]
    assert joiner.feed(T1) == []
    assert joiner.feed("%B88^ZHAO^4912?") == [T1]  # the next card: the first went alone
    assert joiner.flush() == ["%B88^ZHAO^4912?"]
    assert joiner.feed(T1 + T2) == [T1 + T2] and joiner.flush() == []


def test_encode_swipe_with_lrc_round_trips() -> None:
    raw = encode_swipe("6012345678901234", "li/wei", with_lrc=True)
    assert split_tracks(raw, with_lrc=True) == (T1, T2)
    assert parse_swipe(raw, with_lrc=True).name == "LI/WEI"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.booleans())
def test_any_text_parses_or_raises_a_driver_error(raw: str, with_lrc: bool) -> None:
    try:
        swipe = parse_swipe(raw, with_lrc)
    except DriverError as exc:
        assert str(exc).startswith("card read failed: ")
        return
    assert swipe.card_id.isdigit()


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=1, max_size=19),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ /", max_size=26),
    st.booleans(),
)
def test_any_card_survives_encode_then_parse(pan: str, name: str, with_lrc: bool) -> None:
    swipe = parse_swipe(encode_swipe(pan, name, "2712", with_lrc), with_lrc)
    assert (swipe.card_id, swipe.name, swipe.expiry) == (pan, name.strip(), "2712")
