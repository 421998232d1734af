"""The jobs' settings (a TOML file): when each runs, the chain's time zone, where pushes go.

The loyalty figures the jobs apply (tier basis, window and thresholds, the points expiry
period) are HQ's rules in force (``cloud.store.rules``), the same ones the tills and ingest
use, so the file holds none of them: a key that used to hold one is refused with a message
saying where the figure lives now. Every value is checked where it is read, with its bounds,
and an unknown key is an error naming it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.domain.rfm import RfmError, RfmPolicy, Thresholds
from protocol.errors import BadTopic
from protocol.topics import ALL_STORES, validate_id

JOB_NAMES: Final = (
    "points_expiry",
    "tier_downgrade",
    "merge_duplicates",
    "rfm_segments",
    "birthday_gifts",
    "late_returns",
)
_RFM_KEYS: Final = ("every", "method", "new_days", "at_risk_r", "high_value_fm", "dormant_m",
                    "dormant_multiple", "recency_days", "visits", "spend_fen")  # fmt: skip
_UNITS: Final = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400})
MAX_EVERY_S: Final = 366 * 86400


class ConfigError(ValueError):
    """A jobs setting that cannot be used; the message names the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class JobsConfig:
    """Everything the jobs and their scheduler read."""

    timezone: str = "Asia/Shanghai"  # the chain's business days (the tier window counts them)
    member_scope: str = ALL_STORES  # where member facts are pushed
    retry_after_s: int = 300  # a failed scheduled run is tried again after this long
    rfm: RfmPolicy = field(default_factory=RfmPolicy)
    # job -> seconds between scheduled runs (None: on demand only)
    every_s: Mapping[str, int | None] = field(
        default_factory=lambda: MappingProxyType(
            {
                "points_expiry": 86400,
                "tier_downgrade": 86400,
                "merge_duplicates": 300,
                "rfm_segments": 86400,
                # Hourly: a day's gifts go out within the hour after midnight, and a run
                # missed while down is made up the same day; once a year per member still.
                "birthday_gifts": 3600,
                # Five minutes: a return held only because its sale came later is rare, and
                # HQ can wait that long for it; judging it in ingest instead cost every
                # batch with a sale a round trip (docs/sync.md).
                "late_returns": 300,
            }
        )
    )

    def zone(self) -> ZoneInfo:
        """The chain's time zone."""
        return ZoneInfo(self.timezone)


def duration_s(text: Any, key: str) -> int | None:
    """ "90s", "15m", "6h", "1d" or "off" (None) as seconds."""
    if text == "off":
        return None
    match = re.fullmatch(r"(\d+)([smhd])", str(text).strip()) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{key}: expected a duration like 90s, 15m, 6h, 1d or off, got {text!r}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 1 <= seconds <= MAX_EVERY_S:
        raise ConfigError(f"{key}: {text} is outside 1s..366d")
    return seconds


#: Keys that once held loyalty figures, and where each figure is set now.
MOVED_TO_RULES: Final = MappingProxyType(
    {
        "after_days": "loyalty.expiry_days",
        "basis": "tiers.basis",
        "window_days": "tiers.window_days",
        "silver": "tiers.levels (silver threshold)",
        "gold": "tiers.levels (gold threshold)",
    }
)


def _int(table: Mapping[str, Any], key: str, where: str, low: int, high: int, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: expected a whole number {low}..{high}, got {value!r}")
    return value


def _known(table: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> None:
    moved = sorted(set(table) & set(MOVED_TO_RULES))
    if moved:
        raise ConfigError(
            f"{where}.{moved[0]}: set in HQ's rules now ({MOVED_TO_RULES[moved[0]]}, "
            "published at /api/rules), so tills, ingest and the jobs use one figure"
        )
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(keys)}")


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return table


def parse(raw: Mapping[str, Any]) -> JobsConfig:
    """Check a parsed TOML document and build the settings."""
    _known(raw, "jobs config", ("timezone", "member_scope", "retry_after", *JOB_NAMES))
    default = JobsConfig()
    timezone = raw.get("timezone", default.timezone)
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"timezone: unknown time zone {timezone!r}") from err
    scope = str(raw.get("member_scope", default.member_scope))
    if scope != ALL_STORES:
        try:
            validate_id(scope, "member_scope")
        except BadTopic as err:
            raise ConfigError(f"member_scope: {err}") from err
    retry = duration_s(raw.get("retry_after", "5m"), "retry_after") or default.retry_after_s
    every: dict[str, int | None] = dict(default.every_s)
    tables = {name: _table(raw, name) for name in JOB_NAMES}
    for name, table in tables.items():
        if "every" in table:
            every[name] = duration_s(table["every"], f"{name}.every")
    for name in JOB_NAMES:
        if name != "rfm_segments":  # its scoring settings are read below
            _known(tables[name], f"[{name}]", ("every",))
    rfm = _rfm(tables["rfm_segments"])
    return JobsConfig(
        timezone=str(timezone),
        member_scope=scope,
        retry_after_s=retry,
        rfm=rfm,
        every_s=MappingProxyType(every),
    )


def _edges(table: Mapping[str, Any], key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(f"rfm_segments.{key}: expected four whole numbers, got {value!r}")
    return tuple(value)


def _rfm(table: Mapping[str, Any]) -> RfmPolicy:
    _known(table, "[rfm_segments]", _RFM_KEYS)
    d = RfmPolicy()
    multiple = table.get("dormant_multiple", d.dormant_multiple)
    if not isinstance(multiple, int | float) or isinstance(multiple, bool):
        raise ConfigError(f"rfm_segments.dormant_multiple: expected a number, got {multiple!r}")
    try:
        thresholds = Thresholds(
            recency_days=_edges(table, "recency_days", d.thresholds.recency_days),  # type: ignore[arg-type]
            visits=_edges(table, "visits", d.thresholds.visits),  # type: ignore[arg-type]
            spend_fen=_edges(table, "spend_fen", d.thresholds.spend_fen),  # type: ignore[arg-type]
        )
        return RfmPolicy(
            method=table.get("method", d.method),
            thresholds=thresholds,
            new_days=_int(table, "new_days", "rfm_segments", 1, 3650, d.new_days),
            at_risk_r=_int(table, "at_risk_r", "rfm_segments", 1, 5, d.at_risk_r),
            high_value_fm=_int(table, "high_value_fm", "rfm_segments", 1, 5, d.high_value_fm),
            dormant_m=_int(table, "dormant_m", "rfm_segments", 1, 5, d.dormant_m),
            dormant_multiple=float(multiple),
        )
    except RfmError as err:
        raise ConfigError(f"[rfm_segments]: {err}") from err


def load(path: str | Path | None) -> JobsConfig:
    """The settings in ``path`` (the defaults when None); ConfigError says what is wrong."""
    if path is None:
        return JobsConfig()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    try:
        return parse(raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
