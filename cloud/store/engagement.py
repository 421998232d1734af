"""Birthdays, birthday gifts, message templates, campaign audiences, exports and the message queue.

Every path that hands out members for a message (the CSV export, the JSON-lines export, the
gateway queue) takes its rows from ``audience``, whose query leaves out members who opted
out of messages, members without a phone and merged duplicates; nothing else selects
recipients, so no path can forget the opt-out.

Birthday gifts are recorded once per member and year under a unique key before anything is
issued, so two runs on one day (or two schedulers racing) give one gift.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import peewee as pw

from cloud.domain import engagement, rfm
from cloud.domain.crm import CrmRuleError, clean_tags
from cloud.store import coupons, member_facts
from cloud.store.bulk import insert_rows
from cloud.store.db import CloudDB
from cloud.store.effects import LEDGER_COLUMNS, PendingDown
from cloud.store.errors import CloudStoreError
from cloud.store.segments import latest_run

#: Ledger origin of a birthday points gift (":" keeps it apart from every terminal id).
GIFT_ORIGIN: Final = "hq:birthday"
#: Rows fetched per round trip while streaming an export.
FETCH = 10_000


class EngagementError(CloudStoreError):
    """An engagement request that cannot be met; ``str(err)`` says why."""


# ---- birthdays -----------------------------------------------------------------------------


def _month_day_sql(cdb: CloudDB) -> str:
    if cdb.is_postgres:
        return "to_char(birthday, 'MM-DD')"
    return "strftime('%m-%d', birthday)"


def _with_birthday(cdb: CloudDB, pairs: Sequence[tuple[int, int]], extra: str = "") -> Any:
    keys = sorted({f"{m:02d}-{d:02d}" for m, d in pairs})
    marks = ", ".join([cdb.database.param] * len(keys))
    return cdb.database.execute_sql(
        "SELECT member_id, name, phone, tier, home_store, birthday, opt_out_sms FROM members "
        f"WHERE birthday IS NOT NULL AND duplicate_of IS NULL "
        f"AND {_month_day_sql(cdb)} IN ({marks}) {extra} ORDER BY member_id",
        keys,
    )


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def birthdays(
    cdb: CloudDB, today: dt.date, days: int, stores: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Members whose birthday falls in ``today`` .. ``today + days - 1``, soonest first."""
    out = []
    year_gifts = _gifted(cdb, {today.year, (today + dt.timedelta(days=days)).year})
    for member, name, phone, tier, store, born, opt_out in _with_birthday(
        cdb, list(engagement.month_days(today, days))
    ).fetchall():
        if stores is not None and store not in stores:
            continue
        on = engagement.next_birthday(_date(born), today)
        out.append({
            "member_id": member, "name": name, "phone": phone, "tier": tier,
            "home_store": store, "birthday": str(_date(born))[5:], "on": str(on),
            "in_days": (on - today).days, "opt_out_sms": bool(opt_out),
            "gift": year_gifts.get((member, on.year)),
        })  # fmt: skip
    return sorted(out, key=lambda x: (x["in_days"], x["member_id"]))


def _gifted(cdb: CloudDB, years: set[int]) -> dict[tuple[str, int], dict[str, Any]]:
    g = cdb.segments.BirthdayGift
    return {
        (r.member_id, r.year): {"kind": r.kind, "value": r.value, "coupon_code": r.coupon_code,
                                "issued_at": str(r.issued_at)}
        for r in g.select().where(g.year.in_(sorted(years)))
    }  # fmt: skip


@dataclass
class GiftOutcome:
    """What one issuing pass did."""

    issued: list[dict[str, Any]] = field(default_factory=list)
    already: int = 0
    no_gift: int = 0  # members whose tier carries no birthday gift
    down: list[PendingDown] = field(default_factory=list)


def coupon_code(member_id: str, year: int) -> str:
    """The birthday coupon's code: stable per member and year (a retry names the same one)."""
    digest = hashlib.sha256(f"{member_id}\x00{year}".encode()).hexdigest()[:12].upper()
    return f"BD{year}-{digest}"


def issue_gifts(
    cdb: CloudDB, today: dt.date, gifts: Mapping[str, Any], run_id: int, now: dt.datetime,
    scope: str, *, dry_run: bool = False,
) -> GiftOutcome:  # fmt: skip
    """Give today's birthday members their tier's gift, once per year. In a write transaction.

    ``gifts`` maps a tier to its protocol.rules.BirthdayGift (absent: that tier has none).
    ``dry_run``: list who would get what, write nothing.
    """
    out = GiftOutcome()
    g = cdb.segments.BirthdayGift
    due = _with_birthday(cdb, list(engagement.month_days(today, 1))).fetchall()
    points_members: list[str] = []
    new_coupons: list[dict[str, Any]] = []
    for member, _name, _phone, tier, _store, born, _opt in due:
        gift = gifts.get(tier)
        if gift is None:
            out.no_gift += 1
            continue
        if engagement.birthday_in(today.year, _date(born)) != today:
            continue  # 29 Feb matched on 28 Feb of a leap year: not its day
        code = "" if gift.kind == "points" else coupon_code(member, today.year)
        if g.select().where((g.member_id == member) & (g.year == today.year)).exists():
            out.already += 1
            continue
        if dry_run:
            out.issued.append({"member_id": member, "tier": tier, "kind": gift.kind,
                               "value": gift.value, "coupon_code": code})  # fmt: skip
            continue
        # The unique key settles a race with another run: the loser inserts nothing.
        row_id = (
            g.insert(member_id=member, year=today.year, birthday_on=today, tier=tier,
                     kind=gift.kind, value=gift.value, coupon_code=code, run_id=run_id,
                     issued_at=now)
            .on_conflict_ignore()
            .execute()
        )  # fmt: skip
        if not row_id:
            out.already += 1
            continue
        if gift.kind == "points":
            row = (member, gift.value, "adjust", "", GIFT_ORIGIN, int(row_id), 0, str(now))
            insert_rows(cdb, "points_ledger", LEDGER_COLUMNS, [row])
            points_members.append(member)
        else:
            new_coupons.append({
                "code": code, "kind": "amount" if gift.kind == "amount_coupon" else "percent",
                "value": gift.value, "min_spend_fen": gift.min_spend_fen, "member_id": member,
                "valid_from": today.isoformat(),
                "valid_until": (today + dt.timedelta(days=gift.valid_days - 1)).isoformat(),
                "stores": [], "max_uses": 1, "note": "birthday gift",
            })  # fmt: skip
        out.issued.append({"member_id": member, "tier": tier, "kind": gift.kind,
                           "value": gift.value, "coupon_code": code})  # fmt: skip
    if new_coupons:
        out.down += coupons.issue(cdb, new_coupons, "hq:birthday", now)
    if points_members:
        out.down += member_facts.push(cdb, points_members, now, scope)
    return out


# ---- templates -----------------------------------------------------------------------------


def templates(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every template kind in both languages: HQ's text where saved, else the default."""
    t = cdb.segments.MessageTemplate
    saved = {(r.kind, r.lang): r for r in t.select()}
    out = []
    for kind in engagement.KINDS:
        for lang in engagement.TEMPLATE_LANGUAGES:
            row = saved.get((kind, lang))
            out.append({
                "kind": kind, "lang": lang,
                "text": row.text if row else engagement.DEFAULT_TEMPLATES[(kind, lang)],
                "default": row is None, "updated_by": row.updated_by if row else "",
            })  # fmt: skip
    return out


def template_text(cdb: CloudDB, kind: str, lang: str) -> str:
    """The text used for ``kind`` in ``lang``."""
    t = cdb.segments.MessageTemplate
    row = t.get_or_none((t.kind == kind) & (t.lang == lang))
    return row.text if row else engagement.DEFAULT_TEMPLATES[(kind, lang)]


def save_template(
    cdb: CloudDB, kind: str, lang: str, text: str, who: str, now: dt.datetime
) -> None:
    """Store HQ's text for a template (checked first: TemplateError names the problem)."""
    engagement.check_template(text)
    t = cdb.segments.MessageTemplate
    t.insert(kind=kind, lang=lang, text=text, updated_at=now, updated_by=who[:64]).on_conflict(
        conflict_target=[t.kind, t.lang],
        update={t.text: text, t.updated_at: now, t.updated_by: who[:64]},
    ).execute()


# ---- campaigns and their audiences ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a campaign reaches: a segment of the newest RFM run and/or a filter.

    ``member_ids`` narrows to a given set (a tag lookup's result, a list from elsewhere).
    """

    segment: str | None = None
    tiers: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    min_spend_fen: int | None = None
    member_ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()  # every one of them (as stored: cloud.domain.crm.clean_tag)

    def plain(self) -> dict[str, Any]:
        """As stored with the campaign."""
        ids = None if self.member_ids is None else list(self.member_ids)
        return {"segment": self.segment, "tiers": list(self.tiers), "stores": list(self.stores),
                "min_spend_fen": self.min_spend_fen, "member_ids": ids,
                "tags": list(self.tags)}  # fmt: skip

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Audience:
        """From the stored form."""
        ids = raw.get("member_ids")
        return cls(segment=raw.get("segment"), tiers=tuple(raw.get("tiers") or ()),
                   stores=tuple(raw.get("stores") or ()), min_spend_fen=raw.get("min_spend_fen"),
                   member_ids=None if ids is None else tuple(ids),
                   tags=tuple(raw.get("tags") or ()))  # fmt: skip


def _audience_query(cdb: CloudDB, audience: Audience) -> tuple[str, list[Any]]:
    p = cdb.database.param
    # The opt-out and phone conditions come first and are not optional: every path reads here.
    where = ["mb.opt_out_sms = " + ("false" if cdb.is_postgres else "0"),
             "mb.phone <> ''", "mb.duplicate_of IS NULL"]  # fmt: skip
    args: list[Any] = []
    join = ""
    if audience.segment is not None:
        if audience.segment not in rfm.LABELS:
            raise EngagementError(
                "no segment %(segment)r; one of %(segments)s", segment=audience.segment,
                segments=", ".join(rfm.LABELS),
            )  # fmt: skip
        run = latest_run(cdb)
        if run is None:
            raise EngagementError("no segments yet: run the rfm_segments job first")
        join = f"JOIN crm_member_rfm r ON r.member_id = mb.member_id AND r.run_id = {p} "
        args.append(int(run.run_id))
        where.append(f"r.label = {p}")
        args.append(audience.segment)
    if audience.tiers:
        where.append(f"mb.tier IN ({', '.join([p] * len(audience.tiers))})")
        args += list(audience.tiers)
    if audience.stores:
        where.append(f"mb.home_store IN ({', '.join([p] * len(audience.stores))})")
        args += list(audience.stores)
    if audience.min_spend_fen is not None:
        where.append(f"mb.cumulative_spend_fen >= {p}")
        args.append(int(audience.min_spend_fen))
    if audience.member_ids is not None:
        if not audience.member_ids:
            where.append("1 = 0")
        else:
            where.append(f"mb.member_id IN ({', '.join([p] * len(audience.member_ids))})")
            args += list(audience.member_ids)
    if audience.tags:  # members carrying every tag (HQ's and the sales guides' tags)
        try:
            wanted = clean_tags(audience.tags)
        except CrmRuleError as err:
            raise EngagementError.like(err) from err
        where.append(
            f"mb.member_id IN (SELECT member_id FROM member_tags WHERE tag IN "
            f"({', '.join([p] * len(wanted))}) GROUP BY member_id HAVING COUNT(tag) = {p})"
        )
        args += [*wanted, len(wanted)]
    sql = (
        "SELECT mb.member_id, mb.phone, mb.name, mb.tier, mb.home_store FROM members mb "
        f"{join}WHERE {' AND '.join(where)} ORDER BY mb.member_id"
    )
    return sql, args


def audience_rows(cdb: CloudDB, audience: Audience) -> Iterator[tuple[str, str, str, str, str]]:
    """The recipients, in member order, fetched in rounds (never all in memory at once)."""
    sql, args = _audience_query(cdb, audience)
    if not cdb.is_postgres:  # sqlite3 steps through the result as it is fetched
        cursor = cdb.database.execute_sql(sql, args)
        while rows := cursor.fetchmany(FETCH):
            yield from rows
        return
    # psycopg2's plain cursor would pull every row into memory at execute; a named (server)
    # cursor hands them over FETCH at a time. WITH HOLD lets it live outside a transaction
    # (peewee's connections run in autocommit); the server keeps the result, not this process.
    cursor = cdb.database.connection().cursor(name="campaign_audience", withhold=True)
    try:
        cursor.itersize = FETCH
        cursor.execute(sql, args)
        while rows := cursor.fetchmany(FETCH):
            yield from rows
    finally:
        cursor.close()


def audience_size(cdb: CloudDB, audience: Audience) -> int:
    """How many members the audience reaches."""
    sql, args = _audience_query(cdb, audience)
    return int(cdb.database.execute_sql(f"SELECT COUNT(*) FROM ({sql}) q", args).fetchone()[0])


def messages(
    cdb: CloudDB, campaign: Any, *, mask: Callable[[str], str] | None = None
) -> Iterator[dict[str, Any]]:
    """The campaign's message for each recipient (``mask`` applied to phones if given)."""
    text = template_text(cdb, campaign.template_kind, campaign.lang)
    anonymous = "会员" if campaign.lang == "zh_CN" else "member"
    gifts: dict[str, str] = {}
    if campaign.template_kind == "birthday_greeting":  # {coupon}: this year's birthday gift
        g = cdb.segments.BirthdayGift
        year = dt.datetime.now(dt.UTC).year
        unit = "积分" if campaign.lang == "zh_CN" else " points"
        gifts = {r.member_id: r.coupon_code or f"{r.value}{unit}"
                 for r in g.select().where(g.year == year)}  # fmt: skip
    for member, phone, name, tier, store in audience_rows(cdb, Audience.of(campaign.audience)):
        values = {"name": name or anonymous, "member_id": member, "tier": tier, "store": store,
                  "campaign": campaign.name, "coupon": gifts.get(member, "")}  # fmt: skip
        yield {
            "member_id": member, "phone": mask(phone) if mask else phone, "name": name,
            "tier": tier, "home_store": store, "lang": campaign.lang,
            "text": engagement.render(text, values),
        }  # fmt: skip


def create_campaign(
    cdb: CloudDB, name: str, audience: Audience, kind: str, lang: str, who: str,
    now: dt.datetime,
) -> Any:  # fmt: skip
    """Store a campaign (its audience is checked by counting it)."""
    if kind not in engagement.KINDS or lang not in engagement.TEMPLATE_LANGUAGES:
        raise EngagementError("no template %(kind)s/%(lang)s", kind=kind, lang=lang)
    audience_size(cdb, audience)  # raises EngagementError for an unknown segment
    return cdb.segments.Campaign.create(
        name=name, audience=audience.plain(), template_kind=kind, lang=lang,
        created_by=who[:64], created_at=now,
    )  # fmt: skip


def campaigns(cdb: CloudDB, limit: int = 100) -> list[dict[str, Any]]:
    """Campaigns, newest first, with their audience's size now and messages queued."""
    c, q = cdb.segments.Campaign, cdb.segments.MessageQueue
    counts = q.select(q.campaign_id, pw.fn.COUNT(q.id)).group_by(q.campaign_id).tuples()
    queued = {int(cid): int(n) for cid, n in counts}
    out = []
    for row in c.select().order_by(c.id.desc()).limit(limit):
        try:
            size: int | None = audience_size(cdb, Audience.of(row.audience))
        except EngagementError:
            size = None
        out.append({"id": row.id, "name": row.name, "audience": row.audience,
                    "template_kind": row.template_kind, "lang": row.lang,
                    "created_by": row.created_by, "created_at": str(row.created_at),
                    "recipients": size, "queued": queued.get(int(row.id), 0)})  # fmt: skip
    return out


def enqueue(cdb: CloudDB, campaign: Any, now: dt.datetime) -> int:
    """Put the campaign's messages on the gateway queue (once per member); how many were new."""
    q = cdb.segments.MessageQueue
    added = 0
    batch: list[dict[str, Any]] = []

    def flush() -> int:
        if not batch:
            return 0
        done = q.insert_many(batch).on_conflict_ignore().as_rowcount().execute()
        batch.clear()
        return int(done)

    for msg in messages(cdb, campaign):
        batch.append({"campaign_id": campaign.id, "member_id": msg["member_id"],
                      "phone": msg["phone"], "lang": msg["lang"], "text": msg["text"],
                      "home_store": msg["home_store"], "queued_at": now})  # fmt: skip
        if len(batch) >= 500:
            added += flush()
    return added + flush()


def queued(cdb: CloudDB, campaign_id: int | None, state: str, limit: int) -> list[dict[str, Any]]:
    """Queued messages (for the gateway), oldest first; opted-out members are dropped here too.

    A member who opted out after the campaign was queued is not sent: the queue is read
    against the member's current choice.
    """
    q, mb = cdb.segments.MessageQueue, cdb.models.Member
    query = (
        q.select(q, mb.opt_out_sms)
        .join(mb, on=(mb.member_id == q.member_id))
        .where((q.state == state) & (mb.opt_out_sms == False))  # noqa: E712
        .order_by(q.id)
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(q.campaign_id == campaign_id)
    return [
        {"id": r.id, "campaign_id": r.campaign_id, "member_id": r.member_id, "phone": r.phone,
         "lang": r.lang, "text": r.text, "state": r.state, "queued_at": str(r.queued_at)}
        for r in query
    ]  # fmt: skip
