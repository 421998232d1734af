"""Segments, dormant members, birthdays, message templates and campaigns (exports and queue).

Phone numbers and names go unmasked only to the roles allowed personal data (admin,
marketing); an analyst's export carries them masked. Recipients never include members who
opted out: every export and the queue take them from ``cloud.store.engagement.audience``.
Every export is audited with its campaign, format, row count and whether phones were masked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Annotated, Any, Literal

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field, field_validator

from cloud.api.paths import MemberPath
from cloud.api.policy import PolicyRouter, Principal, Role, Strict, allow
from cloud.api.reasons import Refused
from cloud.api.routers.members import mask_name, mask_phone
from cloud.api.security import Db, Who, audit
from cloud.domain import engagement as templates_rules
from cloud.domain.crm import CrmRuleError, clean_tags
from cloud.jobs.segments import NAME as RFM_JOB
from cloud.store import engagement, segments
from cloud.store.db import utcnow

READERS = allow(Role.MARKETING, Role.ANALYST,
                note="chain-wide; phones and names masked except for marketing")  # fmt: skip
WRITERS = allow(Role.MARKETING, note="marketing runs campaigns and edits their templates")
EXPORTERS = allow(Role.MARKETING, Role.ANALYST,
                  note="analysts get phone numbers masked; every export is audited")  # fmt: skip
GATEWAY = allow(Role.MARKETING, note="the gateway's queue holds phone numbers")
CampaignPath = Annotated[int, Path(ge=1, le=2**62)]
KindPath = Annotated[
    str, Path(pattern=r"^(purchase_confirmation|birthday_greeting|campaign_notice)$")
]
LangPath = Annotated[str, Path(pattern=r"^(zh_CN|en)$")]
Label = Literal["new", "regular", "high-value", "at-risk", "one-off"]
StoreId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
MemberId = Annotated[str, Field(min_length=1, max_length=64)]
EXPORT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
        "description": "one row (CSV) or one JSON object per line (jsonl) per recipient",
    }
}
EXPORT_FIELDS = ("member_id", "phone", "name", "tier", "home_store", "lang", "text")


def masked_row(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    """The row with phone and name masked unless the caller may see personal data."""
    if who.sees_personal_data:
        return {**row, "masked": False}
    return {**row, "phone": mask_phone(row.get("phone") or ""),
            "name": mask_name(row.get("name") or ""), "masked": True}  # fmt: skip


class TemplateText(Strict):
    """A template's text, with {placeholders} from the documented list."""

    text: str = Field(min_length=1, max_length=templates_rules.MAX_TEMPLATE_CHARS)


class NewCampaign(Strict):
    """A campaign: who (a segment and/or a filter) and which template in which language.

    ``member_ids`` narrows the audience to a given set (for example members found by tag).
    """

    name: str = Field(min_length=1, max_length=100)
    segment: Label | None = None
    tiers: list[Literal["regular", "silver", "gold"]] = Field(default_factory=list, max_length=3)
    stores: list[StoreId] = Field(default_factory=list, max_length=500)
    min_spend_fen: int | None = Field(default=None, ge=0, le=10**12)
    member_ids: list[MemberId] | None = Field(default=None, max_length=10_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=20
    )
    template: Literal["purchase_confirmation", "birthday_greeting", "campaign_notice"] = (
        "campaign_notice"
    )
    lang: Literal["zh_CN", "en"] = "zh_CN"

    @field_validator("tags")
    @classmethod
    def _stored_tags(cls, tags: list[str]) -> list[str]:
        try:
            return clean_tags(tags)
        except CrmRuleError as err:
            raise ValueError(str(err)) from err

    def audience(self) -> engagement.Audience:
        """The audience as the store reads it."""
        return engagement.Audience(
            segment=self.segment, tiers=tuple(self.tiers), stores=tuple(self.stores),
            min_spend_fen=self.min_spend_fen,
            member_ids=None if self.member_ids is None else tuple(self.member_ids),
            tags=tuple(self.tags),
        )  # fmt: skip


def _spool(rows: Iterator[dict[str, Any]], fmt: str) -> tuple[IO[bytes], int]:
    """The export written to a spooled file (memory, then disk): never all rows in memory."""
    out = tempfile.SpooledTemporaryFile(max_size=4 << 20)  # noqa: SIM115 (handed to the response)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    count = 0
    if fmt == "csv":
        text.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese names correctly only so
        writer = csv.DictWriter(text, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    else:
        for row in rows:
            text.write(json.dumps({k: row[k] for k in EXPORT_FIELDS}, ensure_ascii=False) + "\n")
            count += 1
    text.flush()
    text.detach()
    out.seek(0)
    return out, count


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := f.read(64 * 1024):
            yield chunk
    finally:
        f.close()


def export_campaign(cdb: Any, campaign: Any, fmt: str, masked: bool) -> tuple[IO[bytes], int]:
    """A campaign's messages as CSV or JSON lines (phones masked if ``masked``)."""
    mask = mask_phone if masked else None
    rows = engagement.messages(cdb, campaign, mask=mask)
    if masked:
        rows = ({**r, "name": mask_name(r["name"] or "")} for r in rows)
    return _spool(rows, fmt)


def _campaign(cdb: Any, campaign_id: int) -> Any:
    found = cdb.segments.Campaign.get_or_none(cdb.segments.Campaign.id == campaign_id)
    if found is None:
        raise Refused(404, "no campaign %(campaign)s", campaign=campaign_id)
    return found


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Segments, dormant, birthdays, templates, campaigns."""
    r = PolicyRouter(enforcer, tags=["segments"])

    @r.get("/api/segments", policy=READERS)
    def overview(cdb: Db, request: Request) -> dict[str, Any]:
        """The newest RFM run: method, each segment's size and value, movements, history."""
        out = segments.overview(cdb)
        out["job"] = RFM_JOB
        out["configured"] = request.app.state.ctx.settings.jobs.rfm.describe()
        return out

    @r.get("/api/segments/members", policy=READERS)
    def members(
        cdb: Db, who: Who, label: Label | None = None,
        limit: Annotated[int, Query(ge=1, le=segments.MAX_LIST)] = 200,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Scored members (of one segment), best spenders first, with their R, F, M scores."""
        return [masked_row(row, who) for row in segments.members_in(cdb, label, limit)]

    @r.get("/api/segments/members/{member_id}/behaviour", policy=READERS)
    def behaviour(cdb: Db, member_id: MemberPath) -> dict[str, Any]:
        """One member's purchase cycle, favourite categories and products, favourite hour."""
        found = segments.behaviour(cdb, member_id)
        if not found["visits"]:
            raise Refused(404, "no purchases recorded for member %(member)r", member=member_id)
        return found

    @r.get("/api/segments/dormant", policy=READERS)
    def dormant(
        cdb: Db, who: Who, request: Request,
        multiple: Annotated[float | None, Query(ge=1.0, le=20.0)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> dict[str, Any]:  # fmt: skip
        """High-value members who have not come back within ``multiple`` x their own cycle."""
        policy = request.app.state.ctx.settings.jobs.rfm
        times = policy.dormant_multiple if multiple is None else multiple
        rows = segments.dormant(cdb, policy, times, limit)
        return {"multiple": times, "min_m": policy.dormant_m,
                "members": [masked_row(row, who) for row in rows]}  # fmt: skip

    @r.get("/api/birthdays", policy=READERS)
    def birthdays(
        cdb: Db, who: Who, request: Request,
        days: Annotated[int, Query(ge=1, le=60)] = 7,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Members whose birthday falls within the coming ``days`` (today included)."""
        zone = request.app.state.ctx.settings.jobs.zone()
        today = dt.datetime.now(dt.UTC).astimezone(zone).date()
        return [masked_row(row, who) for row in engagement.birthdays(cdb, today, days)]

    @r.get("/api/crm/templates", policy=READERS)
    def templates(cdb: Db) -> dict[str, Any]:
        """Message templates in both languages, and the placeholders they may use."""
        return {"templates": engagement.templates(cdb),
                "placeholders": dict(templates_rules.PLACEHOLDERS)}  # fmt: skip

    @r.put("/api/crm/templates/{template_kind}/{template_lang}", policy=WRITERS)
    def save_template(
        cdb: Db, who: Who, request: Request, template_kind: KindPath, template_lang: LangPath,
        body: TemplateText,
    ) -> dict[str, Any]:  # fmt: skip
        """Replace a template's text (unknown placeholders are refused)."""
        with cdb.write():
            try:
                engagement.save_template(cdb, template_kind, template_lang, body.text,
                                         who.username, utcnow())  # fmt: skip
            except templates_rules.TemplateError as err:
                raise Refused.because(422, err) from err
            audit(cdb, request, "crm_template_save",
                  {"kind": template_kind, "lang": template_lang, "text": body.text})  # fmt: skip
        return {"kind": template_kind, "lang": template_lang, "text": body.text}

    @r.post("/api/campaigns", policy=WRITERS, status_code=201)
    def new_campaign(cdb: Db, who: Who, request: Request, body: NewCampaign) -> dict[str, Any]:
        """Define a campaign: its audience and template. Opted-out members never receive it."""
        with cdb.write():
            try:
                row = engagement.create_campaign(cdb, body.name, body.audience(), body.template,
                                                 body.lang, who.username, utcnow())  # fmt: skip
            except engagement.EngagementError as err:
                raise Refused.because(409, err) from err
            audit(cdb, request, "campaign_add", {"id": row.id, **body.model_dump(
                exclude={"member_ids"}), "member_ids": len(body.member_ids or [])})  # fmt: skip
        return next(c for c in engagement.campaigns(cdb) if c["id"] == row.id)

    @r.get("/api/campaigns", policy=READERS)
    def campaigns(cdb: Db) -> list[dict[str, Any]]:
        """Campaigns, newest first, with how many members each reaches now."""
        return engagement.campaigns(cdb)

    @r.get("/api/campaigns/{campaign_id}/export", policy=EXPORTERS,
           response_class=StreamingResponse, responses=EXPORT_RESPONSE)  # fmt: skip
    def export(
        cdb: Db, who: Who, request: Request, campaign_id: CampaignPath,
        format: Literal["csv", "jsonl"] = "csv",
    ) -> StreamingResponse:  # fmt: skip
        """The campaign's messages as CSV or JSON lines, for an SMS/WeChat gateway."""
        campaign = _campaign(cdb, campaign_id)
        masked = not who.sees_personal_data
        try:
            spooled, count = export_campaign(cdb, campaign, format, masked)
        except engagement.EngagementError as err:
            raise Refused.because(409, err) from err
        with cdb.write():
            audit(cdb, request, "campaign_export",
                  {"campaign_id": campaign_id, "format": format, "rows": count,
                   "masked": masked})  # fmt: skip
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        name = f"campaign-{campaign_id}.{format}"
        return StreamingResponse(
            _chunks(spooled), media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"',
                     "X-Rows": str(count)},
        )  # fmt: skip

    @r.post("/api/campaigns/{campaign_id}/queue", policy=WRITERS)
    def queue(cdb: Db, request: Request, campaign_id: CampaignPath) -> dict[str, Any]:
        """Put the campaign's messages on the gateway queue (a member is queued once)."""
        campaign = _campaign(cdb, campaign_id)
        with cdb.write():
            try:
                added = engagement.enqueue(cdb, campaign, utcnow())
            except engagement.EngagementError as err:
                raise Refused.because(409, err) from err
            audit(cdb, request, "campaign_queue", {"campaign_id": campaign_id, "queued": added})
        return {"campaign_id": campaign_id, "queued": added}

    @r.get("/api/message-queue", policy=GATEWAY)
    def message_queue(
        cdb: Db,
        campaign_id: Annotated[int | None, Query(ge=1)] = None,
        state: Annotated[str, Query(pattern=r"^(pending|sent|failed)$")] = "pending",
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[dict[str, Any]]:
        """Messages for the gateway, oldest first (members who opted out since are dropped)."""
        return engagement.queued(cdb, campaign_id, state, limit)

    return r
