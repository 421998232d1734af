"""Terminal health merged with the terminal registry: registered, revoked, or never registered."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloud.store import queries
from cloud.store.db import CloudDB


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.UTC).isoformat()


def terminals_with_registry(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every terminal seen or registered, with its health and its registration state.

    ``registration`` is "registered", "revoked" or "unregistered" (it connected, but no
    technician registered it: a terminal from before the registry, or one to look into).
    """
    reg = {r.terminal_id: r for r in cdb.hq.TerminalRegistration.select()}
    out = []
    for t in queries.terminals(cdb):
        r = reg.pop(t["terminal_id"], None)
        out.append({**t, **_registration(r)})
    for r in reg.values():  # registered, never connected yet
        out.append(
            {
                "terminal_id": r.terminal_id,
                "store_id": r.store_id,
                "online": False,
                "last_seen": None,
                "status_at": None,
                "outbox_depth": None,
                "printer": None,
                "software_version": None,
                "clock_synced": None,
                "oldest_unsynced_s": None,
                "stream_versions": {},
                "problem": "",
                "problem_message": None,
                "cert_not_after": None,
                "acked_seq": 0,
                "stored_above_gap": 0,
                "gaps": [],
                "flagged": False,
                "flag_reason": "",
                **_registration(r),
            }
        )
    return sorted(out, key=lambda t: (t["store_id"], t["terminal_id"]))


def _registration(r: Any) -> dict[str, Any]:
    if r is None:
        return {
            "registration": "unregistered",
            "registered_at": None,
            "registered_by": "",
            "cert_sha256": "",
            "cert_serial": "",
            "revoked_at": None,
            "revoke_reason": "",
        }
    return {
        "registration": "revoked" if r.revoked_at else "registered",
        "registered_at": _iso(r.registered_at),
        "registered_by": r.registered_by,
        "cert_sha256": r.cert_sha256,
        "cert_serial": r.cert_serial,
        "revoked_at": _iso(r.revoked_at),
        "revoke_reason": r.revoke_reason,
    }
