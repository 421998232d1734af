"""Terminals: health and registry (technicians register them), snapshots, ingest workers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Role, Strict, allow
from cloud.api.publisher import PublishError
from cloud.api.reasons import Refused
from cloud.api.routers.pushes import Stream, may_push
from cloud.api.security import Db, Who, audit
from cloud.api.snapshot import send_snapshot
from cloud.domain.snapshot import SnapshotError
from cloud.store import registry, stores, till_cache, workers
from cloud.store.db import utcnow
from cloud.store.snapshot import build_snapshot
from protocol import enrol
from protocol.errors import BadTopic
from protocol.topics import validate_id

TERMINAL_READERS = allow(
    Role.STORE_MANAGER,
    Role.ANALYST,
    Role.TECHNICIAN,
    Role.MARKETING,
    note="store managers: their stores only",
)
TerminalPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class Registration(Strict):
    """A terminal a technician provisioned: its ids and its client certificate."""

    terminal_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", examples=["S001-T03"])
    store_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", examples=["S001"])
    cert_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the DER cert")
    cert_serial: str = Field(pattern=r"^[0-9a-fA-F]{1,64}$", description="serial, hex")
    cert_valid_from: dt.datetime | None = Field(None, description="the certificate's start, UTC")
    cert_valid_until: dt.datetime | None = Field(None, description="the certificate's end, UTC")


class Certificate(Strict):
    """A terminal's new certificate (a technician's rotation), PEM."""

    cert_pem: str = Field(min_length=1, max_length=enrol.MAX_PEM_BYTES)


class Revoke(Strict):
    """Why a terminal's registration is revoked."""

    reason: str = Field(min_length=1, max_length=200)


class SnapshotResult(BaseModel):
    """A snapshot sent to one terminal; it loads only once every chunk has arrived."""

    snapshot_id: str
    topic: str
    chunks: int
    items: int
    version: int
    removes: int = Field(0, description="items the till holds that the snapshot leaves out")
    left_out: dict[str, str] = Field(default_factory=dict, description="id -> why not sent")


def _naive_utc(when: dt.datetime | None) -> dt.datetime | None:
    """A time as stored: naive UTC (a time given without a zone is taken as UTC)."""
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(dt.UTC).replace(tzinfo=None)


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Terminal list, registration, revocation, snapshots, workers."""
    r = PolicyRouter(enforcer, tags=["terminals"])

    @r.get("/api/terminals", policy=TERMINAL_READERS)
    def terminals(
        cdb: Db,
        who: Who,
        store: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    ) -> list[dict[str, Any]]:
        """Every terminal: registration state, online, last seen, printer, software, backlog."""
        scope = who.scope(store)
        return [
            t
            for t in registry.terminals_with_registry(cdb)
            if scope is None or t["store_id"] in scope
        ]

    @r.post(
        "/api/terminals",
        policy=allow(Role.TECHNICIAN),
        status_code=201,
        responses={
            404: {"description": "unknown store"},
            409: {"description": "terminal id taken"},
        },
    )
    def register(cdb: Db, who: Who, request: Request, body: Registration) -> dict[str, Any]:
        """Register a provisioned terminal with its certificate's fingerprint and serial."""
        h = cdb.hq
        with cdb.write():
            if not stores.store_known(cdb, body.store_id):
                raise HTTPException(
                    404,
                    f"unknown store {body.store_id!r}; an admin adds it under /api/stores first",
                )
            if (
                h.TerminalRegistration.get_or_none(
                    h.TerminalRegistration.terminal_id == body.terminal_id
                )
                is not None
            ):
                raise HTTPException(409, f"terminal {body.terminal_id!r} is already registered")
            h.TerminalRegistration.create(
                terminal_id=body.terminal_id,
                store_id=body.store_id,
                cert_sha256=body.cert_sha256.lower(),
                cert_serial=body.cert_serial.lower(),
                cert_valid_from=_naive_utc(body.cert_valid_from),
                cert_valid_until=_naive_utc(body.cert_valid_until),
                registered_at=utcnow(),
                registered_by=who.username,
            )
            audit(cdb, request, "terminal_register", body.model_dump(mode="json"))
        return {**body.model_dump(mode="json"), "state": "registered"}

    @r.put(
        "/api/terminals/{terminal_id}/certificate",
        policy=allow(Role.TECHNICIAN),
        responses={
            404: {"description": "not registered"},
            409: {"description": "revoked, another store's, or older than the registered one"},
            422: {"description": "not a certificate for this terminal (from the fleet's CA)"},
        },
    )
    def replace_certificate(
        cdb: Db, who: Who, request: Request, terminal_id: TerminalPath, body: Certificate
    ) -> dict[str, Any]:
        """Record the certificate a rotation gave the terminal (renewals arrive through ingest)."""
        ca = request.app.state.ctx.settings.fleet_ca
        try:
            cert = enrol.read_issued(body.cert_pem.encode(), terminal_id, ca)
        except enrol.EnrolError as err:
            raise HTTPException(422, str(err)) from None
        t = cdb.hq.TerminalRegistration
        with cdb.write():
            row = t.get_or_none(t.terminal_id == terminal_id)
            if row is None:
                raise HTTPException(404, f"terminal {terminal_id!r} is not registered")
            facts = registry.CertFacts.of(cert)
            done, why = registry.follow_certificate(
                cdb,
                row.store_id,
                terminal_id,
                facts,
                f"technician {who.username}",
                utcnow(),
            )
            if done not in (registry.Followed.REPLACED, registry.Followed.SAME):
                raise HTTPException(409, why)
            audit(cdb, request, "terminal_certificate",
                  {"terminal_id": terminal_id, "cert_serial": facts.serial,
                   "cert_sha256": facts.sha256, "outcome": done.value})  # fmt: skip
        return {"terminal_id": terminal_id, "cert_serial": facts.serial,
                "cert_sha256": facts.sha256, "state": done.value}  # fmt: skip

    @r.post("/api/terminals/{terminal_id}/revoke", policy=ADMIN_ONLY)
    def revoke(
        cdb: Db, who: Who, request: Request, terminal_id: TerminalPath, body: Revoke
    ) -> dict[str, Any]:
        """Mark a registration revoked (the broker's CRL is the provisioning tool's job)."""
        t = cdb.hq.TerminalRegistration
        with cdb.write():
            n = (
                t.update(revoked_at=utcnow(), revoked_by=who.username, revoke_reason=body.reason)
                .where((t.terminal_id == terminal_id) & t.revoked_at.is_null())
                .execute()
            )
            if not n:
                raise HTTPException(404, f"no registered, unrevoked terminal {terminal_id!r}")
            audit(
                cdb, request, "terminal_revoke", {"terminal_id": terminal_id, "reason": body.reason}
            )
        return {"terminal_id": terminal_id, "state": "revoked", "reason": body.reason}

    @r.post(
        "/api/terminals/{terminal_id}/snapshot/{stream}",
        policy=allow(Role.MARKETING, note="marketing: members and coupons only"),
        responses={409: {"description": "would empty much of the till; pass force"}},
    )
    def snapshot(
        cdb: Db,
        who: Who,
        request: Request,
        terminal_id: TerminalPath,
        stream: Stream,
        store: Annotated[str | None, Query(max_length=32, description="for a new terminal")] = None,
        force: Annotated[
            bool, Query(description="send even if it removes much of the cache")
        ] = False,
    ) -> SnapshotResult:
        """Send the stream's full current state to one terminal, in chunks, at its version."""
        may_push(who, stream)
        known = cdb.models.Terminal.get_or_none(cdb.models.Terminal.terminal_id == terminal_id)
        if known is None:
            if store is None:
                raise HTTPException(404, f"terminal {terminal_id!r} never connected; pass ?store=")
            store_id, applied = store, {}
        elif store is not None and store != known.store_id:
            raise HTTPException(409, f"terminal {terminal_id!r} is in store {known.store_id!r}")
        else:
            store_id = str(known.store_id)
            applied = (known.status or {}).get("stream_versions", {})
        try:
            validate_id(terminal_id, "terminal id")
            validate_id(store_id, "store id")
            snap = build_snapshot(cdb, stream, store_id)
            cached = till_cache.cached_keys(cdb, stream, store_id, applied)
            gone = till_cache.removal(cached, snap.items, stream)
            limit = request.app.state.ctx.settings.max_snapshot_removal_share
            if gone.share > limit and not force:
                raise HTTPException(
                    409,
                    f"this {stream} snapshot would remove {gone.removed} of "
                    f"the {gone.cached} items terminal {terminal_id} holds "
                    f"(more than {limit:.0%}); send it with force=true "
                    "if that is intended",
                )
            sent = send_snapshot(request.app.state.ctx.publisher, snap, terminal_id)
        except (BadTopic, SnapshotError) as err:
            raise HTTPException(422, str(err)) from err
        except PublishError as err:
            raise Refused(
                503, "snapshot not sent (the terminal keeps its cache): %(reason)s", reason=err
            ) from err
        with cdb.write():
            audit(
                cdb,
                request,
                "snapshot",
                {
                    "terminal_id": terminal_id,
                    "stream": stream,
                    "items": sent.items,
                    "removes": gone.removed,
                    "force": force,
                },
            )
        return SnapshotResult(
            snapshot_id=sent.snapshot_id,
            topic=sent.topic,
            chunks=sent.chunks,
            items=sent.items,
            version=sent.version,
            removes=gone.removed,
            left_out=snap.left_out,
        )

    @r.get("/api/workers", policy=allow(Role.ANALYST))
    def ingest_workers(cdb: Db) -> list[dict[str, Any]]:
        """Each ingest worker's heartbeat: state (ok, idle, stale, stopped), last commit, queue."""
        return workers.worker_states(cdb, dt.datetime.now(dt.UTC).replace(tzinfo=None))

    return r
