"""HQ's published rule sets: kept by version for good, and pushed on the config stream.

Publishing stores the rule set under the next version (``r<id>``) and appends it to the config
stream in the same transaction, so a version a till can hold is always one the cloud knows
(ingest checks sales against it). A store's own rule set wins over the chain's; withdrawing
it sends that store back to the chain's. Rows are never changed after publishing except to
mark a store rule set withdrawn, so version N means the same figures forever.

The table is this module's own (created by ``ensure_tables``), beside the cloud's models.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

import peewee as pw

from cloud.domain.rulesets import rule_sets
from cloud.store.db import CloudDB, _create_missing
from cloud.store.effects import IngestRules, PendingDown, logged_change
from cloud.store.errors import CloudStoreError
from cloud.store.models import JsonText
from protocol.rules import PublishedRules, RuleSetBody, rules_key
from protocol.rules_check import decode_published, publish, to_plain
from protocol.topics import ALL_STORES

#: How long ingest trusts that a version it looked up does not exist before asking again.
MISS_TTL_S: Final = 10.0


class RulesStoreError(CloudStoreError):
    """A rules change HQ asked for cannot be made; the message says why."""


@dataclass(frozen=True)
class RulesModels:
    """This module's table, bound to one database."""

    RuleSetRow: Any


def rules_models(cdb: CloudDB) -> RulesModels:
    """The rule-set table bound to this cloud database."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = cdb.database

    class RuleSetRow(Base):
        id = pw.BigAutoField()
        version = pw.CharField(max_length=16, unique=True, null=True)  # "r<id>", set at once
        scope = pw.CharField(max_length=32, index=True)  # "all" or a store id
        body = JsonText(default=dict)  # the PublishedRules, as the tills get it
        published_at = pw.DateTimeField()
        published_by = pw.CharField(max_length=64, default="")
        config_version = pw.BigIntegerField(default=0)  # the config stream change carrying it
        withdrawn_at = pw.DateTimeField(null=True)  # a store's own rules, taken back

        class Meta:
            table_name = "rule_set"

    return RulesModels(RuleSetRow)


def ensure_tables(cdb: CloudDB) -> RulesModels:
    """Create the rule-set table if missing (under the schema lock); return it."""
    models = rules_models(cdb)
    _create_missing(cdb.database, [models.RuleSetRow])
    return models


def _published(row: Any) -> PublishedRules:
    return decode_published(row.body)


def publish_rules(
    cdb: CloudDB, body: RuleSetBody, scope: str, who: str, now: dt.datetime
) -> tuple[PublishedRules, PendingDown]:
    """Store ``body`` under the next version and append it to the config stream.

    Run inside the caller's write transaction; publish the returned change after commit.
    """
    m = ensure_tables(cdb).RuleSetRow
    row = m.create(scope=scope, published_at=now, published_by=who[:64])
    rules = publish(body, f"r{row.id}", scope, now.replace(tzinfo=dt.UTC))
    item = {"key": rules_key(scope), "value": to_plain(rules)}
    change = logged_change(cdb, "config", scope, "upsert", [item], now)
    m.update(version=rules.version, body=to_plain(rules), config_version=change.version).where(
        m.id == row.id
    ).execute()
    return rules, change


def withdraw_rules(cdb: CloudDB, store_id: str, now: dt.datetime) -> tuple[str, PendingDown]:
    """Take back a store's own rule set (the store goes back to the chain's); its version."""
    m = ensure_tables(cdb).RuleSetRow
    own = _own(m, store_id)
    if own is None:
        raise RulesStoreError(f"store {store_id!r} has no rule set of its own to withdraw")
    m.update(withdrawn_at=now).where(m.id == own.id).execute()
    item = {"key": rules_key(store_id)}
    return str(own.version), logged_change(cdb, "config", store_id, "delete", [item], now)


def _own(m: Any, scope: str) -> Any:
    query = m.select().where((m.scope == scope) & m.version.is_null(False))
    if scope != ALL_STORES:
        query = query.where(m.withdrawn_at.is_null())
    return query.order_by(m.id.desc()).first()


def in_force(cdb: CloudDB, store_id: str) -> tuple[PublishedRules | None, bool]:
    """The rule set a store's tills use (None: the built-in defaults), and whether it is the
    store's own (else the chain's). ``store_id`` "all" gives the chain's."""
    m = ensure_tables(cdb).RuleSetRow
    if store_id != ALL_STORES:
        own = _own(m, store_id)
        if own is not None:
            return _published(own), True
    chain = _own(m, ALL_STORES)
    return (_published(chain) if chain is not None else None), False


def by_version(cdb: CloudDB, version: str) -> PublishedRules | None:
    """A published rule set by its version."""
    m = ensure_tables(cdb).RuleSetRow
    row = m.get_or_none(m.version == version)
    return _published(row) if row is not None else None


def history(cdb: CloudDB, scopes: Iterable[str] | None, limit: int) -> list[dict[str, Any]]:
    """Published rule sets, newest first (within ``scopes`` if given)."""
    m = ensure_tables(cdb).RuleSetRow
    query = m.select().where(m.version.is_null(False)).order_by(m.id.desc()).limit(limit)
    if scopes is not None:
        query = query.where(m.scope.in_(list(scopes)))
    return [
        {"version": r.version, "scope": r.scope, "published_at": r.published_at,
         "published_by": r.published_by, "config_version": r.config_version,
         "withdrawn_at": r.withdrawn_at, "note": (r.body or {}).get("note", "")}
        for r in query
    ]  # fmt: skip


def published_since(cdb: CloudDB, after_id: int) -> tuple[list[PublishedRules], int]:
    """Rule sets published after row ``after_id``, oldest first, and the newest row id."""
    m = ensure_tables(cdb).RuleSetRow
    rows = list(m.select().where((m.id > after_id) & m.version.is_null(False)).order_by(m.id))
    return [_published(r) for r in rows], max((int(r.id) for r in rows), default=after_id)


class RuleBook:
    """Ingest's copy of every published rule set, topped up when a batch names a new version.

    Versions never change once published, so nothing is ever reloaded: a batch naming a
    version the copy lacks reads the rule sets published since the last read. A version
    that still does not exist (a forged or garbled one) is not looked up again for
    MISS_TTL_S, so such a till cannot make every batch query the database.
    """

    def __init__(self, base: IngestRules) -> None:
        self.rules = base
        self._last_id = 0
        self._missed: dict[str, float] = {}

    def load(self, cdb: CloudDB) -> IngestRules:
        """Read what was published since the last read; the rules with it."""
        found, self._last_id = published_since(cdb, self._last_id)
        if found:
            known = {**rule_sets(found), **self.rules.rule_sets}  # a known version stays
            chain = [r.version for r in found if r.scope == ALL_STORES]
            self.rules = replace(
                self.rules,
                rule_sets=known,
                chain_version=chain[-1] if chain else self.rules.chain_version,
            )
        return self.rules

    def ensure(self, cdb: CloudDB, versions: Iterable[str]) -> IngestRules:
        """The rules, first topped up if any of ``versions`` is not known yet."""
        now = time.monotonic()
        known, missed = self.rules.rule_sets, self._missed
        wanted = {
            v for v in versions
            if v not in known and now - missed.get(v, -MISS_TTL_S) >= MISS_TTL_S
        }  # fmt: skip
        if not wanted:
            return self.rules
        rules = self.load(cdb)
        self._missed = {v: t for v, t in self._missed.items() if now - t < MISS_TTL_S}
        for version in wanted - set(rules.rule_sets):
            self._missed[version] = now
        return rules
