"""Peewee models of the HQ console: stores, users, sessions, API tokens, audit, terminal registry.

Built per database like ``cloud.store.models`` (no module-level proxy), and created with
``safe=True`` on every open, so a database made before these tables existed gains them
without a schema-version step; columns added to a table since are listed in ADDED_COLUMNS
and added on open the same way (cloud.store.schema_lock.add_missing_columns).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import peewee as pw

from cloud.store.models import JsonText

#: Columns added to a table after it first shipped: (model attribute, its fields).
ADDED_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("TerminalRegistration", ("cert_valid_from", "cert_valid_until", "cert_replaced_at",
                              "cert_replaced_via", "cert_previous_serial")),
)  # fmt: skip


@dataclass(frozen=True)
class HqModels:
    """The HQ console's model classes bound to one database."""

    Store: Any
    HqUser: Any
    HqSession: Any
    ApiToken: Any
    LoginFailure: Any
    HqAudit: Any
    TerminalRegistration: Any
    WorkerHeartbeat: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]


def build_hq_models(database: pw.Database) -> HqModels:
    """Create the HQ model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    class Store(Base):
        store_id = pw.CharField(primary_key=True, max_length=32)
        name = pw.CharField(max_length=100, default="")
        timezone = pw.CharField(max_length=64, default="Asia/Shanghai")
        # Sales before this local hour count towards the previous business day (late trading).
        day_start_hour = pw.SmallIntegerField(default=0)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "hq_stores"

    class HqUser(Base):
        id = pw.BigAutoField()
        username = pw.CharField(max_length=64, unique=True)
        display_name = pw.CharField(max_length=100, default="")
        password_hash = pw.CharField(max_length=200)
        role = pw.CharField(max_length=16)
        stores = JsonText(default=list)  # store ids a store manager is scoped to
        language = pw.CharField(max_length=8, default="zh_CN")
        active = pw.BooleanField(default=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "hq_users"

    class HqSession(Base):
        token_hash = pw.CharField(primary_key=True, max_length=64)  # sha256 of the cookie
        user_id = pw.BigIntegerField(index=True)
        csrf = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()
        expires_at = pw.DateTimeField()
        ip = pw.CharField(max_length=64, default="")

        class Meta:
            table_name = "hq_sessions"

    class ApiToken(Base):
        id = pw.BigAutoField()
        user_id = pw.BigIntegerField(index=True)
        name = pw.CharField(max_length=100)
        token_hash = pw.CharField(max_length=64, unique=True)
        prefix = pw.CharField(max_length=16)  # shown in lists so a token can be recognised
        created_at = pw.DateTimeField()
        created_by = pw.CharField(max_length=64)
        revoked_at = pw.DateTimeField(null=True)
        last_used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "hq_api_tokens"

    class LoginFailure(Base):
        # Keyed by the name typed, known or not, so probing unknown names is throttled too.
        username = pw.CharField(primary_key=True, max_length=64)
        failures = pw.IntegerField(default=0)
        first_at = pw.DateTimeField()
        locked_until = pw.DateTimeField(null=True)

        class Meta:
            table_name = "hq_login_failures"

    class HqAudit(Base):
        id = pw.BigAutoField()
        at = pw.DateTimeField(index=True)
        username = pw.CharField(max_length=64)
        role = pw.CharField(max_length=16, default="")
        via = pw.CharField(max_length=16, default="")  # session | token | anonymous
        ip = pw.CharField(max_length=64, default="")
        method = pw.CharField(max_length=8)
        path = pw.CharField(max_length=300)
        action = pw.CharField(max_length=64)
        outcome = pw.CharField(max_length=16)  # ok | refused | failed
        detail = JsonText(default=dict)

        class Meta:
            table_name = "hq_audit"

    class TerminalRegistration(Base):
        terminal_id = pw.CharField(primary_key=True, max_length=32)
        store_id = pw.CharField(max_length=32, index=True)
        # The certificate the terminal was last issued (at registration, then each renewal
        # or rotation: cloud.store.registry.follow_certificate), not only the first one.
        cert_sha256 = pw.CharField(max_length=64)
        cert_serial = pw.CharField(max_length=64)
        cert_valid_from = pw.DateTimeField(null=True)  # unknown for registrations made before
        cert_valid_until = pw.DateTimeField(null=True)
        cert_replaced_at = pw.DateTimeField(null=True)  # when HQ learned of the replacement
        cert_replaced_via = pw.CharField(max_length=80, default="")
        cert_previous_serial = pw.CharField(max_length=64, default="")
        registered_at = pw.DateTimeField()
        registered_by = pw.CharField(max_length=64)
        revoked_at = pw.DateTimeField(null=True)
        revoked_by = pw.CharField(max_length=64, default="")
        revoke_reason = pw.CharField(max_length=200, default="")

        class Meta:
            table_name = "hq_terminal_registry"

    class WorkerHeartbeat(Base):
        client_id = pw.CharField(primary_key=True, max_length=64)
        host = pw.CharField(max_length=100, default="")
        pid = pw.IntegerField(default=0)
        started_at = pw.DateTimeField()
        beat_at = pw.DateTimeField()
        connected = pw.BooleanField(default=False)
        last_commit_at = pw.DateTimeField(null=True)
        commits = pw.BigIntegerField(default=0)
        queue_depth = pw.IntegerField(default=0)
        interval_s = pw.FloatField(default=5.0)
        stopped_at = pw.DateTimeField(null=True)  # a clean stop; a kill leaves it empty

        class Meta:
            table_name = "hq_worker_heartbeats"

    return HqModels(
        Store=Store,
        HqUser=HqUser,
        HqSession=HqSession,
        ApiToken=ApiToken,
        LoginFailure=LoginFailure,
        HqAudit=HqAudit,
        TerminalRegistration=TerminalRegistration,
        WorkerHeartbeat=WorkerHeartbeat,
    )
