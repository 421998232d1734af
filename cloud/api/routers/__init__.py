"""The HQ API's routers, one module per area; each exposes ``router(enforcer) -> PolicyRouter``."""

from __future__ import annotations

from types import ModuleType
from typing import Final

from cloud.api.routers import (
    admin_pages,
    auth,
    coupons,
    crm_members,
    crm_pages,
    crm_segments,
    docs,
    health,
    integrity,
    jobs,
    member_admin,
    member_pages,
    members,
    pages,
    pushes,
    reports,
    returns,
    rules,
    staff,
    stores,
    terminals,
    users,
)

#: Every area, in the order its routes are matched. A new area is one more module here.
AREAS: Final[tuple[ModuleType, ...]] = (
    health,
    auth,
    docs,
    users,
    stores,
    terminals,
    pushes,
    members,
    member_admin,
    jobs,
    reports,
    integrity,
    staff,
    rules,
    coupons,
    returns,
    crm_segments,
    crm_members,
    crm_pages,
    member_pages,
    pages,
    admin_pages,
)
