"""Member 360 at HQ: search, the whole view, tags, preferences, notes, complaints, privacy requests.

Phones, names, birthdays, member codes and cards reach only the roles allowed to see
personal data (``Principal.sees_personal_data``); everyone else gets them masked, in the
JSON and on the page alike (one function, ``shown``, masks both). Store managers and sales
guides see the members of their own stores. Every write, and every export of a member's
data, is audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import Field

from cloud.api.paths import ComplaintPath, MemberPath, TagPath, segment
from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Principal, Role, Strict, allow
from cloud.api.reasons import Refused
from cloud.api.security import Db, Who, audit
from cloud.domain.crm import CrmRuleError, mask_code, mask_name, mask_phone, search_term
from cloud.jobs.publish import publish_changes
from cloud.store import crm, crm_privacy, crm_records
from cloud.store.adjustments import MemberAdminError, MemberConflict, MemberInvalid, MemberNotFound
from cloud.store.db import CloudDB, utcnow
from protocol.bounds import TEXT_CHARS

CRM_READERS = allow(
    Role.MARKETING, Role.ANALYST, Role.STORE_MANAGER, Role.SALES_GUIDE,
    note="personal data masked except for admin and marketing; "
    "store managers and sales guides: members of their stores only",
)  # fmt: skip
FOLLOW_UP = allow(Role.MARKETING, Role.SALES_GUIDE, note="sales guides: their stores' members")
COMPLAINT_HANDLERS = allow(
    Role.MARKETING, Role.STORE_MANAGER, note="store managers: their stores' members"
)
PRIVACY = ADMIN_ONLY
STATUS = {MemberNotFound: 404, MemberConflict: 409, MemberInvalid: 422}


class TagsBody(Strict):
    """Tags to put on the member."""

    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=20, examples=[["vip", "size-m"]]
    )


class PreferencesBody(Strict):
    """Preferences to set (a null value removes one)."""

    values: dict[
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")],
        Annotated[str, Field(max_length=128)] | None,
    ] = Field(min_length=1, max_length=20, examples=[{"size": "M", "contact": "no SMS"}])


class NoteBody(Strict):
    """A follow-up note."""

    text: str = Field(min_length=1, max_length=TEXT_CHARS)


class ComplaintBody(Strict):
    """A complaint HQ takes down; send the same id again when retrying."""

    text: str = Field(min_length=1, max_length=TEXT_CHARS)
    sale_id: str = Field(default="", max_length=64)
    complaint_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"
    )


class MoveBody(Strict):
    """How the complaint was resolved (or why it is open again)."""

    note: str = Field(default="", max_length=TEXT_CHARS)


class EraseBody(Strict):
    """An erasure request: the member id typed again, and the request it answers."""

    confirm: str = Field(min_length=1, max_length=64, description="the member id, again")
    reason: str = Field(min_length=1, max_length=TEXT_CHARS)


def shown(view: dict[str, Any], who: Principal) -> dict[str, Any]:
    """The 360 as this caller may see it: personal data masked unless the role allows it."""
    if who.sees_personal_data:
        return {**view, "masked": False}
    p = dict(view["profile"])
    p.update(phone=mask_phone(p["phone"]), name=mask_name(p["name"]), birthday=None,
             member_code=mask_code(p["member_code"]),
             cards=[mask_code(c) for c in p["cards"]])  # fmt: skip
    return {**view, "profile": p, "masked": True}


def shown_hit(hit: dict[str, Any], who: Principal) -> dict[str, Any]:
    """One search result as this caller may see it."""
    if who.sees_personal_data:
        return hit
    return {**hit, "phone": mask_phone(hit["phone"]), "name": mask_name(hit["name"])}


def member_view(cdb: CloudDB, who: Principal, member_id: str) -> dict[str, Any]:
    """The 360, unmasked; 404 for no such member, 403 for another store's. A caller kept to
    some stores sees what was recorded at them (``cloud.store.crm.member_360``)."""
    _in_scope(cdb, who, member_id)
    view = crm.member_360(cdb, member_id, who.stores)
    if view is None:
        raise Refused(404, "no member %(member)r", member=member_id)
    return view


def _in_scope(cdb: CloudDB, who: Principal, member_id: str) -> None:
    m = cdb.models.Member
    row = m.get_or_none(m.member_id == member_id)
    if row is not None and who.stores is not None and row.home_store not in who.stores:
        raise Refused(403, "member %(member)r belongs to another store", member=member_id)


def _refused(
    cdb: CloudDB, request: Request, action: str, err: Exception, detail: dict[str, Any]
) -> Refused:
    status = next((code for kind, code in STATUS.items() if isinstance(err, kind)), 409)
    with cdb.write():
        audit(cdb, request, action, {**detail, "refused": str(err)}, outcome="refused")
    return Refused.because(status, err)


def search_hits(cdb: CloudDB, who: Principal, q: str) -> dict[str, Any]:
    """Search results as this caller may see them: the members, how many more matched, and
    how the entry was read; 422 for an entry that cannot be a key."""
    try:
        term = search_term(q)
    except CrmRuleError as err:
        raise Refused.because(422, err) from err
    found = crm.search(cdb, term, who.stores)
    return {"members": [shown_hit(h, who) for h in found.members], "more": found.more,
            "more_capped": found.more_capped, "read_as": list(term.read_as())}  # fmt: skip


def record(
    request: Request, cdb: CloudDB, action: str, detail: dict[str, Any], change: Callable[[], Any]
) -> Any:
    """Make a change and audit it in one transaction; a refusal is audited alone and answered
    404, 409 or 422 with the reason."""
    try:
        with cdb.write():
            done = change()
            audit(cdb, request, action, detail)
    except (MemberAdminError, CrmRuleError) as err:
        raise _refused(cdb, request, action, err, detail) from err
    return done


def move_complaint(
    cdb: CloudDB, who: Principal, request: Request, complaint_id: str,
    action: Literal["resolve", "reopen"], note: str,
) -> dict[str, Any]:  # fmt: skip
    """Resolve or reopen a complaint of the caller's stores (404 unknown, 403 another store)."""
    store = crm_records.complaint_store(cdb, complaint_id)
    if store is None:
        raise Refused(404, "no complaint %(complaint)r", complaint=complaint_id)
    if who.stores is not None and store not in who.stores:
        raise Refused(
            403, "complaint %(complaint)r belongs to another store", complaint=complaint_id
        )
    return record(  # type: ignore[no-any-return]
        request, cdb, f"complaint_{action}", {"complaint_id": complaint_id},
        lambda: crm_records.move_complaint(cdb, complaint_id, action, note, who.username,
                                           utcnow()),
    )  # fmt: skip


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Search, 360, follow-up records, complaints, privacy requests; and their pages."""
    r = PolicyRouter(enforcer, tags=["member 360"])

    @r.get("/api/crm/members", policy=CRM_READERS)
    def search(cdb: Db, who: Who, q: Annotated[str, Query(max_length=64)]) -> dict[str, Any]:
        """Members by phone (whole, its last 4+ digits, its first 5+, or masked as a receipt
        prints it: 139****5024), card number, member code, name (its start) or member id.

        The first 50 matches are listed, exact keys first; ``more`` counts the rest (up to
        1000 per lookup: ``more_capped``). ``read_as`` says how the entry was looked up. The
        entry is not echoed: it may be a full phone the caller's role may not be shown.
        """
        return {**search_hits(cdb, who, q), "masked": not who.sees_personal_data}

    @r.get("/api/crm/members/{member_id}", policy=CRM_READERS)
    def member_360(cdb: Db, who: Who, member_id: MemberPath) -> dict[str, Any]:
        """Profile, tags, preferences, tier history, points ledger, purchases, returns, ratings,
        complaints, notes and coupons of one member."""
        return shown(member_view(cdb, who, member_id), who)

    @r.post("/api/crm/members/{member_id}/tags", policy=FOLLOW_UP, status_code=201)
    def add_tags(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, body: TagsBody
    ) -> dict[str, Any]:
        """Tag the member (segments filter on tags)."""
        _in_scope(cdb, who, member_id)
        added = record(request, cdb, "member_tag", {"member_id": member_id, "tags": body.tags},
                      lambda: crm_records.add_tags(cdb, member_id, body.tags, who.username,
                                                   utcnow()))  # fmt: skip
        return {"member_id": member_id, "added": added}

    @r.delete("/api/crm/members/{member_id}/tags/{tag}", policy=FOLLOW_UP)
    def remove_tag(
        cdb: Db, who: Who, request: Request, member_id: MemberPath,
        tag: TagPath,
    ) -> dict[str, Any]:  # fmt: skip
        """Take a tag off the member."""
        _in_scope(cdb, who, member_id)
        removed = record(request, cdb, "member_untag", {"member_id": member_id, "tag": tag},
                        lambda: crm_records.remove_tag(cdb, member_id, tag))  # fmt: skip
        return {"member_id": member_id, "removed": removed}

    @r.put("/api/crm/members/{member_id}/preferences", policy=FOLLOW_UP)
    def preferences(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, body: PreferencesBody
    ) -> dict[str, Any]:
        """Set or remove preferences (size, favourite category, how to contact)."""
        _in_scope(cdb, who, member_id)
        now = utcnow()
        prefs = record(request, cdb, "member_preferences",
                      {"member_id": member_id, "keys": sorted(body.values)},
                      lambda: crm_records.set_preferences(cdb, member_id, body.values,
                                                          who.username, now))  # fmt: skip
        return {"member_id": member_id, "preferences": prefs}

    @r.post("/api/crm/members/{member_id}/notes", policy=FOLLOW_UP, status_code=201)
    def add_note(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, body: NoteBody
    ) -> dict[str, Any]:
        """A follow-up note on the member."""
        _in_scope(cdb, who, member_id)
        note_id = record(request, cdb, "member_note", {"member_id": member_id},
                        lambda: crm_records.add_note(cdb, member_id, body.text, who.username,
                                                     who.role.value, utcnow()))  # fmt: skip
        return {"member_id": member_id, "note_id": note_id}

    @r.post("/api/crm/members/{member_id}/complaints", policy=COMPLAINT_HANDLERS, status_code=201)
    def open_complaint(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, body: ComplaintBody
    ) -> dict[str, Any]:
        """Take down a complaint against the member (and a sale, if given); it starts open."""
        _in_scope(cdb, who, member_id)
        return record(  # type: ignore[no-any-return]
            request, cdb, "complaint_open",
            {"member_id": member_id, "complaint_id": body.complaint_id},
            lambda: crm_records.open_complaint(
                cdb, member_id, body.text, body.sale_id, who.username, utcnow(),
                complaint_id=body.complaint_id),
        )  # fmt: skip

    @r.post("/api/crm/complaints/{complaint_id}/resolve", policy=COMPLAINT_HANDLERS)
    def resolve(
        cdb: Db, who: Who, request: Request, complaint_id: ComplaintPath, body: MoveBody
    ) -> dict[str, Any]:
        """Resolve a complaint, saying how; who resolved it is kept."""
        return move_complaint(cdb, who, request, complaint_id, "resolve", body.note)

    @r.post("/api/crm/complaints/{complaint_id}/reopen", policy=COMPLAINT_HANDLERS)
    def reopen(
        cdb: Db, who: Who, request: Request, complaint_id: ComplaintPath, body: MoveBody
    ) -> dict[str, Any]:
        """Open a resolved complaint again."""
        return move_complaint(cdb, who, request, complaint_id, "reopen", body.note)

    @r.get("/api/crm/members/{member_id}/export", policy=PRIVACY)
    def export(cdb: Db, request: Request, member_id: MemberPath) -> Response:
        """Everything held on the member, as a JSON download (a privacy request; audited)."""
        detail = {"member_id": member_id}
        try:
            with cdb.write():
                data = crm_privacy.export_member(cdb, member_id, utcnow())
                audit(cdb, request, "member_export", detail)
        except MemberAdminError as err:
            raise _refused(cdb, request, "member_export", err, detail) from err
        return Response(
            json.dumps(data, ensure_ascii=False, indent=1, default=str),
            media_type="application/json",
            # The id may hold a quote, a slash or a line break: escaped, it stays one file name.
            headers={
                "Content-Disposition": f'attachment; filename="member-{segment(member_id)}.json"'
            },
        )

    @r.post(
        "/api/crm/members/{member_id}/erase",
        policy=PRIVACY,
        responses={422: {"description": "the confirmation is not the member id"}},
    )
    def erase(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, body: EraseBody
    ) -> dict[str, Any]:
        """Erase the member's personal data; figures stay, tills drop the member."""
        detail: dict[str, Any] = {"member_id": member_id}
        scope = str(request.app.state.ctx.settings.jobs.member_scope)
        try:
            if body.confirm != member_id:
                raise MemberInvalid("confirm with the member id itself")
            with cdb.write():
                done = crm_privacy.erase_member(
                    cdb,
                    member_id,
                    actor=who.username,
                    reason=body.reason,
                    now=utcnow(),
                    scope=scope,
                )
                audit(cdb, request, "member_erase", {**detail, "ids": list(done.ids),
                                                     "already": done.already,
                                                     "scrubbed": done.scrubbed})  # fmt: skip
        except MemberAdminError as err:
            raise _refused(cdb, request, "member_erase", err, detail) from err
        published = publish_changes(request.app.state.ctx.publisher, done.down)
        return {"member_id": member_id, "ids": list(done.ids), "already": done.already,
                "scrubbed": done.scrubbed, "published": published}  # fmt: skip

    return r
