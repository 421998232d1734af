"""The HQ HTTP API (FastAPI, OpenAPI at /docs): terminal health, sales, points, pushes."""

# No `from __future__ import annotations`: FastAPI must see the closure's Db alias as a type.

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends, FastAPI, HTTPException, Path, Query
from pydantic import BaseModel, Field

from cloud.api.publisher import Publisher, PublishError
from cloud.api.snapshot import send_snapshot
from cloud.domain.snapshot import SnapshotError
from cloud.store import queries
from cloud.store.db import SCHEMA_VERSION, CloudDB, open_cloud_db, utcnow
from cloud.store.downstream import append_change
from cloud.store.snapshot import build_snapshot
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.errors import BadTopic, Oversized
from protocol.topics import ALL_STORES, STREAMS, down_topic, validate_id

Stream = Literal["catalogue", "prices", "members", "coupons", "config"]
# "staff" is left out on purpose: it changes only through /api/staff, which keeps hashes only.
if set(get_args(Stream)) != set(STREAMS) - {"staff"}:  # otherwise it follows the protocol's
    raise ImportError("cloud.api Stream is out of step with protocol.topics.STREAMS")


class PushRequest(BaseModel):
    """A change HQ sends to one store or to all stores."""

    scope: str = Field(description='"all" or a store id', examples=["all", "S001"])
    kind: Literal["upsert", "delete"] = "upsert"
    items: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


class SnapshotResult(BaseModel):
    """A snapshot sent to one terminal; it loads only once every chunk has arrived."""

    snapshot_id: str
    topic: str
    chunks: int
    items: int
    version: int
    left_out: dict[str, str] = Field(default_factory=dict, description="id -> why not sent")


class PushResult(BaseModel):
    """Where the change went; published=false means stored only (terminals catch up later)."""

    stream: str
    version: int
    scope: str
    topic: str
    published: bool
    detail: str = ""


def _open_once(url: str) -> tuple[Any, Any]:
    """Open lazily and once, so app creation never blocks on the database."""
    lock = threading.Lock()
    holder: list[CloudDB] = []

    def get() -> CloudDB:
        with lock:
            if not holder:
                holder.append(open_cloud_db(url))
            return holder[0]

    def close() -> None:
        with lock:
            for cdb in holder:
                cdb.close()

    return get, close


def create_app(db_url: str, publisher: Publisher) -> FastAPI:
    """Build the API over the cloud database at ``db_url``, pushing through ``publisher``."""
    get_cdb, close_cdb = _open_once(db_url)

    def db() -> Iterator[CloudDB]:
        cdb = get_cdb()
        # peewee keeps one connection per thread; FastAPI runs these handlers in a thread pool.
        cdb.database.connect(reuse_if_open=True)
        try:
            yield cdb
        finally:
            cdb.database.close()

    Db = Annotated[CloudDB, Depends(db)]
    app = FastAPI(
        title="POS cloud HQ API",
        version=f"1.schema{SCHEMA_VERSION}",
        description="Chain-wide sales, member points and terminal health; pushes to stores.",
    )
    app.router.on_shutdown.append(close_cdb)

    @app.get("/api/health")
    def health(cdb: Db) -> dict[str, Any]:
        """Liveness plus a database round trip."""
        cdb.database.execute_sql("SELECT 1").fetchone()
        return {"status": "ok", "schema_version": SCHEMA_VERSION}

    @app.get("/api/terminals")
    def terminals(cdb: Db) -> list[dict[str, Any]]:
        """Every terminal: online, last seen, printer, software, outbox backlog, gaps, flags."""
        return queries.terminals(cdb)

    @app.get("/api/sales")
    def sales(
        cdb: Db,
        store: Annotated[str | None, Query(max_length=32)] = None,
        terminal: Annotated[str | None, Query(max_length=32)] = None,
        date: Annotated[dt.date | None, Query(description="store-local day, YYYY-MM-DD")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> dict[str, Any]:
        """Totals for the filter, and the latest sales and returns."""
        return queries.sales(cdb, store=store, terminal=terminal, day=date, limit=limit)

    @app.get("/api/members/{member_id}/points")
    def member_points(cdb: Db, member_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        """The points ledger and the balance it sums to, plus any over-redemptions."""
        found = queries.member_points(cdb, member_id)
        if found is None:
            raise HTTPException(404, f"no member {member_id!r} and no points recorded for it")
        return found

    @app.get("/api/dead-letters")
    def dead_letters(
        cdb: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        """Messages kept aside as unusable, newest first, with the reason."""
        return queries.dead_letters(cdb, limit)

    @app.post("/api/push/{stream}")
    def push(cdb: Db, stream: Stream, request: PushRequest) -> PushResult:
        """Store a change under the stream's next version, then publish it to the scope."""
        scope = request.scope
        if scope != ALL_STORES:
            try:
                validate_id(scope, "store id")
            except BadTopic as err:
                raise HTTPException(422, str(err)) from err
        now = utcnow()
        sent_at = utc_iso(dt.datetime.now(dt.UTC))
        probe = DownChange(stream=stream, version=1, scope=scope, kind=request.kind,
                           items=request.items, sent_at=sent_at)  # fmt: skip
        try:
            encode_down(probe)
        except Oversized as err:
            raise HTTPException(413, f"change too large for one message: {err}") from err
        with cdb.write():
            version = append_change(cdb, stream, scope, request.kind, request.items, now)
        change = DownChange(stream=stream, version=version, scope=scope, kind=request.kind,
                            items=request.items, sent_at=sent_at)  # fmt: skip
        topic = down_topic(scope, stream)
        try:
            publisher.publish(topic, encode_down(change))
        except PublishError as err:
            # Stored with its version: terminals get it by catch-up once the broker is back.
            return PushResult(stream=stream, version=version, scope=scope, topic=topic,
                              published=False, detail=str(err))  # fmt: skip
        return PushResult(stream=stream, version=version, scope=scope, topic=topic, published=True)

    @app.post("/api/terminals/{terminal_id}/snapshot/{stream}")
    def snapshot(
        cdb: Db,
        terminal_id: Annotated[str, Path(max_length=32)],
        stream: Stream,
        store: Annotated[str | None, Query(max_length=32, description="for a new terminal")] = None,
    ) -> SnapshotResult:
        """Send the stream's full current state to one terminal, in chunks, at its version."""
        known = cdb.models.Terminal.get_or_none(cdb.models.Terminal.terminal_id == terminal_id)
        if known is None:
            if store is None:
                raise HTTPException(404, f"terminal {terminal_id!r} never connected; pass ?store=")
            store_id = store
        elif store is not None and store != known.store_id:
            raise HTTPException(409, f"terminal {terminal_id!r} is in store {known.store_id!r}")
        else:
            store_id = str(known.store_id)
        try:
            validate_id(terminal_id, "terminal id")
            validate_id(store_id, "store id")
            snap = build_snapshot(cdb, stream, store_id)
            sent = send_snapshot(publisher, snap, terminal_id)
        except (BadTopic, SnapshotError) as err:
            raise HTTPException(422, str(err)) from err
        except PublishError as err:
            detail = f"snapshot not sent (the terminal keeps its cache): {err}"
            raise HTTPException(503, detail) from err
        return SnapshotResult(snapshot_id=sent.snapshot_id, topic=sent.topic, chunks=sent.chunks,
                              items=sent.items, version=sent.version,
                              left_out=snap.left_out)  # fmt: skip

    return app
