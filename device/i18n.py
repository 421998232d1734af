"""The till's words: gettext catalogues (zh_CN, en) for the screen, customer display and receipts.

The .po files under device/locale are the source (edited by hand or with pybabel) and are read
with Babel once at start, so there is no compile step. The checkout core stays pure: it hands
out message keys and parameters, and this module turns them into the screen's language.
Placeholders are ``str.format`` fields; a field a message names but was not given shows "?".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from babel.messages.pofile import read_po

LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "till"
LANGUAGES: Final = ("zh_CN", "en")
# Parameters whose values are words of their own, looked up as "<name>.<value>" (the tier's
# code name, a tender's or role's English name, a permission's description).
WORD_PARAMS: Final = ("tier", "tender", "role", "permission")


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


# Read once when the till starts; read-only afterwards.
CATALOGUES: Final = load_all()


def locale_of(lang: str) -> str:
    """The catalogue for a screen language ("zh", "zh_CN" -> zh_CN; anything else -> en)."""
    return "zh_CN" if lang.startswith("zh") else "en"


class _Missing(dict[str, object]):
    """Format arguments where a field nobody gave shows as "?" (HQ may leave one out)."""

    def __missing__(self, key: str) -> str:
        return "?"


def fields(template: str) -> set[str]:
    """The placeholder names a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(key: str, lang: str = "en", **params: object) -> str:
    """A message in ``lang``; an unknown key shows itself (and a test fails for it).

    Some parameters are translated too: ``reason_key`` (a domain error's own message, which
    fills ``reason``) and the WORD_PARAMS.
    """
    table = CATALOGUES[locale_of(lang)]
    reason_key = params.get("reason_key")
    if isinstance(reason_key, str) and reason_key in table:
        inner = {k: v for k, v in params.items() if k != "reason_key"}
        params = {**params, "reason": render(reason_key, lang, **inner)}
    words = {
        name: table[f"{name}.{value}"]
        for name in WORD_PARAMS
        if isinstance(value := params.get(name), str) and f"{name}.{value}" in table
    }
    if words:
        params = {**params, **words}
    template = table.get(key, CATALOGUES["en"].get(key, key))
    try:
        return template.format_map(_Missing(params))
    except (IndexError, ValueError, AttributeError):
        return template


def english(key: str, **params: object) -> str:
    """The English text of a message (logs, and the runtime's notice beside the key)."""
    return render(key, "en", **params)
