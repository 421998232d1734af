"""Open the cloud database by URL (SQLite file by default, PostgreSQL at scale), schema current."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import peewee as pw
from playhouse import db_url
from playhouse.migrate import SchemaMigrator, migrate

from cloud.store.crm_models import CrmModels, build_crm_models
from cloud.store.crm_models import prepare as prepare_crm
from cloud.store.errors import BadDatabaseUrl, CloudStoreError, SchemaTooNew
from cloud.store.hq_models import ADDED_COLUMNS, HqModels, build_hq_models
from cloud.store.job_models import JobModels, build_job_models
from cloud.store.models import Models, build_models
from cloud.store.pipeline import PipelinedPostgres
from cloud.store.pool import PooledPipelinedPostgres
from cloud.store.remote_models import RemoteModels, build_remote_models
from cloud.store.remote_models import prepare as prepare_remote
from cloud.store.rollup_models import RollupModels, build_rollup_models
from cloud.store.schema_lock import add_missing_columns, schema_change
from cloud.store.segment_models import SegmentModels, build_segment_models
from cloud.store.wal import use_wal

SCHEMA_VERSION: Final = 5
DEFAULT_URL: Final = "sqlite:///var/cloud.db"
#: Environment variable naming the database (a PostgreSQL URL at chain scale).
URL_ENV: Final = "DATABASE_URL"

#: Seconds a request waits for a pooled connection, and a pooled connection's longest life.
POOL_WAIT_S: Final = 30
POOL_STALE_S: Final = 600


def _v1_to_v2(database: pw.Database, models: Models) -> None:
    """Store-file epochs, event status, conflicts and plausibility flags."""
    migrator = SchemaMigrator.from_database(database)
    t, e = models.Terminal, models.Event
    migrate(
        *(migrator.add_column("terminals", name, getattr(t, name))
          for name in ("epoch", "epoch_since", "carry_after", "carry_from", "carry_to")),
        *(migrator.add_column("events", name, getattr(e, name)) for name in ("epoch", "status")),
    )  # fmt: skip
    database.create_tables([models.EventConflict, models.TerminalEpoch, models.EventFlag])
    e.update(status="dead").where(e.dead == True).execute()  # noqa: E712


def _v2_to_v3(database: pw.Database, models: Models) -> None:
    """Member profiles and revisions in the cloud; events know their member."""
    migrator = SchemaMigrator.from_database(database)
    mem, e = models.Member, models.Event
    migrate(
        *(migrator.add_column("members", name, getattr(mem, name))
          for name in ("birthday", "gender", "opt_out_sms", "member_code", "cards", "rev")),
        migrator.add_column("events", "member_id", e.member_id),
        migrator.add_index("events", ("member_id", "terminal_id", "seq"), False),
    )  # fmt: skip


def _v3_to_v4(database: pw.Database, models: Models) -> None:
    """A terminal's flag as a message id with arguments, beside its English."""
    migrator = SchemaMigrator.from_database(database)
    migrate(migrator.add_column("terminals", "flag_message", models.Terminal.flag_message))


def _v4_to_v5(database: pw.Database, models: Models) -> None:
    """A terminal's receipt mark, left unknown (ingest works it out from the stored sales)."""
    migrator = SchemaMigrator.from_database(database)
    migrate(migrator.add_column("terminals", "receipt_mark", models.Terminal.receipt_mark))


#: Migrations from version n to n+1, applied in order on open.
MIGRATIONS: Final[Mapping[int, Callable[[pw.Database, Models], None]]] = MappingProxyType(
    {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5}
)

SQLITE_PRAGMAS: Final = (
    ("busy_timeout", 30_000),  # first: switching a new file to WAL waits for its lock too
    ("journal_mode", "wal"),
    # FULL: a commit is on disk before the ACK leaves, which is the whole point of the ACK.
    ("synchronous", 2),
    ("foreign_keys", 1),
)


def utcnow() -> dt.datetime:
    """Now in UTC as a naive datetime: every stored timestamp is naive UTC on both engines."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class CloudDB:
    """One open cloud database and the models bound to it."""

    database: pw.Database
    models: Models
    url: str
    #: The HQ console's tables and the report rollups (created on open, beside ``models``).
    hq: HqModels = field(init=False)
    rollups: RollupModels = field(init=False)
    #: Job runs, member aliases, points adjustments and imports (cloud.jobs, HQ member admin).
    jobs: JobModels = field(init=False)
    #: Coupons and returned units (tills' requests; cloud.store.remote_models).
    remote: RemoteModels = field(init=False)
    #: RFM runs, birthday gifts, templates, campaigns (cloud.store.segments, engagement).
    segments: SegmentModels = field(init=False)
    #: HQ's customer records: tags, preferences, complaints, notes, erasures (cloud.store.crm).
    crm: CrmModels = field(init=False)

    def __post_init__(self) -> None:
        self.hq = build_hq_models(self.database)
        self.rollups = build_rollup_models(self.database)
        self.jobs = build_job_models(self.database)
        self.remote = build_remote_models(self.database)
        self.segments = build_segment_models(self.database)
        self.crm = build_crm_models(self.database)

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL, where row locks and concurrent writers need care."""
        return isinstance(self.database, pw.PostgresqlDatabase)

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction.

        On SQLite it begins IMMEDIATE, taking the write lock up front: a deferred transaction
        that reads first and writes later can fail outright when another process (the API,
        a second worker) wrote in between, instead of waiting on busy_timeout.
        """
        if self.is_postgres:
            with self.database.atomic():
                yield
        else:
            with self.database.atomic("IMMEDIATE"):
                yield

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement whose result nobody reads, inside the current transaction.

        On PostgreSQL it goes out with the next statement (cloud.store.pipeline), saving a
        round trip; on SQLite it runs now.
        """
        if isinstance(self.database, PipelinedPostgres):
            self.database.defer(sql, params)
        else:
            self.database.execute_sql(sql, params)

    def defer_query(self, query: Any) -> None:
        """``defer`` for a peewee write query (insert, update, delete) built but not run."""
        sql, params = query.sql()
        self.defer(sql, params)

    def flush(self) -> None:
        """Send deferred statements now (before a driver call that bypasses peewee)."""
        if isinstance(self.database, PipelinedPostgres):
            self.database.flush()

    def locking(self, query: Any) -> Any:
        """``query`` FOR UPDATE on PostgreSQL; a SQLite write transaction already excludes."""
        return query.for_update() if self.is_postgres else query

    def close(self) -> None:
        """Close this thread's connection."""
        if not self.database.is_closed():
            self.database.close()


def _make_database(url: str, pool_size: int = 0) -> pw.Database:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise BadDatabaseUrl(f"{url!r}: sqlite URL needs a file path (sqlite:///path/to.db)")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL is switched on after connecting (cloud.store.wal), where a busy file is waited for.
        pragmas = [p for p in SQLITE_PRAGMAS if p[0] != "journal_mode"]
        return pw.SqliteDatabase(path, pragmas=pragmas, returning_clause=True)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            parsed = db_url.connect(url.replace("postgres://", "postgresql://", 1))
        except Exception as err:  # playhouse raises plain exceptions for malformed URLs
            raise BadDatabaseUrl(f"{url!r}: {err}") from err
        if pool_size > 0:
            # A request that finds the pool empty waits for a connection rather than failing.
            return PooledPipelinedPostgres(parsed.database, max_connections=pool_size,
                                           timeout=POOL_WAIT_S, stale_timeout=POOL_STALE_S,
                                           **parsed.connect_params)  # fmt: skip
        return PipelinedPostgres(parsed.database, **parsed.connect_params)
    raise BadDatabaseUrl(
        f"{url!r}: expected sqlite:///path/to.db or postgresql://user@host:port/dbname"
    )


def _schema_version(database: pw.Database, models: Models) -> int | None:
    if not database.table_exists(models.SchemaMeta._meta.table_name):
        return None
    row = models.SchemaMeta.get_or_none(models.SchemaMeta.key == "version")
    return int(row.value) if row else None


#: Key of the PostgreSQL advisory lock that serialises schema changes between processes.
SCHEMA_LOCK: Final = 0x504F53_5343  # "POS" "SC"


def _create_missing(database: pw.Database, models: list[type[pw.Model]]) -> None:
    """Create the tables that do not exist yet; touch nothing when all do.

    CREATE ... IF NOT EXISTS still locks the tables it finds on PostgreSQL, and a second
    ingest worker starting while the first one writes deadlocked on exactly that.
    """
    if {m._meta.table_name for m in models} <= set(database.get_tables()):
        return
    with schema_change(database, SCHEMA_LOCK):
        present = set(database.get_tables())
        database.create_tables([m for m in models if m._meta.table_name not in present])


def _prepare(database: pw.Database, models: Models, url: str) -> None:
    """Create or migrate the schema; refuse a database from a newer version."""
    if _schema_version(database, models) == SCHEMA_VERSION:
        return  # the common case: nothing to change, so no lock taken
    with schema_change(database, SCHEMA_LOCK):
        version = _schema_version(database, models)
        if version is None:
            database.create_tables(models.all(), safe=True)
            models.SchemaMeta.insert(key="version", value=str(SCHEMA_VERSION)).on_conflict(
                conflict_target=[models.SchemaMeta.key],
                update={models.SchemaMeta.value: str(SCHEMA_VERSION)},
            ).execute()
            return
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{url}: schema v{version} was written by newer code; this code knows "
                f"v{SCHEMA_VERSION}"
            )
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](database, models)
            version += 1
            models.SchemaMeta.update(value=str(version)).where(
                models.SchemaMeta.key == "version"
            ).execute()


def configured_url(environ: Mapping[str, str]) -> str:
    """The database the services use: ``DATABASE_URL`` if set and not empty, else SQLite."""
    return environ.get(URL_ENV, "").strip() or DEFAULT_URL


def open_cloud_db(url: str = DEFAULT_URL, pool_size: int = 0) -> CloudDB:
    """Open (creating if needed) the cloud database at ``url`` and bring its schema up to date.

    ``pool_size`` > 0 pools PostgreSQL connections (a server answering many short requests);
    SQLite ignores it (opening a file costs next to nothing).
    """
    database = _make_database(url, pool_size)
    models = build_models(database)
    try:
        database.connect(reuse_if_open=True)
        if isinstance(database, pw.SqliteDatabase):
            use_wal(database)
        _prepare(database, models, url)
        cdb = CloudDB(database=database, models=models, url=url)
        # Imported here: the module writes through cloud.store.bulk, which needs this one.
        from cloud.store import tier_spend

        tier_spend.prepare(cdb)  # before the others: it fills itself from the stored events
        _create_missing(
            database, [*cdb.hq.all(), *cdb.rollups.all(), *cdb.jobs.all(), *cdb.segments.all()]
        )
        for model_name, names in ADDED_COLUMNS:
            add_missing_columns(database, getattr(cdb.hq, model_name), names, SCHEMA_LOCK)
        prepare_remote(database, cdb.remote)
        prepare_crm(database, cdb.crm)
    except CloudStoreError:
        database.close()
        raise
    except pw.PeeweeException as err:
        database.close()
        raise CloudStoreError(f"{url}: cannot open the cloud database: {err}") from err
    except Exception as err:  # driver errors (psycopg2.OperationalError...) are not peewee's
        database.close()
        raise CloudStoreError(f"{url}: cannot open the cloud database: {err}") from err
    return cdb


def table_counts(cdb: CloudDB) -> dict[str, Any]:
    """Row count per table (diagnostics and tests)."""
    return {m._meta.table_name: m.select().count() for m in cdb.models.all()}
