"""Terminal health merged with the terminal registry, whose certificate follows each renewal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography import x509

from cloud.store import queries
from cloud.store.db import CloudDB
from protocol import enrol


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What HQ records of a terminal's certificate (times naive UTC, as stored)."""

    sha256: str
    serial: str
    valid_from: dt.datetime
    valid_until: dt.datetime

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertFacts:
        """The facts of a parsed certificate."""
        return cls(
            sha256=enrol.fingerprint(cert),
            serial=format(cert.serial_number, "x"),
            valid_from=cert.not_valid_before_utc.replace(tzinfo=None),
            valid_until=cert.not_valid_after_utc.replace(tzinfo=None),
        )


class Followed(Enum):
    """What follow_certificate did with a certificate."""

    REPLACED = "replaced"
    SAME = "same"  # the registration already names it (a retained message read again)
    OLDER = "older"  # issued before the one registered: a stale message, never taken
    UNREGISTERED = "unregistered"
    REVOKED = "revoked"
    OTHER_STORE = "other store"


def follow_certificate(
    cdb: CloudDB,
    store_id: str,
    terminal_id: str,
    cert: CertFacts,
    via: str,
    now: dt.datetime,
) -> tuple[Followed, str]:
    """Make the terminal's registration name cert, unless it is older; (outcome, why), in words.

    Inside a write transaction. A certificate issued before the registered one never replaces
    it, so a stale retained message, read again after a rotation, never winds HQ back. One
    issued in the same second does (certificate times have whole seconds, and a rotation
    right after `terminal add` is one); two ingest workers applying the same message change
    the row once.
    """
    t = cdb.hq.TerminalRegistration
    row = t.get_or_none(t.terminal_id == terminal_id)
    if row is None:
        return Followed.UNREGISTERED, f"terminal {terminal_id} is not registered at HQ"
    if row.store_id != store_id:
        return Followed.OTHER_STORE, f"terminal {terminal_id} is registered to {row.store_id}"
    if row.revoked_at is not None:
        return Followed.REVOKED, f"terminal {terminal_id}'s registration is revoked"
    if row.cert_sha256 == cert.sha256:
        return Followed.SAME, f"terminal {terminal_id} already names certificate {cert.serial}"
    if row.cert_valid_from is not None and cert.valid_from < row.cert_valid_from:
        return Followed.OLDER, (
            f"certificate {cert.serial} was issued {cert.valid_from:%Y-%m-%d %H:%M:%S}, before "
            f"the registered {row.cert_serial} ({row.cert_valid_from:%Y-%m-%d %H:%M:%S})"
        )
    changed = (
        t.update(
            cert_sha256=cert.sha256, cert_serial=cert.serial, cert_valid_from=cert.valid_from,
            cert_valid_until=cert.valid_until, cert_replaced_at=now, cert_replaced_via=via[:80],
            cert_previous_serial=row.cert_serial,
        )
        .where((t.terminal_id == terminal_id) & (t.cert_sha256 == row.cert_sha256))
        .execute()
    )  # fmt: skip
    if not changed:  # another worker replaced it between the read and the write
        return Followed.SAME, f"terminal {terminal_id}'s certificate changed meanwhile"
    return Followed.REPLACED, (
        f"terminal {terminal_id} now names certificate {cert.serial} (ends "
        f"{cert.valid_until:%Y-%m-%d}), replacing {row.cert_serial}"
    )


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.UTC).isoformat()


def _utc(text: Any) -> dt.datetime | None:
    """An ISO time as aware UTC (naive ones are UTC, as stored); None if it is none or odd."""
    try:
        when = dt.datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None  # statuses are checked at ingest; an odd one is no reason to fail a list
    return None if when is None else when.replace(tzinfo=when.tzinfo or dt.UTC)


def presents_other_certificate(t: Mapping[str, Any]) -> bool:
    """Whether the till's status names a certificate ending at another time than the
    registered one (to the second): a copied store file, or a rotation HQ has not heard of."""
    if t.get("registration") != "registered":
        return False
    presented, registered = _utc(t.get("cert_not_after")), _utc(t.get("cert_valid_until"))
    if presented is None or registered is None:
        return False  # a till that predates the field, or a registration without the end
    return abs(presented - registered) >= dt.timedelta(seconds=1)


def terminals_with_registry(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every terminal seen or registered, with its health and its registration state.

    ``registration`` is "registered", "revoked" or "unregistered" (it connected, but no
    technician registered it: a terminal from before the registry, or one to look into).
    ``cert_mismatch`` says the till presents a certificate other than the registered one.
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
                "flag_message": None,
                **_registration(r),
            }
        )
    for t in out:
        t["cert_mismatch"] = presents_other_certificate(t)
    return sorted(out, key=lambda t: (t["store_id"], t["terminal_id"]))


def _registration(r: Any) -> dict[str, Any]:
    if r is None:
        return {
            "registration": "unregistered",
            "registered_at": None,
            "registered_by": "",
            "cert_sha256": "",
            "cert_serial": "",
            "cert_valid_from": None,
            "cert_valid_until": None,
            "cert_replaced_at": None,
            "cert_replaced_via": "",
            "cert_previous_serial": "",
            "revoked_at": None,
            "revoke_reason": "",
        }
    return {
        "registration": "revoked" if r.revoked_at else "registered",
        "registered_at": _iso(r.registered_at),
        "registered_by": r.registered_by,
        "cert_sha256": r.cert_sha256,
        "cert_serial": r.cert_serial,
        "cert_valid_from": _iso(r.cert_valid_from),
        "cert_valid_until": _iso(r.cert_valid_until),
        "cert_replaced_at": _iso(r.cert_replaced_at),
        "cert_replaced_via": r.cert_replaced_via,
        "cert_previous_serial": r.cert_previous_serial,
        "revoked_at": _iso(r.revoked_at),
        "revoke_reason": r.revoke_reason,
    }
