"""Returns across the chain: the watchlist of members over the return limit, over-returns, receipts.

The abuse limit counts a member's returns at every till of the chain in the last 30 days
(MISSION: a configurable maximum per member per 30 days, default 3); members at or over it
are on the watchlist. Over-returns are returns, taken while HQ was unreachable, that take
back more than their sale had left once every till's returns are counted.

A receipt number names one sale, except where a till restored from an older copy of its store
file printed the day's numbers again: such a number is answered as ambiguous (409, listing
the sales that hold it), never with one of them, and each is then opened by its sale id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import MappingProxyType
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Path, Query
from fastapi.responses import JSONResponse

from cloud.api.policy import REPORT_READERS, PolicyRouter, Principal
from cloud.api.routers.members import mask_name, mask_phone
from cloud.api.security import Db, Who
from cloud.store import receipts
from cloud.store.effects import IngestRules

#: The till's default limit (device.checkout.returns.ReturnPolicy.max_returns_per_30_days).
DEFAULT_LIMIT = 3
StoreQuery = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
ReceiptPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
SaleIdQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=36, pattern=r"^[0-9A-Fa-f-]+$",
          description="which sale, when several hold the receipt number"),
]  # fmt: skip

RECEIPT_ANSWERS: Final = MappingProxyType({
    404: {"description": "no such receipt"},
    409: {"description": "several sales hold the number: pick one by sale_id"},
})  # fmt: skip


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(IngestRules().default_timezone)).date()


def _masked(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    if who.sees_personal_data:
        return {**row, "masked": False}
    return {**row, "phone": mask_phone(row["phone"]), "name": mask_name(row["name"]),
            "masked": True}  # fmt: skip


def _ambiguous(
    receipt_no: str, sales: list[receipts.StoredSale], seen: list[receipts.StoredSale]
) -> dict[str, Any]:
    """The 409 answer: the sales the reader may see that hold the number, and how many more
    are in stores outside their scope (counted, never shown)."""
    count = len({s.sale_id for s in sales})
    return {
        "detail": f"{count} sales hold receipt number {receipt_no} (a till restored from an "
        "older copy printed it again): open each with ?sale_id=",
        "reason": "receipt_ambiguous",
        "receipt_no": receipt_no,
        "sales": [receipts.holder(s) for s in seen],
        "outside_your_stores": count - len({s.sale_id for s in seen}),
    }


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Watchlist, over-returns, receipt lookup."""
    r = PolicyRouter(enforcer, tags=["returns"])

    @r.get("/api/returns/watchlist", policy=REPORT_READERS)
    def watchlist(
        cdb: Db, who: Who, store: StoreQuery = None,
        limit: Annotated[int, Query(ge=1, le=100, description="returns per 30 days")] = (
            DEFAULT_LIMIT
        ),
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Members with ``limit`` or more returns in 30 days at any till; phones and names
        masked except for admin and marketing; store managers: members of their stores and
        members who returned goods in them."""
        rows = receipts.watchlist(cdb, limit, _today(), who.scope(store))
        return [_masked(row, who) for row in rows]

    @r.get("/api/returns/over-returns", policy=REPORT_READERS)
    def over_returns(
        cdb: Db, who: Who, store: StoreQuery = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Returns that took back more than their sale had left (counting every till), or
        named a receipt the cloud does not know: for HQ to follow up."""
        return receipts.over_returns(cdb, who.scope(store), limit)

    @r.get("/api/receipts/{receipt_no}", policy=REPORT_READERS, responses=dict(RECEIPT_ANSWERS))
    def receipt(cdb: Db, who: Who, receipt_no: ReceiptPath, sale_id: SaleIdQuery = None) -> Any:
        """A sale by its receipt number, from any till, with what was returned of each line;
        ``sale_id`` picks one of several sales that hold the number (409 lists them)."""
        sales = [s for s in receipts.sales_on(cdb, receipt_no)
                 if sale_id is None or s.sale_id == sale_id]  # fmt: skip
        if not sales:
            which = f" and sale id {sale_id!r}" if sale_id else ""
            raise HTTPException(404, f"no sale with receipt {receipt_no!r}{which} at any till")
        seen = [s for s in sales if who.may_see_store(s.store_id)]
        if not seen:
            who.scope(sales[0].store_id)  # 403 for a store outside a manager's stores
        if receipts.ambiguous(sales):
            return JSONResponse(_ambiguous(receipt_no, sales, seen), status_code=409)
        sale = seen[0]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return {"receipt_no": sale.receipt_no, "store_id": sale.store_id,
                "terminal_id": sale.terminal_id, "seq": sale.seq, "status": sale.status,
                "sale": dict(sale.body),
                "returned": receipts.returned(cdb, sale.sale_id, now)}  # fmt: skip

    return r
