"""Keyboard layouts and the pure decoder that turns evdev key events from a wedge device into text.

A USB HID "keyboard wedge" scanner or stripe reader types its data as key presses: it sends
scan codes for a keyboard layout it assumes, and we must read them back with the same layout.
The layouts are plain data (code -> (plain, shifted) and code -> AltGr char) so another layout is
one more table. Key codes are the Linux input codes (linux/input-event-codes.h), the same numbers
python-evdev exposes as evdev.ecodes; they are spelled out here so decoding runs without evdev.

Rules: a character is produced on key-down (value 1); key-up (0) only matters for modifiers
(Shift, AltGr, Ctrl: Ctrl+] gives GS, the GS1 separator);
autorepeat (2) is ignored because a scanner never holds a key. Keypad keys (KEY_KP0..9,
KEY_KPDOT, ...) are read as their NumLock-on characters. Enter, keypad Enter and Tab end a scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from device.drivers.errors import UnknownLayout

EV_KEY = 1
KEY_DOWN, KEY_UP = 1, 0

KEY_TAB, KEY_ENTER, KEY_KPENTER = 15, 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_RIGHTALT, KEY_CAPSLOCK = 42, 54, 100, 58
TERMINATORS: Mapping[int, str] = MappingProxyType(
    {KEY_ENTER: "\r", KEY_KPENTER: "\r", KEY_TAB: "\t"}
)
SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
CTRL_KEYS = frozenset({29, 97})  # KEY_LEFTCTRL, KEY_RIGHTCTRL
# Keys a scanner may send that type nothing: NumLock, ScrollLock, left Alt, Meta.
SILENT_KEYS = frozenset({69, 70, 56, 125, 126})

# Linux key codes of the main block, by position on a US keyboard.
_DIGIT_ROW = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11)  # KEY_1 .. KEY_0
_LETTERS: Mapping[str, int] = MappingProxyType({
    "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "i": 23, "o": 24, "p": 25,
    "a": 30, "s": 31, "d": 32, "f": 33, "g": 34, "h": 35, "j": 36, "k": 37, "l": 38,
    "z": 44, "x": 45, "c": 46, "v": 47, "b": 48, "n": 49, "m": 50,
})  # fmt: skip
KEY_MINUS, KEY_EQUAL, KEY_LEFTBRACE, KEY_RIGHTBRACE = 12, 13, 26, 27
KEY_SEMICOLON, KEY_APOSTROPHE, KEY_GRAVE, KEY_BACKSLASH = 39, 40, 41, 43
KEY_COMMA, KEY_DOT, KEY_SLASH, KEY_SPACE, KEY_102ND = 51, 52, 53, 57, 86

# Keypad codes: KEY_KP7=71 .. KEY_KPDOT=83, KEY_KPSLASH=98, KEY_KPASTERISK=55.
KEYPAD: Mapping[int, str] = MappingProxyType({
    82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9",
    83: ".", 78: "+", 74: "-", 55: "*", 98: "/",
})  # fmt: skip


def _letters(swap_yz: bool) -> dict[int, tuple[str, str]]:
    table = {}
    for ch, code in _LETTERS.items():
        if swap_yz and ch in "yz":
            ch = "z" if ch == "y" else "y"
        table[code] = (ch, ch.upper())
    return table


@dataclass(frozen=True)
class Layout:
    """One keyboard layout: what each key types plain, with Shift, and with AltGr."""

    name: str
    keys: Mapping[int, tuple[str, str]]
    altgr: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))


def _us() -> Layout:
    keys = _letters(swap_yz=False)
    keys.update(zip(_DIGIT_ROW, zip("1234567890", "!@#$%^&*()", strict=True), strict=True))
    keys.update({
        KEY_MINUS: ("-", "_"), KEY_EQUAL: ("=", "+"), KEY_LEFTBRACE: ("[", "{"),
        KEY_RIGHTBRACE: ("]", "}"), KEY_SEMICOLON: (";", ":"), KEY_APOSTROPHE: ("'", '"'),
        KEY_GRAVE: ("`", "~"), KEY_BACKSLASH: ("\\", "|"), KEY_COMMA: (",", "<"),
        KEY_DOT: (".", ">"), KEY_SLASH: ("/", "?"), KEY_SPACE: (" ", " "),
    })  # fmt: skip
    return Layout("us", MappingProxyType(keys))


def _de() -> Layout:
    """German QWERTZ (DIN 2137). Dead keys (^ and the accents) are left out: a scanner set to DE
    types ASCII data, and a dead key would only combine with the next key."""
    keys = _letters(swap_yz=True)
    keys.update(zip(_DIGIT_ROW, zip("1234567890", '!"§$%&/()=', strict=True), strict=True))
    keys.update({
        KEY_MINUS: ("ß", "?"), KEY_LEFTBRACE: ("ü", "Ü"), KEY_RIGHTBRACE: ("+", "*"),
        KEY_SEMICOLON: ("ö", "Ö"), KEY_APOSTROPHE: ("ä", "Ä"), KEY_BACKSLASH: ("#", "'"),
        KEY_102ND: ("<", ">"), KEY_COMMA: (",", ";"), KEY_DOT: (".", ":"),
        KEY_SLASH: ("-", "_"), KEY_SPACE: (" ", " "),
    })  # fmt: skip
    altgr = {
        _LETTERS["q"]: "@", _LETTERS["e"]: "€", 8: "{", 9: "[", 10: "]", 11: "}",
        KEY_MINUS: "\\", KEY_RIGHTBRACE: "~", KEY_102ND: "|", 3: "²", 4: "³",
    }  # fmt: skip
    return Layout("de", MappingProxyType(keys), MappingProxyType(altgr))


LAYOUTS: Mapping[str, Layout] = MappingProxyType({"us": _us(), "de": _de()})


def layout(name: str) -> Layout:
    """Return a known layout by name ('us', 'de'); raise UnknownLayout naming the choices."""
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        known = ", ".join(LAYOUTS)
        raise UnknownLayout(f"unknown keyboard layout {name!r}; known: {known}") from None


@dataclass(frozen=True)
class WedgeState:
    """What the decoder carries between reads: held modifiers and text typed so far."""

    shift: bool = False
    altgr: bool = False
    caps: bool = False
    ctrl: bool = False
    pending: str = ""
    # After an overflow, what is typed up to the next terminator is the junk's tail, not a scan.
    skipping: bool = False


@dataclass(frozen=True)
class WedgeResult:
    """Decoded output: complete lines (terminator kept as its last char), new state, problems."""

    lines: tuple[str, ...]
    state: WedgeState
    problems: tuple[str, ...]


def decode_keys(
    events: Iterable[tuple[int, int, int]],
    lay: Layout,
    state: WedgeState | None = None,
    max_len: int = 512,
) -> WedgeResult:
    """Turn (type, code, value) input events into text lines ending in CR or Tab.

    Unknown keys are dropped with a problem note rather than raising; text longer than max_len
    without a terminator is discarded (it is junk, or a reader stuck without a suffix).
    """
    state = state or WedgeState()
    shift, altgr, caps, ctrl = state.shift, state.altgr, state.caps, state.ctrl
    pending, skipping = state.pending, state.skipping
    lines: list[str] = []
    problems: list[str] = []
    for ev in events:
        try:
            etype, code, value = int(ev[0]), int(ev[1]), int(ev[2])
        except (TypeError, ValueError, IndexError, OverflowError):
            problems.append(f"ignored malformed input event {ev!r}")
            continue
        if etype != EV_KEY:
            continue
        if code in SHIFT_KEYS:
            shift = value != KEY_UP
            continue
        if code == KEY_RIGHTALT:
            altgr = value != KEY_UP
            continue
        if code in CTRL_KEYS:
            ctrl = value != KEY_UP
            continue
        if value != KEY_DOWN or code in SILENT_KEYS:
            continue
        if code == KEY_CAPSLOCK:
            caps = not caps
            continue
        if code in TERMINATORS:
            if not skipping:
                lines.append(pending + TERMINATORS[code])
            pending, skipping = "", False
            continue
        ch = _char(lay, code, shift, altgr, caps)
        if ch is not None and ctrl:
            ch = _control(ch)
        if ch is None:
            problems.append(f"ignored key code {code} (not in the {lay.name} layout)")
            continue
        if skipping:
            continue
        pending += ch
        if len(pending) > max_len:
            problems.append(f"discarded {len(pending)} characters typed without a terminator")
            pending, skipping = "", True
    end = WedgeState(shift, altgr, caps, ctrl, pending, skipping)
    return WedgeResult(tuple(lines), end, tuple(problems))


def _control(ch: str) -> str | None:
    """Ctrl + a key of the '@'..'_' column types that ASCII control code (Ctrl+] is GS,
    the GS1 field separator that wedge scanners send this way)."""
    up = ch.upper()
    return chr(ord(up) - 0x40) if "@" <= up <= "_" else None


def _char(lay: Layout, code: int, shift: bool, altgr: bool, caps: bool) -> str | None:
    if code in KEYPAD:
        return KEYPAD[code]
    if altgr:
        return lay.altgr.get(code)
    pair = lay.keys.get(code)
    if pair is None:
        return None
    plain, shifted = pair
    upper = shift != (caps and plain.isalpha())
    return shifted if upper else plain


def keys_to_text(events: Iterable[tuple[int, int, int]], layout_name: str = "us") -> str:
    """Everything the events type, terminators included: the simple pure form for tests/tools."""
    result = decode_keys(events, layout(layout_name), max_len=1 << 30)
    return "".join(result.lines) + result.state.pending


def text_to_keys(text: str, layout_name: str = "us") -> list[tuple[int, int, int]]:
    """The key events a wedge device set to this layout sends to type `text` (for recordings)."""
    lay = layout(layout_name)
    reverse: dict[str, tuple[int, str]] = {}
    for code, ch in lay.altgr.items():
        reverse.setdefault(ch, (code, "altgr"))
    for code, (plain, shifted) in lay.keys.items():
        reverse[shifted] = (code, "shift")
        reverse[plain] = (code, "")
    for code, ch in TERMINATORS.items():
        if code != KEY_KPENTER:
            reverse[ch] = (code, "")
    out: list[tuple[int, int, int]] = []
    for ch in text:
        if ch not in reverse:
            raise UnknownLayout(f"{ch!r} cannot be typed on the {lay.name} layout")
        code, mod = reverse[ch]
        mod_code = {"shift": KEY_LEFTSHIFT, "altgr": KEY_RIGHTALT}.get(mod)
        if mod_code is not None:
            out.append((EV_KEY, mod_code, KEY_DOWN))
        out += [(EV_KEY, code, KEY_DOWN), (0, 0, 0), (EV_KEY, code, KEY_UP), (0, 0, 0)]
        if mod_code is not None:
            out.append((EV_KEY, mod_code, KEY_UP))
    return out
