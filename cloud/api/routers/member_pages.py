"""The member pages: search, the 360, and the follow-up a sales guide or HQ writes from it.

The forms post form fields through htmx (which sends the session's CSRF token) and get the
follow-up part of the page back, with the refusal's reason when there is one. Masking and
store scope are the API's own (``cloud.api.routers.crm_members``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from cloud.api.paths import ComplaintPath, MemberPath
from cloud.api.policy import PolicyRouter, Principal
from cloud.api.routers.crm_members import (
    COMPLAINT_HANDLERS,
    CRM_READERS,
    FOLLOW_UP,
    PRIVACY,
    member_view,
    move_complaint,
    record,
    search_hits,
    shown,
)
from cloud.api.security import Db, Who
from cloud.store import crm_records
from cloud.store.db import CloudDB, utcnow
from protocol.bounds import TEXT_CHARS

Text = Annotated[str, Form(max_length=TEXT_CHARS)]


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Search, the 360, notes, tags, resolving complaints (not in the OpenAPI document)."""
    r = PolicyRouter(enforcer, include_in_schema=False)

    def render(request: Request, who: Principal, template: str, **ctx: Any) -> HTMLResponse:
        return request.app.state.renderer.render(request, template, who, **ctx)  # type: ignore[no-any-return]

    def follow_up(cdb: CloudDB, request: Request, who: Principal, member_id: str,
                  change: Callable[[], Any]) -> HTMLResponse:  # fmt: skip
        error: HTTPException | None = None  # said in the page's language by the template
        try:
            change()
        except HTTPException as err:
            error = err
        view = shown(member_view(cdb, who, member_id), who)
        return render(request, who, "_member_follow_up.html", m=view, p=view["profile"],
                      error=error, **rights(who))  # fmt: skip

    def rights(who: Principal) -> dict[str, bool]:
        return {"may_follow_up": FOLLOW_UP.allows(who.role),
                "may_handle": COMPLAINT_HANDLERS.allows(who.role),
                "may_privacy": PRIVACY.allows(who.role)}  # fmt: skip

    @r.get("/members", policy=CRM_READERS)
    def members_page(
        cdb: Db, who: Who, request: Request, q: Annotated[str, Query(max_length=64)] = ""
    ) -> HTMLResponse:
        found: dict[str, Any] = {"members": [], "more": 0, "read_as": []}
        error: HTTPException | None = None
        if q.strip():
            try:
                found = search_hits(cdb, who, q)
            except HTTPException as err:
                error = err
        # The entry is not shown again to a role that may not see a full phone.
        return render(request, who, "members.html", q=q if who.sees_personal_data else "",
                      searched=bool(q.strip()), hits=found["members"], found=found,
                      error=error)  # fmt: skip

    @r.get("/members/{member_id}", policy=CRM_READERS)
    def member_page(cdb: Db, who: Who, request: Request, member_id: MemberPath) -> HTMLResponse:
        view = shown(member_view(cdb, who, member_id), who)
        return render(request, who, "member.html", m=view, p=view["profile"], error="",
                      **rights(who))  # fmt: skip

    @r.post("/members/{member_id}/notes", policy=FOLLOW_UP)
    def note_form(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, text: Text
    ) -> HTMLResponse:
        member_view(cdb, who, member_id)  # 404 / 403 first
        return follow_up(cdb, request, who, member_id, lambda: record(
            request, cdb, "member_note", {"member_id": member_id},
            lambda: crm_records.add_note(cdb, member_id, text, who.username, who.role.value,
                                         utcnow())))  # fmt: skip

    @r.post("/members/{member_id}/tags", policy=FOLLOW_UP)
    def tag_form(
        cdb: Db, who: Who, request: Request, member_id: MemberPath,
        tags: Annotated[str, Form(max_length=400)],
    ) -> HTMLResponse:  # fmt: skip
        member_view(cdb, who, member_id)
        given = [t for t in re.split(r"[\s,，]+", tags) if t][:20]
        detail = {"member_id": member_id, "tags": given}

        def add() -> Any:
            return crm_records.add_tags(cdb, member_id, given, who.username, utcnow())

        return follow_up(
            cdb, request, who, member_id, lambda: record(request, cdb, "member_tag", detail, add)
        )

    @r.post("/complaints/{complaint_id}/resolve", policy=COMPLAINT_HANDLERS)
    def resolve_form(
        cdb: Db, who: Who, request: Request, complaint_id: ComplaintPath, note: Text,
        member_id: Annotated[str, Form(min_length=1, max_length=64)],
    ) -> HTMLResponse:  # fmt: skip
        member_view(cdb, who, member_id)
        return follow_up(cdb, request, who, member_id, lambda: move_complaint(
            cdb, who, request, complaint_id, "resolve", note))  # fmt: skip

    return r
