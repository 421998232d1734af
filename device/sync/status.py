"""Builds the terminal's retained health status and decides when it is worth publishing again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from protocol import codec
from protocol.envelope import MAX_PROBLEM_CHARS, SelfTest, Status, utc_iso
from protocol.problems import to_wire

#: Printer states the status may carry ("none": no printer fitted); anything else is "error".
PRINTER_STATES = ("ok", "paper_low", "paper_out", "offline", "error", "unknown", "none")


@dataclass(frozen=True, slots=True)
class Health:
    """What the sync thread measured just now, from the store and the link."""

    online: bool
    outbox_depth: int
    oldest_unsynced_s: float | None
    stream_versions: Mapping[str, int]
    # The newest thing HQ should look at ("" when all is well); a protocol.problems.Said
    # travels with its message id too, for HQ to say in its page's language.
    problem: str = ""
    rules_version: str = ""  # HQ's rules version the till holds ("" = the built-in defaults)


class StatusReporter:
    """Turns Health into Status payloads; publishes on connect, on a timer, and on big changes.

    Depth changes are reported when they cross zero or move by `depth_step` rows, but at most
    once per `min_gap_s`, so a 10,000-row drain does not flood HQ with statuses.
    """

    def __init__(
        self,
        store_id: str,
        terminal_id: str,
        software_version: str,
        printer: Callable[[], str] = lambda: "unknown",
        clock_synced: Callable[[], bool] = lambda: False,
        interval_s: float = 30.0,
        depth_step: int = 100,
        min_gap_s: float = 1.0,
        self_test: Callable[[], SelfTest | None] = lambda: None,
        cert_not_after: Callable[[], dt.datetime | None] = lambda: None,
    ) -> None:
        self._store_id = store_id
        self._terminal_id = terminal_id
        self._software_version = software_version
        self._printer = printer
        self._clock_synced = clock_synced
        self._self_test = self_test  # the newest technician's self-test, repeated for HQ
        self._cert_not_after = cert_not_after  # read each time: a rotation changes it
        self._interval_s = interval_s
        self._depth_step = depth_step
        self._min_gap_s = min_gap_s
        self._last_at: float | None = None
        self._last_depth: int | None = None
        self._last_versions: dict[str, int] = {}
        self._last_problem = ""

    def payload(self, health: Health, wall: dt.datetime | None = None) -> bytes:
        """The Status JSON for this health reading."""
        printer = self._printer()
        cert_end = self._cert_not_after()
        return codec.encode_status(
            Status(
                terminal_id=self._terminal_id,
                store_id=self._store_id,
                online=health.online,
                outbox_depth=max(0, int(health.outbox_depth)),
                oldest_unsynced_s=(
                    None if health.oldest_unsynced_s is None else float(health.oldest_unsynced_s)
                ),
                stream_versions=dict(health.stream_versions),
                clock_synced=bool(self._clock_synced()),
                printer=printer if printer in PRINTER_STATES else "error",
                software_version=self._software_version,
                sent_at=utc_iso(wall or dt.datetime.now(dt.UTC)),
                last_problem=str(health.problem)[:MAX_PROBLEM_CHARS],
                problem=to_wire(health.problem),
                self_test=self._self_test(),
                rules_version=health.rules_version,
                cert_not_after=None if cert_end is None else utc_iso(cert_end),
            )
        )

    def will(self, depth: int = 0, versions: Mapping[str, int] | None = None) -> bytes:
        """The last will: the same status, offline (the broker publishes it if we vanish)."""
        return self.payload(Health(False, depth, None, versions or {}))

    def due(self, now: float, depth: int, versions: Mapping[str, int], problem: str = "") -> bool:
        """Whether a fresh status should go out now."""
        if self._last_at is None or self._last_depth is None:
            return True
        elapsed = now - self._last_at
        if elapsed >= self._interval_s:
            return True
        if elapsed < self._min_gap_s:
            return False
        if dict(versions) != self._last_versions or problem != self._last_problem:
            return True
        crossed_zero = (depth == 0) != (self._last_depth == 0)
        return crossed_zero or abs(depth - self._last_depth) >= self._depth_step

    def sent(self, now: float, depth: int, versions: Mapping[str, int], problem: str = "") -> None:
        """Record that a status for this depth went out."""
        self._last_at = now
        self._last_depth = depth
        self._last_versions = dict(versions)
        self._last_problem = problem

    def reset(self) -> None:
        """Forget the last publish (after a reconnect the next status goes out at once)."""
        self._last_at = None
        self._last_depth = None
