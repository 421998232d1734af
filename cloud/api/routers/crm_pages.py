"""The HQ pages for segments (RFM, movements, dormant, birthdays, returns watchlist), campaigns."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.pages import chart
from cloud.api.policy import PolicyRouter
from cloud.api.routers.crm_segments import READERS, WRITERS, masked_row
from cloud.api.routers.jobs import JOB_RUNNERS
from cloud.api.routers.returns import DEFAULT_LIMIT
from cloud.api.security import Db, Who, audit
from cloud.domain import engagement as rules
from cloud.domain import rfm
from cloud.jobs.runs import recent
from cloud.store import engagement, receipts, segments
from cloud.store.db import utcnow

#: How far ahead the page lists birthdays.
BIRTHDAY_DAYS = 7


def segment_chart(view: dict[str, Any], gettext: Callable[[str], str]) -> str:
    """Members (bars) and spend (line) per segment."""
    names = [gettext(f"segment.{s['label']}") for s in view["segments"]]
    return chart({
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": [gettext("Member count"), gettext("Spend")]},
        "grid": {"left": 60, "right": 60, "top": 36, "bottom": 32},
        "xAxis": {"type": "category", "data": names},
        "yAxis": [{"type": "value", "name": gettext("Member count")},
                  {"type": "value", "name": "¥"}],
        "series": [
            {"name": gettext("Member count"), "type": "bar",
             "data": [s["members"] for s in view["segments"]]},
            {"name": gettext("Spend"), "type": "line", "yAxisIndex": 1,
             "data": [round(s["spend_fen"] / 100, 2) for s in view["segments"]]},
        ],
    })  # fmt: skip


def history_chart(view: dict[str, Any], gettext: Callable[[str], str]) -> str:
    """Each segment's size run by run (stacked)."""
    runs = view["history"]
    return chart({
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": [gettext(f"segment.{x}") for x in rfm.LABELS]},
        "grid": {"left": 60, "right": 16, "top": 36, "bottom": 32},
        "xAxis": {"type": "category", "data": [r["as_of"] for r in runs]},
        "yAxis": {"type": "value"},
        "series": [
            {"name": gettext(f"segment.{x}"), "type": "bar", "stack": "all",
             "data": [r["sizes"].get(x, 0) for r in runs]}
            for x in rfm.LABELS
        ],
    })  # fmt: skip


def _moves_matrix(view: dict[str, Any]) -> dict[str, Any]:
    cells = {(m["from"], m["to"]): m["members"] for m in view["moves"]}
    rows = [x for x in (rfm.UNSCORED, *rfm.LABELS) if any(k[0] == x for k in cells)]
    return {"rows": rows, "cols": list(rfm.LABELS), "cells": cells}


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """The /segments and /campaigns pages."""
    r = PolicyRouter(enforcer, include_in_schema=False)

    def gettext(request: Request, who: Any) -> Callable[[str], str]:
        return request.app.state.renderer.gettext(request, who)

    @r.get("/segments", policy=READERS)
    def segments_page(
        cdb: Db, who: Who, request: Request,
        member: Annotated[str, Query(max_length=64)] = "",
        multiple: Annotated[float | None, Query(ge=1.0, le=20.0)] = None,
        days: Annotated[int, Query(ge=1, le=60)] = BIRTHDAY_DAYS,
    ) -> Response:  # fmt: skip
        _ = gettext(request, who)
        settings = request.app.state.ctx.settings.jobs
        policy = settings.rfm
        times = policy.dormant_multiple if multiple is None else multiple
        view = segments.overview(cdb)
        today = dt.datetime.now(dt.UTC).astimezone(settings.zone()).date()
        dormant = segments.dormant(cdb, policy, times, 50)
        birthdays = engagement.birthdays(cdb, today, days)
        behaviour = segments.behaviour(cdb, member.strip()) if member.strip() else None
        watch = receipts.watchlist(cdb, DEFAULT_LIMIT, today, None)
        return request.app.state.renderer.render(
            request, "segments.html", who,
            view=view, policy=view["run"]["policy"] if view["run"] else policy.describe(),
            segment_chart=segment_chart(view, _), history_chart=history_chart(view, _),
            moves=_moves_matrix(view),
            dormant=[masked_row(x, who) for x in dormant],
            birthdays=[masked_row(x, who) for x in birthdays], birthday_days=days,
            multiple=times, member=member, behaviour=behaviour,
            watchlist=[masked_row(x, who) for x in watch], return_limit=DEFAULT_LIMIT,
            last_job=next(iter(recent(cdb, "rfm_segments", 1)), None),
            may_run=JOB_RUNNERS.allows(who.role),
        )  # fmt: skip

    @r.get("/campaigns", policy=READERS)
    def campaigns_page(cdb: Db, who: Who, request: Request) -> Response:
        return request.app.state.renderer.render(
            request, "campaigns.html", who,
            campaigns=engagement.campaigns(cdb), templates=engagement.templates(cdb),
            placeholders=rules.PLACEHOLDERS, labels=rfm.LABELS,
            may_write=WRITERS.allows(who.role), template_chars=rules.MAX_TEMPLATE_CHARS,
        )  # fmt: skip

    @r.post("/campaigns/add", policy=WRITERS)
    def add_campaign(
        cdb: Db, who: Who, request: Request,
        name: Annotated[str, Form(min_length=1, max_length=100)],
        segment: Annotated[str, Form(max_length=16)] = "",
        tier: Annotated[str, Form(max_length=16)] = "",
        template: Annotated[str, Form(max_length=32)] = "campaign_notice",
        lang: Annotated[str, Form(max_length=8)] = "zh_CN",
    ) -> Response:  # fmt: skip
        audience = engagement.Audience(segment=segment or None, tiers=(tier,) if tier else ())
        try:
            with cdb.write():
                row = engagement.create_campaign(cdb, name, audience, template, lang,
                                                 who.username, utcnow())  # fmt: skip
                audit(cdb, request, "campaign_add", {"id": row.id, "name": name,
                      **audience.plain(), "template": template, "lang": lang})  # fmt: skip
        except engagement.EngagementError as err:
            said = request.app.state.renderer.say(request, who, err)
            return HTMLResponse(f'<p class="error" role="alert">{html.escape(said)}</p>')
        # htmx follows HX-Redirect: the page reloads with the new campaign listed (a new query,
        # since a change of the #fragment alone would not reload it).
        return Response(status_code=204, headers={"HX-Redirect": f"/campaigns?new={row.id}"})

    return r
