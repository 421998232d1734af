"""Text for the cashier screen's panels, computed from a runtime View (pure, testable)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.cells import cell_len

from device.checkout.commands import ShowOnDisplay
from device.checkout.money import format_fen
from device.checkout.returns import ReturnPlan, remaining_units
from device.checkout.session import mask_phone
from device.checkout.state import Phase
from device.i18n import render
from device.runtime import View
from device.ui.keypad import MENU, MENU2


def fit_cells(text: str, cells: int | None) -> str:
    """``text`` cut to ``cells`` terminal columns (Chinese takes two), marked with "…"."""
    if cells is None or cell_len(text) <= cells:
        return text
    out = ""
    for ch in text:
        if cell_len(out + ch) > cells - 1:
            break
        out += ch
    return out + "…"


def line_rows(
    view: View, lang: str, width: int | None = None
) -> list[tuple[str, str, str, str, str]]:
    """(no, item, qty, unit price, amount) for every cart line, voided lines struck out.

    In a table ``width`` columns wide (an 80x24 terminal gives the table about 50), names
    are shortened and the line discount left to the totals so that every amount shows whole.
    """
    narrow = width is not None and width < 70
    # Columns other than the name take about 24 cells (no, qty, price, amount) plus 2 of
    # padding each; a discount after the amount takes 9 more.
    name_cells = None if width is None else max(6, width - (43 if not narrow else 34))
    rows: list[tuple[str, str, str, str, str]] = []
    cart = view.state.cart
    if cart is None:
        return rows
    priced = {line.line_no: line for line in view.priced.lines} if view.priced else {}
    for line in cart.lines:
        product = line.product
        name = (product.name_zh if lang == "zh" else product.name_en) or product.name_en
        qty = f"{line.weight_g}g" if line.weight_g is not None else str(line.quantity)
        sold = priced.get(line.line_no)
        name = fit_cells(name, name_cells)
        if line.voided:
            rows.append(
                (str(line.line_no), render("label.void_line", lang, name=name), qty, "", "")
            )
            continue
        amount = format_fen(sold.net_fen) if sold else format_fen(line.gross_fen)
        if sold and sold.net_fen != sold.gross_fen and not narrow:
            amount = f"{amount} ({format_fen(sold.net_fen - sold.gross_fen)})"
        rows.append((str(line.line_no), name, qty, format_fen(line.unit_price_fen), amount))
    return rows


def return_rows(view: View, lang: str) -> list[tuple[str, str, str, str, str]]:
    """The original receipt's lines while a return is open."""
    session = view.state.returning
    if session is None:
        return []
    rows = []
    left = remaining_units(session.sale, session.earlier)
    for line in session.sale.lines:
        name = (line.name_zh if lang == "zh" else line.name_en) or line.name_en
        units = left.get(line.line_no, 0)
        qty = f"{units}g" if line.weight_g is not None else str(units)
        if units <= 0:
            name = render("label.returned_line", lang, name=name)
            qty = "0"
        rows.append((str(line.line_no), name, qty, format_fen(line.unit_price_fen),
                     format_fen(line.net_fen)))  # fmt: skip
    return rows


def return_preview(view: View, plan: ReturnPlan, lang: str) -> str:
    """What a return will give back, line by line, and to which tenders (before confirming)."""
    session = view.state.returning
    names = {}
    if session is not None:
        names = {
            line.line_no: (line.name_zh if lang == "zh" else line.name_en) or line.name_en
            for line in session.sale.lines
        }
    rows = [f"[b]{render('return.preview_title', lang, amount=format_fen(plan.refund_fen))}[/b]"]
    for line in plan.lines:
        qty = f"{line.weight_g}g" if line.weight_g is not None else f"×{line.quantity}"
        name = escape(names.get(line.original_line_no, line.sku))
        rows.append(f"  {line.original_line_no} {name} {qty}  {format_fen(line.refund_fen)}")
    for refund in plan.refunds:
        kind = render(f"tender.kind.{refund.kind.value}", lang)
        rows.append(
            render("return.preview_to", lang, tender=kind, amount=format_fen(refund.amount_fen))
        )
    points = sum(p.delta for p in plan.points)
    if points:
        rows.append(render("return.preview_points", lang, points=f"{points:+d}"))
    return "\n".join(rows)


def member_panel(view: View, lang: str) -> str:
    """Name, tier, masked phone and points of the identified member."""
    cart = view.state.cart
    member = cart.member if cart is not None else None
    if member is None:
        return render("label.no_member", lang)
    tier = render(f"tier.{member.tier.value}", lang)
    # two lines, so that the totals below keep their room on an 80x24 terminal
    return "\n".join(
        [
            f"{render('label.member', lang)}: {member.name or '-'}  {tier}",
            f"☎ {mask_phone(member.phone)} {render('label.points', lang)} {member.points_balance}",
        ]
    )


def totals_panel(view: View, lang: str) -> str:
    """Items, discount, total, and when paying what is paid and still due."""
    priced = view.priced
    state = view.state
    if priced is None:
        shown = view.display
        if state.phase is Phase.FEEDBACK and shown is not None and shown.line1 == "display.change":
            return f"{render('label.change', lang)}  {shown.params.get('amount', '')}"
        return ""
    out = [
        f"{render('label.discount', lang)}  {format_fen(priced.discount_fen)}",
        f"[b]{render('label.total', lang)}  {format_fen(priced.total_fen)}[/b]",
    ]
    if state.phase is Phase.TENDERING:
        paid = priced.total_fen - view.due_fen
        out.append(f"{render('label.paid', lang)}  {format_fen(paid)}")
        out.append(f"[b reverse]{render('label.due', lang)}  {format_fen(view.due_fen)}[/]")
        for tender in state.tenders:
            kind = render(f"tender.kind.{tender.kind.value}", lang)
            out.append(f"  {kind} {format_fen(tender.tendered_fen or tender.amount_fen)}")
        if state.redeemed_points:
            out.append(f"  {render('label.points_used', lang, points=state.redeemed_points)}")
    return "\n".join(out)


def status_bar(view: View, lang: str) -> str:
    """Online/offline, unsynced count, paper, drawer, cashier."""
    if not view.sync_enabled:
        net = render("label.sync_off", lang)
    elif view.sync_halted:
        net = f"[white on red b]{render('label.sync_halted', lang)}[/]"
    elif view.online:
        net = f"[green]● {render('label.online', lang)}[/]"
    else:
        net = f"[red b]● {render('label.offline', lang)}[/]"
    paper = view.paper
    paper_text = render("label.paper", lang, state=word("paper", paper, lang))
    if paper not in ("ok", "unknown"):
        paper_text = f"[red b]{paper_text}[/]"
    if view.state.drawer_open:
        drawer = f"[yellow b]{render('label.drawer_open', lang)}[/]"
    else:
        drawer = render("label.drawer_closed", lang)
    staff = view.state.staff
    who = render("label.cashier", lang, name=f"{staff.staff_id} {staff.name}") if staff else (
        render("label.nobody", lang))  # fmt: skip
    shift = view.state.shift
    shift_text = (
        render("label.shift", lang, sales=shift.sales_count)
        if shift
        else render("label.shift_none", lang)
    )
    unsynced = render("label.unsynced", lang, count=max(view.unsynced, 0))
    bad = [
        f"{word('device', d.name, lang)}: {word('device_state', d.state, lang)}"
        for d in view.devices.values()
        if not d.ok
    ]
    devices = f"  [red]{'; '.join(bad)}[/]" if bad else ""
    return f"{net}  {unsynced}  {paper_text}  {drawer}  {who}  {shift_text}{devices}"


def notice_line(
    view: View, lang: str, ui_error: str = "", ui_params: Mapping[str, str] | None = None
) -> str:
    """The latest message for the cashier, coloured by level."""
    if ui_error:
        return f"[red b]✖ {escape(render(ui_error, lang, **(ui_params or {})))}[/]"
    if view.lost_sale:
        return f"[yellow b]⚠ {render('runtime.sale_lost', lang)}[/]"
    if view.unprinted:
        first = view.unprinted[0]
        return f"[yellow b]⚠ {render('runtime.unprinted', lang, receipt=first.receipt_no)}[/]"
    notice = view.notice
    if notice is None:
        return ""
    text = render(notice.key, lang, **notice.params)
    if text == notice.key:
        text = notice.text
    colour = {"error": "red b", "warning": "yellow b"}.get(notice.level, "green")
    mark = {"error": "✖", "warning": "⚠"}.get(notice.level, "✔")
    return f"[{colour}]{mark} {escape(text)}[/]"


def receipt_line(view: View, lang: str) -> str:
    """Where the last receipt went (the simulated printer writes .txt and .png)."""
    if not view.last_receipt_no:
        return ""
    path = f"{view.last_receipt_path}.png / .txt" if view.last_receipt_path else "…"
    return render("label.receipt", lang, receipt=view.last_receipt_no, path=path)


def menu_panel(lang: str, page: int = 1) -> str:
    """The FUNC menu (page 2: the manager's functions)."""
    items = MENU if page == 1 else MENU2
    rows = [f"  {key}  {render(label, lang)}" for key, _a, label in items]
    if page == 1:
        rows.append(f"  F12 {render('menu.more', lang)}")
    return "\n".join(rows)


def report_panel(view: View, lang: str) -> str:
    """The last X or Z report."""
    report = view.report
    if report is None:
        return ""
    rows = [
        f"[b]{render('label.report', lang, kind=report.kind)}[/b]",
        f"{render('label.sales', lang)}: {report.sales_count}   "
        f"{render('label.returns', lang)}: {report.returns_count}",
    ]
    rows += [
        f"  {render(f'tender.kind.{kind}', lang)}: {format_fen(amount)}"
        for kind, amount in report.by_tender.items()
    ]
    rows.append(f"{render('label.expected', lang)}: {format_fen(report.expected_cash_fen)}")
    if report.counted_cash_fen is not None:
        rows.append(f"{render('label.counted', lang)}: {format_fen(report.counted_cash_fen)}")
        rows.append(f"{render('label.difference', lang)}: {format_fen(report.difference_fen or 0)}")
    return "\n".join(rows)


def suspended_line(view: View, lang: str) -> str:
    """The parked sales, numbered for recall."""
    held = view.state.suspended
    if not held:
        return ""
    ids = ", ".join(f"{i}:{len(s.cart.active_lines())}" for i, s in enumerate(held, start=1))
    return render("label.suspended", lang, ids=ids)


def display_lines(shown: ShowOnDisplay | None, lang: str) -> tuple[str, str]:
    """The customer display's two lines in ``lang`` (blank before anything was shown)."""
    if shown is None:
        return "", ""
    return render(shown.line1, lang, **shown.params), render(shown.line2, lang, **shown.params)


def table_headers(lang: str) -> tuple[str, ...]:
    """The sale table's column titles."""
    return tuple(
        render(f"column.{name}", lang) for name in ("no", "item", "qty", "price", "amount")
    )


def phase_name(phase: Phase, lang: str) -> str:
    """The header's state, as the cashier reads it."""
    return render(f"phase.{phase.value}", lang)


def word(kind: str, value: str, lang: str) -> str:
    """A code name (a paper state, a device) in ``lang``; itself when the catalogue lacks it."""
    key = f"{kind}.{value}"
    text = render(key, lang)
    return value if text == key else text


def escape(text: str) -> str:
    """Keep product names with brackets from being read as markup."""
    return text.replace("[", r"\[")
