"""Incremental ESC/POS command parser for the printer simulator: bytes in, one Op at a time.

Written by hand because no maintained Python library decodes ESC/POS (python-escpos only
encodes). Command layouts follow the Epson ESC/POS Command Reference. The parser never
raises on garbage: bytes it does not understand become "unknown" ops.
"""

from __future__ import annotations

from typing import NamedTuple

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10

# ESC commands that take exactly one parameter byte and only change settings we do not model.
_ESC_ONE_ARG = frozenset(b"-MGRVt{ 3JrU%")
_GS_ONE_ARG = frozenset(b"bBhwfHIraT")
_FS_ONE_ARG = frozenset(b"-WC")


class Op(NamedTuple):
    """One decoded command: kind plus its arguments."""

    kind: str
    args: tuple[object, ...] = ()


def _gb18030_len(buf: bytes, pos: int) -> int:
    """Length of the GB18030 character at pos, 0 if incomplete, -1 if not a valid lead."""
    lead = buf[pos]
    if not 0x81 <= lead <= 0xFE:
        return -1
    if pos + 1 >= len(buf):
        return 0
    second = buf[pos + 1]
    if 0x30 <= second <= 0x39:
        if pos + 3 >= len(buf):
            return 0
        if 0x81 <= buf[pos + 2] <= 0xFE and 0x30 <= buf[pos + 3] <= 0x39:
            return 4
        return -1
    if 0x40 <= second <= 0xFE and second != 0x7F:
        return 2
    return -1


def _char_len(buf: bytes, pos: int, code_set: str) -> int:
    """Length of the character at pos in the printer's code set; 0 incomplete, -1 invalid.

    GB18030 has four-byte codes (second byte 30..39); GBK only double bytes (lead 81..FE,
    trail 40..FE but 7F); GB2312 only A1..F7 leads with A1..FE trails.
    """
    if code_set == "gb18030":
        return _gb18030_len(buf, pos)
    lead = buf[pos]
    lo, hi = (0xA1, 0xF7) if code_set == "gb2312" else (0x81, 0xFE)
    if not lo <= lead <= hi:
        return -1
    if pos + 1 >= len(buf):
        return 0
    trail = buf[pos + 1]
    if code_set == "gb2312":
        return 2 if 0xA1 <= trail <= 0xFE else -1
    return 2 if 0x40 <= trail <= 0xFE and trail != 0x7F else -1


def _text_run(
    buf: bytes, pos: int, chinese: bool, code_set: str = "gb18030"
) -> tuple[Op, int] | None:
    """A run of printable characters as (cells, text) pairs: 1 cell single-byte, 2 multi-byte.

    A byte sequence the code set does not have prints as a garbage mark, as a printer's
    font ROM would print something unrelated.
    """
    chars: list[tuple[str, int]] = []
    i = pos
    n = len(buf)
    while i < n:
        b = buf[i]
        if b < 0x20 or b == 0x7F:
            break
        if b < 0x80 or not chinese:
            chars.append((chr(b) if b < 0x80 else bytes((b,)).decode("cp437"), 1))
            i += 1
            continue
        size = _char_len(buf, i, code_set)
        if size == 0:
            if chars:
                break
            return None
        if size < 0:
            chars.append(("\ufffd", 1))
            i += 1
            continue
        chars.append((buf[i : i + size].decode("gb18030", errors="replace"), 2))
        i += size
    return Op("text", (tuple(chars),)), i


def _sized(buf: bytes, pos: int, header: int) -> tuple[bytes, int] | None:
    """Body of a `GS ( x pL pH body` command; None when not all of it has arrived."""
    if pos + header + 2 > len(buf):
        return None
    length = buf[pos + header] | (buf[pos + header + 1] << 8)
    start = pos + header + 2
    if start + length > len(buf):
        return None
    return buf[start : start + length], start + length


def _parse_gs_paren(buf: bytes, pos: int) -> tuple[Op, int] | None:
    if pos + 2 >= len(buf):
        return None
    letter = buf[pos + 2]
    got = _sized(buf, pos, 3)
    if got is None:
        return None
    body, end = got
    if letter == 0x6B and len(body) >= 2 and body[0] == 49:  # GS ( k cn=49: QR Code
        fn = body[1]
        if fn == 80 and len(body) >= 3:  # store data: cn fn m d1...dk
            return Op("qr_store", (body[3:],)), end
        if fn == 81:
            return Op("qr_print"), end
        if fn == 67 and len(body) >= 3:
            return Op("qr_size", (body[2],)), end
        return Op("qr_setting", (fn, body[2:])), end
    if letter == 0x48 and len(body) == 6 and body[0] == 48 and body[1] == 48:  # GS ( H fn=48
        return Op("process_id", (body[2:],)), end
    return Op("unknown", (buf[pos:end],)), end


def _parse_barcode(buf: bytes, pos: int) -> tuple[Op, int] | None:
    if pos + 2 >= len(buf):
        return None
    m = buf[pos + 2]
    if m <= 6:  # function A: data ends with NUL
        nul = buf.find(b"\x00", pos + 3)
        if nul < 0:
            return None if len(buf) - pos < 260 else (Op("unknown", (buf[pos : pos + 3],)), pos + 3)
        return Op("barcode", (m, buf[pos + 3 : nul])), nul + 1
    if 65 <= m <= 79:  # function B: n then n bytes
        if pos + 3 >= len(buf):
            return None
        n = buf[pos + 3]
        if pos + 4 + n > len(buf):
            return None
        return Op("barcode", (m, buf[pos + 4 : pos + 4 + n])), pos + 4 + n
    return Op("unknown", (buf[pos : pos + 3],)), pos + 3


def _parse_dle(buf: bytes, pos: int) -> tuple[Op, int] | None:
    if pos + 2 >= len(buf):
        return None
    second, n = buf[pos + 1], buf[pos + 2]
    if second == 0x04 and 1 <= n <= 4:
        return Op("status", (n,)), pos + 3
    if second == 0x05:
        return Op("unknown", (buf[pos : pos + 3],)), pos + 3
    if second == 0x14:
        if n == 1:
            if pos + 4 >= len(buf):
                return None
            return Op("pulse", (buf[pos + 3], buf[pos + 4])), pos + 5
        if n == 8:
            if pos + 9 >= len(buf):
                return None
            key = bytes(buf[pos + 3 : pos + 10])
            if key == bytes((1, 3, 20, 1, 6, 2, 8)):
                return Op("buffer_clear"), pos + 10
        return Op("unknown", (buf[pos : pos + 3],)), pos + 3
    return Op("unknown", (buf[pos : pos + 1],)), pos + 1


def _parse_esc(buf: bytes, pos: int) -> tuple[Op, int] | None:
    if pos + 1 >= len(buf):
        return None
    c = buf[pos + 1]
    if c == 0x40:
        return Op("init"), pos + 2
    if c == 0x70:  # ESC p m t1 t2
        if pos + 4 >= len(buf):
            return None
        return Op("kick", (buf[pos + 2], buf[pos + 3], buf[pos + 4])), pos + 5
    if c == 0x64:  # ESC d n: print and feed n lines
        if pos + 2 >= len(buf):
            return None
        return Op("feed", (buf[pos + 2],)), pos + 3
    if c == 0x32:
        return Op("setting"), pos + 2
    if c in (0x61, 0x45, 0x21) or c in _ESC_ONE_ARG:
        if pos + 2 >= len(buf):
            return None
        arg = buf[pos + 2]
        kind = {0x61: "align", 0x45: "bold", 0x21: "mode"}.get(c, "setting")
        return Op(kind, (arg,)), pos + 3
    if c == 0x24:  # ESC $ nL nH
        if pos + 3 >= len(buf):
            return None
        return Op("setting"), pos + 4
    return Op("unknown", (buf[pos : pos + 2],)), pos + 2


def _parse_gs(buf: bytes, pos: int) -> tuple[Op, int] | None:
    if pos + 1 >= len(buf):
        return None
    c = buf[pos + 1]
    if c == 0x28:
        return _parse_gs_paren(buf, pos)
    if c == 0x6B:
        return _parse_barcode(buf, pos)
    if c == 0x56:  # GS V m [n]
        if pos + 2 >= len(buf):
            return None
        m = buf[pos + 2]
        if m in (0, 1, 48, 49):
            return Op("cut", (m,)), pos + 3
        if m in (65, 66, 97, 98, 103, 104):
            if pos + 3 >= len(buf):
                return None
            return Op("cut", (m,)), pos + 4
        return Op("unknown", (buf[pos : pos + 3],)), pos + 3
    if c == 0x21:
        if pos + 2 >= len(buf):
            return None
        return Op("size", (buf[pos + 2],)), pos + 3
    if c in _GS_ONE_ARG:
        if pos + 2 >= len(buf):
            return None
        return Op("setting"), pos + 3
    if c in (0x4C, 0x57):  # GS L / GS W nL nH
        if pos + 3 >= len(buf):
            return None
        return Op("setting"), pos + 4
    return Op("unknown", (buf[pos : pos + 2],)), pos + 2


def _parse_fs(buf: bytes, pos: int) -> tuple[Op, int] | None:
    if pos + 1 >= len(buf):
        return None
    c = buf[pos + 1]
    if c == 0x26:
        return Op("chinese", (True,)), pos + 2
    if c == 0x2E:
        return Op("chinese", (False,)), pos + 2
    if c == 0x21:  # FS ! n: Kanji print mode
        if pos + 2 >= len(buf):
            return None
        return Op("kanji_mode", (buf[pos + 2],)), pos + 3
    if c in _FS_ONE_ARG:
        if pos + 2 >= len(buf):
            return None
        return Op("setting"), pos + 3
    return Op("unknown", (buf[pos : pos + 2],)), pos + 2


def parse_one(
    buf: bytes, pos: int, chinese: bool, code_set: str = "gb18030"
) -> tuple[Op, int] | None:
    """Decode the command starting at buf[pos]; None when more bytes are needed."""
    if pos >= len(buf):
        return None
    b = buf[pos]
    if b == 0x0A:
        return Op("lf"), pos + 1
    if b == ESC:
        return _parse_esc(buf, pos)
    if b == GS:
        return _parse_gs(buf, pos)
    if b == FS:
        return _parse_fs(buf, pos)
    if b == DLE:
        return _parse_dle(buf, pos)
    if b == 0x09:
        return Op("text", (((" ", 1),),)), pos + 1
    if b == 0x0D:
        return Op("cr"), pos + 1
    if b < 0x20 or b == 0x7F:
        return Op("unknown", (buf[pos : pos + 1],)), pos + 1
    return _text_run(buf, pos, chinese, code_set)


def parse_all(data: bytes, chinese: bool = False) -> list[Op]:
    """Decode a complete byte string; a truncated command at the end becomes "unknown"."""
    ops: list[Op] = []
    pos = 0
    while pos < len(data):
        got = parse_one(data, pos, chinese)
        if got is None:
            ops.append(Op("unknown", (data[pos:],)))
            break
        op, pos = got
        if op.kind == "chinese":
            chinese = bool(op.args[0])
        elif op.kind == "init":
            chinese = False
        ops.append(op)
    return ops
