"""Parsing of magnetic-stripe swipes: ISO/IEC 7813 tracks 1 and 2, with the ISO/IEC 7811-2 LRC.

References:
- ISO/IEC 7813 (financial transaction cards): track 1 is '%' 'B' PAN '^' NAME '^' YYMM
  service-code discretionary '?'; track 2 is ';' PAN '=' YYMM service-code discretionary '?'.
- ISO/IEC 7811-2 (magnetic stripe, low coercivity): track 1 uses the 6-bit alphanumeric set
  (characters 0x20-0x5F, code = char - 0x20), track 2 the 4-bit numeric set (0x30-0x3F,
  code = char - 0x30). The LRC character after the end sentinel is the XOR of the codes of
  every character from the start sentinel to the end sentinel inclusive, written back in the
  same set. Parity bits never reach us: readers check them and send characters.

Member cards are issued by the chain, so parsing is tolerant where ISO 7813 allows variation
(format code, missing service code) and strict where a misread shows (sentinels, character set,
LRC). Track 1 (format B) and track 2 carry the same PAN, so one good track identifies the card
when the other could not be read or fails its LRC. Every failure is a CardReaderError whose
message is shown to the cashier as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.drivers.errors import CardReaderError

T1_START, T2_START, END = "%", ";", "?"
T1_BASE, T2_BASE = 0x20, 0x30
T1_MAX, T2_MAX = 79, 40  # ISO 7811-2 track capacities in characters, sentinels and LRC included
# Readers in the MagTek convention send "%E?" / ";E?" for a track they could not read.
UNREADABLE = "E"
BAD_LRC = "\x00LRC"  # stands for a track that failed its LRC (no real track holds NUL)


def _fail(what: str) -> CardReaderError:
    return CardReaderError(f"card read failed: {what} — swipe again")


def lrc(track: str, base: int) -> str:
    """The LRC character of a track (sentinels included), in that track's character set."""
    acc = 0
    for ch in track:
        acc ^= ord(ch) - base
    return chr(acc + base)


@dataclass(frozen=True, slots=True)
class Swipe:
    """The parsed tracks of one good swipe; `card_id` is the PAN (track 2 first)."""

    card_id: str
    track1: str | None
    track2: str | None
    name: str | None
    expiry: str | None


def _take_track(raw: str, i: int, num: int, with_lrc: bool) -> tuple[str, int]:
    """Cut one track starting at raw[i] (its start sentinel); return (track, next index).

    A track whose LRC does not match comes back as the reader's unreadable mark: its end is
    known, so the other track can still be read, but its characters cannot be trusted.
    """
    base, limit = (T1_BASE, T1_MAX) if num == 1 else (T2_BASE, T2_MAX)
    if raw.startswith(UNREADABLE + END, i + 1):
        return raw[i : i + 3], i + 3  # the reader's own "could not read" mark, no LRC
    j = i + 1
    while j < len(raw) and raw[j] != END:
        ch = raw[j]
        if ch in (T1_START, T2_START) or ch in "\r\n\t":
            raise _fail(f"track {num} end sentinel missing")
        if not base <= ord(ch) < base + (0x40 if num == 1 else 0x10):
            raise _fail(f"track {num} has a character outside its character set ({ch!r})")
        j += 1
    if j >= len(raw):
        raise _fail(f"track {num} end sentinel missing")
    track = raw[i : j + 1]
    j += 1
    if len(track) + (1 if with_lrc else 0) > limit:
        raise _fail(f"track {num} is longer than a card can hold")
    if with_lrc:
        if j >= len(raw):
            raise _fail(f"track {num} LRC missing")
        if raw[j] != lrc(track, base):
            return track[0] + BAD_LRC + END, j + 1
        j += 1
    return track, j


def split_tracks(raw: str, with_lrc: bool = False) -> tuple[str | None, str | None]:
    """Find track 1 and track 2 (with sentinels) in one swipe's text; raise on a bad swipe."""
    t1: str | None = None
    t2: str | None = None
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch in " \r\n\t":
            i += 1
        elif ch == T1_START and t1 is None and t2 is None:
            t1, i = _take_track(raw, i, 1, with_lrc)
        elif ch == T2_START and t2 is None:
            t2, i = _take_track(raw, i, 2, with_lrc)
        elif ch == T2_START:
            break  # a third track (ISO 4909) also starts with ';': not used for member cards
        else:
            raise _fail(f"unexpected {ch!r} where a track should start")
    if t1 is None and t2 is None:
        raise _fail("no track data")
    return t1, t2


def _unusable(body: str, num: int) -> None:
    if body == UNREADABLE:
        raise _fail(f"track {num} could not be read")
    if body == BAD_LRC:
        raise _fail(f"track {num} LRC check failed")


def _parse_track1(track: str) -> tuple[str, str, str | None]:
    """Return (PAN, name, expiry) of a track 1 in ISO 7813 format B."""
    body = track[1:-1]
    _unusable(body, 1)
    if not body or not body[0].isalpha() or not "A" <= body[0] <= "Z":
        raise _fail("track 1 format code missing")
    parts = body[1:].split("^")
    if len(parts) < 3:
        raise _fail("track 1 field separator '^' missing")
    pan, name, rest = parts[0], parts[1].strip(), "^".join(parts[2:])
    if not (1 <= len(pan) <= 19 and pan.isdigit()):
        raise _fail("track 1 card number is not 1-19 digits")
    expiry = rest[:4] if len(rest) >= 4 and rest[:4].isdigit() else None
    return pan, name, expiry


def _parse_track2(track: str) -> tuple[str, str | None]:
    """Return (PAN, expiry) of a track 2; the '=' and what follows it are optional."""
    body = track[1:-1]
    _unusable(body, 2)
    pan, sep, rest = body.partition("=")
    if not (1 <= len(pan) <= 19 and pan.isdigit()):
        raise _fail("track 2 card number is not 1-19 digits")
    if sep and not all(c.isdigit() or c == "=" for c in rest):
        raise _fail("track 2 has a character outside its character set")
    expiry = rest[:4] if len(rest) >= 4 and rest[:4].isdigit() else None
    return pan, expiry


def parse_swipe(raw: str, with_lrc: bool = False) -> Swipe:
    """Parse one swipe (tracks 1 and/or 2, as the reader sent them); raise CardReaderError.

    Either good track identifies the card (track 2 first); a track that could not be read
    or failed its LRC costs only what it alone carries (the name is on track 1).
    """
    t1, t2 = split_tracks(raw, with_lrc)
    one: tuple[str, str, str | None] | None = None
    two: tuple[str, str | None] | None = None
    problems: list[CardReaderError] = []
    if t1 is not None:
        try:
            one = _parse_track1(t1)
        except CardReaderError as exc:
            problems.append(exc)
    if t2 is not None:
        try:
            two = _parse_track2(t2)
        except CardReaderError as exc:
            problems.append(exc)
    if one is not None and two is not None and one[0] != two[0]:
        raise _fail("track 1 and track 2 card numbers differ")
    if two is not None:
        name, exp1 = (one[1], one[2]) if one is not None else (None, None)
        return Swipe(two[0], t1 if one is not None else None, t2, name, two[1] or exp1)
    if one is not None:
        return Swipe(one[0], t1, None, one[1], one[2])
    raise problems[-1] if problems else _fail("no track data")


class SwipeJoiner:
    """Rebuilds swipes from a reader that ends each track with CR (one line per track).

    A line holding track 1 alone is kept until the next line: track 2 of the same swipe is
    joined to it; anything else (the next card's track 1, a whole swipe) lets it go alone.
    flush() lets it go when the line has been quiet (the swipe is over).
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, line: str) -> list[str]:
        """Complete swipes released by this line (none, one or two)."""
        text = line.strip()
        if not text:
            return []
        if text.startswith(T2_START) and self._held:
            joined, self._held = self._held + text, ""
            return [joined]
        out = self.flush()
        if text.startswith(T1_START) and T2_START not in text:
            self._held = text
            return out
        return [*out, text]

    def flush(self) -> list[str]:
        """Release a held track 1 as a swipe of its own."""
        held, self._held = self._held, ""
        return [held] if held else []


def encode_swipe(pan: str, name: str = "", expiry: str = "4912", with_lrc: bool = False) -> str:
    """Build tracks 1 and 2 for a card (used by the simulator and by tests)."""
    t1 = f"%B{pan}^{name.upper()[:26]}^{expiry}101?"
    t2 = f";{pan}={expiry}101?"
    if with_lrc:
        return t1 + lrc(t1, T1_BASE) + t2 + lrc(t2, T2_BASE)
    return t1 + t2
