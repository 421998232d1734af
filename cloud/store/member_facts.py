"""The member facts the cloud pushes to tills, each saying which of every till's seqs it includes.

The cloud is the authority on a member's points, spend, tier, returns and profile. A till holds
the cloud's value plus its own deltas the value does not include yet. So every pushed item
carries ``asof``: for each till that ever recorded an event for the member, the till's
contiguous mark (every seq up to it is included) and the seqs above the mark the cloud has
already applied (a later batch committed before an earlier one). A till rebases with its
own entry; a till missing from ``asof`` has nothing of its own included. ``rev`` counts the
member's pushes, so a till applies facts only if they are newer than what it holds, whatever
order the messages arrive in.

Everything here runs inside the ingest transaction that changed the members, after the
terminal's mark is written and while the members' rows are locked: another batch touching
the same member waits, so the value and the marks agree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

from cloud.domain.rulesets import tier_policy
from cloud.domain.tier_review import TierPolicy
from cloud.store import rules as rules_store
from cloud.store import tier_spend
from cloud.store.db import CloudDB
from cloud.store.downstream import append_linked_change
from cloud.store.effects import PendingDown
from protocol.topics import ALL_STORES

#: Members per pushed change (one message stays well inside the downstream size limit).
ITEMS_PER_CHANGE: Final = 200
RETURNS_WINDOW_DAYS: Final = 30


#: Each member's tills by a skip scan of the (member_id, terminal_id, seq) index: one probe per
#: till, however many events the member has (grouping their events read every one of them),
#: then each till's mark and the member's seqs above it. ``{above}`` joins those seqs: it must
#: probe the same index per (member, till), never read the events table whole.
_ASOF_SQL: Final = """
WITH RECURSIVE ids(mid) AS (VALUES {values}),
tills(member_id, terminal_id) AS (
  SELECT mid, (SELECT MIN(e.terminal_id) FROM events e WHERE e.member_id = mid) FROM ids
  UNION ALL
  SELECT t.member_id, (SELECT MIN(e.terminal_id) FROM events e
                       WHERE e.member_id = t.member_id AND e.terminal_id > t.terminal_id)
  FROM tills t WHERE t.terminal_id IS NOT NULL
)
SELECT t.member_id, t.terminal_id, k.high_water, a.seq
FROM tills t JOIN terminals k ON k.terminal_id = t.terminal_id
{above}
ORDER BY t.member_id, t.terminal_id, a.seq
"""

#: SQLite joins by nested loops over the index anyway.
_ABOVE_SQLITE: Final = """LEFT JOIN events a
  ON a.member_id = t.member_id AND a.terminal_id = t.terminal_id AND a.seq > k.high_water"""

#: PostgreSQL would plan a plain join as a sort of the whole events table (milliseconds per
#: batch, growing with history), so the probe is LATERAL, kept from being flattened back into
#: a plain join by OFFSET 0. A till whose max_seq is not above its mark holds no event above
#: the mark at all (every writer of events raises max_seq to the seqs it stores), so its probe
#: is skipped: the usual case, tills that sent in order.
_ABOVE_POSTGRES: Final = """LEFT JOIN LATERAL (
  SELECT e.seq FROM events e
  WHERE k.max_seq > k.high_water AND e.member_id = t.member_id
    AND e.terminal_id = t.terminal_id AND e.seq > k.high_water
  OFFSET 0
) a ON TRUE"""


def _asof(cdb: CloudDB, ids: Sequence[str]) -> dict[str, dict[str, list[Any]]]:
    # Any status: a held or dead event is ruled on (counted as nothing) like any other.
    param = cdb.database.param
    sql = _ASOF_SQL.format(
        values=", ".join([f"({param})"] * len(ids)),
        above=_ABOVE_POSTGRES if cdb.is_postgres else _ABOVE_SQLITE,
    )
    out: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for member_id, terminal_id, high_water, seq in cdb.database.execute_sql(sql, list(ids)):
        entry = out[member_id].setdefault(terminal_id, [int(high_water), []])
        if seq is not None:
            entry[1].append(int(seq))
    return out


#: The member columns a push reads, in the order _MEMBERS_SQL selects them.
_MEMBER_COLUMNS: Final = ("member_id", "rev", "tier", "cumulative_spend_fen", "phone", "name",
                          "opt_out_sms", "gender", "birthday", "member_code", "cards")  # fmt: skip

#: The members to push with their points balance (a sum over their ledger) and returns in the
#: window, in one statement: one round trip on PostgreSQL, where it took three queries. A
#: member whose personal data was erased was dropped from the tills and is never pushed again.
_MEMBERS_SQL: Final = """
SELECT {columns},
  (SELECT SUM(l.delta) FROM points_ledger l WHERE l.member_id = m.member_id),
  (SELECT COUNT(*) FROM events e WHERE e.member_id = m.member_id AND e.type = 'return'
     AND e.status = 'ok' AND e.business_day >= {p})
FROM members m
WHERE m.member_id IN ({ids}) AND m.member_id NOT IN (SELECT member_id FROM member_erasures)
ORDER BY m.member_id
"""


def _members(cdb: CloudDB, ids: Sequence[str], today: dt.date) -> list[tuple[Any, int, int]]:
    """(member, points balance, returns in RETURNS_WINDOW_DAYS) of the live members in ``ids``."""
    m = cdb.models
    p = cdb.database.param
    sql = _MEMBERS_SQL.format(columns=", ".join(f"m.{c}" for c in _MEMBER_COLUMNS), p=p,
                              ids=", ".join([p] * len(ids)))  # fmt: skip
    since = m.Event.business_day.db_value(today - dt.timedelta(days=RETURNS_WINDOW_DAYS))
    fields = [getattr(m.Member, c) for c in _MEMBER_COLUMNS]
    out = []
    for row in cdb.database.execute_sql(sql, [since, *ids]):
        member = m.Member(**{f.name: f.python_value(v) for f, v in zip(fields, row, strict=False)})
        out.append((member, int(row[-2] or 0), int(row[-1] or 0)))
    return out


def chain_policy(cdb: CloudDB) -> TierPolicy:
    """How the chain's rules in force earn tiers (the built-in defaults when none)."""
    return tier_policy(rules_store.in_force(cdb, "all")[0])


def items(
    cdb: CloudDB, member_ids: Sequence[str], now: dt.datetime, *, bump: bool = True,
    policy: TierPolicy | None = None, today: dt.date | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The current facts of these members; with ``bump``, each with its next ``rev``.

    A push bumps (a change happened); a snapshot sends the current revision as it stands.
    ``cumulative_spend_fen`` is the spend that counts for the tier under ``policy`` (the
    chain's rules in force when not given): within its window ending ``today``, or since
    joining. A till upgrades by that figure plus its own uncounted sales, so it lifts a
    member exactly when the cloud would, and never by spend the tier review judged too old.
    """
    ids = sorted(set(member_ids))
    if not ids:
        return []
    m = cdb.models
    if bump:
        cdb.defer_query(m.Member.update(rev=m.Member.rev + 1).where(m.Member.member_id.in_(ids)))
    asof = _asof(cdb, ids)
    policy = policy or chain_policy(cdb)
    windowed: dict[str, int] | None = None
    if policy.basis == "spend" and policy.window_days:
        windowed = tier_spend.measures(cdb, ids, today or now.date(), policy)
    out = []
    for member, balance, returns in _members(cdb, ids, now.date()):
        item: dict[str, Any] = {
            "member_id": member.member_id, "rev": int(member.rev), "tier": member.tier,
            "points_balance": balance,
            "cumulative_spend_fen": int(member.cumulative_spend_fen) if windowed is None
            else max(0, windowed[member.member_id]),
            "returns_30d": returns,
            "asof": asof.get(member.member_id, {}),
        }  # fmt: skip
        if member.phone:  # profile fields only when the cloud has them: a push never erases
            item.update(
                phone=member.phone, name=member.name or "",
                opt_out_sms=bool(member.opt_out_sms), gender=member.gender or "",
            )  # fmt: skip
            if member.birthday is not None:
                item["birthday"] = member.birthday.isoformat()
            if member.member_code:
                item["member_code"] = member.member_code
            if member.cards:
                item["cards"] = list(member.cards)
        out.append(item)
    return out


def push(
    cdb: CloudDB, member_ids: Sequence[str], now: dt.datetime, scope: str = ALL_STORES,
    *, policy: TierPolicy | None = None, today: dt.date | None = None,
) -> list[PendingDown]:  # fmt: skip
    """Log the members' new facts as member changes (to publish once committed)."""
    facts = items(cdb, member_ids, now, policy=policy, today=today)
    down = []
    for chunk in [facts[i : i + ITEMS_PER_CHANGE] for i in range(0, len(facts), ITEMS_PER_CHANGE)]:
        version, previous = append_linked_change(cdb, "members", scope, "upsert", chunk, now)
        down.append(PendingDown("members", version, scope, "upsert", chunk, previous))
    return down
