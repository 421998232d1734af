"""The HQ page's languages: gettext catalogues (zh_CN, en) read with Babel, and the formats.

The .po files under cloud/api/locale are the source (edited by hand or with pybabel); they
are read at start, so there is no compile step. A message missing from a catalogue shows in
English, and a test fails for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from babel.messages.pofile import read_po

LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "hq"
LANGUAGES: Final = ("zh_CN", "en")
LANGUAGE_NAMES: Final = MappingProxyType({"zh_CN": "中文", "en": "English"})


def load_catalogue(language: str) -> Mapping[str, str]:
    """msgid -> msgstr for one language (empty translations left out)."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    return MappingProxyType(
        {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.id, str) and m.string}
    )


def load_all() -> Mapping[str, Mapping[str, str]]:
    """Every language's catalogue."""
    return MappingProxyType({lang: load_catalogue(lang) for lang in LANGUAGES})


def gettext_for(catalogues: Mapping[str, Mapping[str, str]], language: str) -> Callable[[str], str]:
    """The ``_`` of one language (English text is the fallback)."""
    table = catalogues.get(language, {})

    def gettext(message: str, **params: Any) -> str:
        text = table.get(message, message)
        return text % params if params else text

    return gettext


def named(value: Any, prefix: str, gettext: Callable[..., str]) -> str:
    """A wire word (a printer state, a stream, a change's kind) by the catalogue's name for
    it, ``prefix + value``; a word the catalogue has no name for (a newer till's) as sent."""
    label = f"{prefix}{value}"
    said = gettext(label)
    return str(value) if said == label else said


def store_label(store_id: Any, name: Any) -> str:
    """A store as a picker lists it: id and name, the id once where the name already has it."""
    sid, text = str(store_id), str(name or "").strip()
    if not text or text == sid:
        return sid
    return text if sid in text.split() else f"{sid} {text}"


def yuan(fen: Any) -> str:
    """Fen as yuan for people: ¥1,234.50 (negative as -¥12.00); blank for nothing."""
    if fen is None or fen == "":
        return ""
    value = int(fen)
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def tender_amounts(text: Any) -> list[tuple[str, int]]:
    """A report's per-tender figures (``card=1200; cash=5000``, fen) as (tender, fen) pairs."""
    pairs = []
    for part in str(text or "").split(";"):
        kind, _, fen = part.strip().partition("=")
        if kind and fen.lstrip("-").isdigit():
            pairs.append((kind, int(fen)))
    return pairs


def ratio(value: Any) -> str:
    """A ratio for people, two decimals (2.7143 -> 2.71); blank for nothing. The API keeps the
    report's four places: only the page rounds."""
    return "" if value is None or value == "" else f"{float(value):.2f}"


def percent(ratio: Any) -> str:
    """0.1234 -> 12.3%."""
    return "" if ratio is None else f"{float(ratio) * 100:.1f}%"


def when(value: Any) -> str:
    """An ISO time or datetime as YYYY-MM-DD HH:MM:SS UTC (naive ones are UTC, as stored)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        # The cloud stores naive UTC; shown unlabelled it read as local time beside the
        # labelled stamps of the same page (a sale at 12:00 in Shanghai next to "04:00").
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    return str(value)
