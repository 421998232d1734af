"""Published rule sets in the cloud (SQLite and PostgreSQL): versions kept, ingest topped up.

Ingest learns a version the moment a batch names it, and upgrades tiers by the thresholds of
the version the sale was priced with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from cloud.domain.tiers import TierThresholds
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store import rules as rules_store
from cloud.store.apply import BatchOutcome, IngestRules, apply_batch
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.downstream import changes_since
from protocol.envelope import Envelope
from protocol.rules import default_rules
from protocol.rules_check import decode_body, to_plain
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body

NOW = dt.datetime(2026, 6, 1, 2, 0)


def body(silver: int = 200_000, gold: int = 500_000, basis: str = "spend") -> Any:
    plain = to_plain(default_rules())
    plain["tiers"]["basis"] = basis
    plain["tiers"]["levels"][1]["threshold"] = silver
    plain["tiers"]["levels"][2]["threshold"] = gold
    return decode_body(plain)


def publish(cdb: CloudDB, scope: str = "all", **kw: Any) -> str:
    with cdb.write():
        rules, _ = rules_store.publish_rules(cdb, body(**kw), scope, "admin", NOW)
    return rules.version


def _apply(cdb: CloudDB, envs: Sequence[Envelope], rules: IngestRules) -> BatchOutcome:
    topic = events_topic(envs[0].store_id, envs[0].terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    return apply_batch(cdb, store_id=decoded.store_id, terminal_id=decoded.terminal_id,
                       events=decoded.events, topic=topic, rules=rules)  # fmt: skip


def _sale(seq: int, member: str, fen: int, version: str) -> Envelope:
    return envelope("S001-T01", seq, {**sale_body([("A", 1, fen)], member_id=member),
                                      "rules_version": version})  # fmt: skip


def test_versions_are_kept_in_order_and_a_store_set_falls_back_when_withdrawn(
    cloud_db: CloudDB,
) -> None:
    assert rules_store.in_force(cloud_db, "S001") == (None, False)
    assert publish(cloud_db) == "r1"
    assert publish(cloud_db, "S001", silver=100_000) == "r2"
    found, own = rules_store.in_force(cloud_db, "S001")
    assert found is not None and (found.version, own) == ("r2", True)
    assert rules_store.in_force(cloud_db, "S002")[0].version == "r1"  # type: ignore[union-attr]
    with cloud_db.write():
        withdrawn, change = rules_store.withdraw_rules(cloud_db, "S001", NOW)
    assert (withdrawn, change.kind, change.items) == ("r2", "delete", [{"key": "rules:S001"}])
    assert rules_store.in_force(cloud_db, "S001")[0].version == "r1"  # type: ignore[union-attr]
    # Every change is on the config stream, in order, each store seeing its own and the chain's.
    seen = [(c["version"], c["kind"], c["items"][0]["key"])
            for c in changes_since(cloud_db, "config", "S001", 0)]  # fmt: skip
    assert seen == [(1, "upsert", "rules"), (2, "upsert", "rules:S001"),
                    (3, "delete", "rules:S001")]  # fmt: skip
    assert [c["version"] for c in changes_since(cloud_db, "config", "S002", 0)] == [1]
    # Withdrawn or not, a version keeps its figures for the sales that name it.
    r2 = rules_store.by_version(cloud_db, "r2")
    assert r2 is not None and r2.tiers.levels[1].threshold == 100_000


def test_ingest_learns_a_new_version_when_a_batch_names_it_and_upgrades_by_it(
    cloud_url: str,
) -> None:
    api = open_cloud_db(cloud_url)
    ingest = open_cloud_db(cloud_url)
    try:
        book = rules_store.RuleBook(IngestRules(thresholds=TierThresholds(200_000, 500_000)))
        assert set(book.load(ingest).rule_sets) == {""}
        r1 = publish(api, silver=50_000, gold=80_000)
        rules = book.ensure(ingest, {r1})
        assert r1 in rules.rule_sets
        # ¥600 under r1 makes silver (threshold ¥500); the same under the defaults would not.
        _apply(ingest, [_sale(1, "M1", 60_000, r1)], rules)
        _apply(ingest, [_sale(2, "M2", 60_000, "")], rules)
        m = ingest.models
        tiers = {r.member_id: r.tier for r in m.Member.select()}
        assert tiers == {"M1": "silver", "M2": "regular"}
        assert m.EventFlag.select().count() == 0
        # A version nobody published is held, and not looked up again at once.
        held = _apply(ingest, [_sale(3, "M3", 1000, "r99")], book.ensure(ingest, {"r99"}))
        assert held.held == [3]
        r2 = publish(api, basis="visits")
        assert r2 not in book.ensure(ingest, {"r99"}).rule_sets  # no new read yet
        assert r2 in book.ensure(ingest, {r2}).rule_sets
        # Tiers by visits (r2 keeps the spend thresholds as visit counts): one visit is not 200,000.
        _apply(ingest, [_sale(4, "M4", 900_000, r2)], book.rules)
        assert m.Member.get(m.Member.member_id == "M4").tier == "regular"
    finally:
        api.close()
        ingest.close()


def test_a_store_without_its_own_rules_has_nothing_to_withdraw(cloud_db: CloudDB) -> None:
    publish(cloud_db)
    refused = pytest.raises(rules_store.RulesStoreError, match="no rule set of its own")
    with refused, cloud_db.write():
        rules_store.withdraw_rules(cloud_db, "S002", NOW)
    assert [c["version"] for c in changes_since(cloud_db, "config", "S002", 0)] == [1]


def test_a_stores_own_rules_named_by_another_stores_till_are_held(cloud_url: str) -> None:
    # S001's own rules make silver at ¥500; only S001's tills are pushed them, so a sale
    # from S002 priced "with" them is a forgery (or a till in the wrong store): held.
    api, ingest = open_cloud_db(cloud_url), open_cloud_db(cloud_url)
    try:
        book = rules_store.RuleBook(IngestRules(thresholds=TierThresholds(200_000, 500_000)))
        own = publish(api, scope="S001", silver=50_000, gold=80_000)
        rules = book.ensure(ingest, {own})
        other = envelope("S002-T01", 1, {**sale_body([("A", 1, 60_000)], member_id="M2"),
                                         "rules_version": own})  # fmt: skip
        assert _apply(ingest, [other], rules).held == [1]
        assert _apply(ingest, [_sale(1, "M1", 60_000, own)], rules).held == []
        m = ingest.models
        assert {r.member_id: r.tier for r in m.Member.select()} == {"M1": "silver"}
        [flag] = m.EventFlag.select()
        assert flag.reasons == [f"rules version {own!r} is store S001's own, not S002's"]
    finally:
        api.close()
        ingest.close()
