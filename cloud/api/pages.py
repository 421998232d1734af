"""Rendering the HQ page: the Jinja2 environment, the language of a request, the common context."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from cloud.api import i18n
from cloud.api.paths import segment
from cloud.api.policy import Principal, Role
from cloud.api.problems import said_flag, said_problem
from cloud.api.reasons import Gettext, say
from cloud.store.adjustments import OPENING_REASON

TEMPLATES: Final = Path(__file__).parent / "pages"
LANG_COOKIE: Final = "hq_lang"

#: Navigation: (path, label, roles that see it). Issue 12's CRM pages join this list.
NAV: Final = (
    ("/", "Dashboard", None),
    ("/products", "Products", None),
    ("/cashiers", "Cashiers and shifts", None),
    ("/terminals", "Terminals", "terminals"),
    ("/pushes", "Pushes", "pushes"),
    ("/reports", "Reports", None),
    ("/members", "Members", "members"),
    ("/segments", "Segments", "crm"),
    ("/campaigns", "Campaigns", "crm"),
    ("/users", "Users and tokens", "users"),
)
_NAV_ROLES: Final = {
    None: frozenset({Role.ADMIN, Role.MARKETING, Role.STORE_MANAGER, Role.ANALYST}),
    "terminals": frozenset(Role) - {Role.SALES_GUIDE},
    "pushes": frozenset({Role.ADMIN, Role.MARKETING}),
    "users": frozenset({Role.ADMIN}),
    "crm": frozenset({Role.ADMIN, Role.MARKETING, Role.ANALYST}),
    "members": frozenset(
        {Role.ADMIN, Role.MARKETING, Role.STORE_MANAGER, Role.ANALYST, Role.SALES_GUIDE}
    ),
}


class Renderer:
    """Templates plus catalogues; one per app."""

    def __init__(self) -> None:
        self.catalogues = i18n.load_all()
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            yuan=i18n.yuan,
            percent=i18n.percent,
            ratio=i18n.ratio,
            tender_amounts=i18n.tender_amounts,
            when=i18n.when,
            tojson_attr=lambda v: json.dumps(v, ensure_ascii=False),
            segment=segment,
            word=pass_context(lambda ctx, value, prefix: i18n.named(value, prefix, ctx["_"])),
            said=pass_context(lambda ctx, reason: say(reason, ctx["_"])),
            problem=pass_context(lambda ctx, terminal: said_problem(terminal, ctx["_"])),
            flag=pass_context(lambda ctx, terminal: said_flag(terminal, ctx["_"])),
            store_label=i18n.store_label,
            # The one note the cloud writes itself (an import's opening balance) is said in
            # the page's language; a note HQ staff typed is shown as typed.
            ledger_note=pass_context(
                lambda ctx, note: ctx["_"](note) if note == OPENING_REASON else note
            ),
        )
        self.env.globals["zip"] = zip

    def language(self, request: Request, who: Principal | None) -> str:
        """The cookie's choice, else the user's setting, else Chinese."""
        chosen = request.cookies.get(LANG_COOKIE, "")
        if chosen in i18n.LANGUAGES:
            return chosen
        return who.language if who is not None and who.language in i18n.LANGUAGES else "zh_CN"

    def gettext(self, request: Request, who: Principal | None) -> Gettext:
        """The ``_`` of the request's language."""
        return i18n.gettext_for(self.catalogues, self.language(request, who))

    def say(self, request: Request, who: Principal | None, reason: Any) -> str:
        """A refusal or an error in the request's language (``cloud.api.reasons.say``)."""
        return say(reason, self.gettext(request, who))

    def render(
        self,
        request: Request,
        template: str,
        who: Principal | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A page (or an htmx fragment) in the request's language."""
        lang = self.language(request, who)
        gettext = self.gettext(request, who)
        nav = [
            (path, label)
            for path, label, key in NAV
            if who is not None and who.role in _NAV_ROLES[key]
        ]
        html = self.env.get_template(template).render(
            _=gettext,
            lang=lang,
            languages=i18n.LANGUAGE_NAMES,
            who=who,
            nav=nav,
            path=request.url.path,
            role_name=_role_names(gettext),
            **context,
        )
        return HTMLResponse(html, status_code=status)


def _role_names(gettext: Any) -> Mapping[str, str]:
    return {
        "admin": gettext("HQ admin"),
        "marketing": gettext("Marketing"),
        "store_manager": gettext("Store manager"),
        "analyst": gettext("Analyst"),
        "technician": gettext("Technician"),
        "sales_guide": gettext("Sales guide"),
    }


def chart(option: Mapping[str, Any]) -> str:
    """An ECharts option as JSON for a data-chart attribute (rendered by static/hq.js)."""
    return json.dumps(option, ensure_ascii=False)
