"""In-memory fakes of the checkout ports, and a tiny till that applies Record* commands to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from device.checkout import events as ev
from device.checkout.commands import (
    AskHq,
    Command,
    Notify,
    RecordMember,
    RecordReturn,
    RecordSale,
    RecordTierChange,
    TellHq,
)
from device.checkout.config import CheckoutConfig, default_config
from device.checkout.events import Event
from device.checkout.hq import ClaimQuery, CouponQuery, ReceiptQuery
from device.checkout.machine import Machine
from device.checkout.ports import PinResult, Ports
from device.checkout.records import (
    Member,
    Product,
    ReturnRecord,
    Role,
    SaleRecord,
    Staff,
)
from device.checkout.state import State
from device.i18n import english

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


class FakeCatalogue:
    def __init__(self, products: list[Product]) -> None:
        self.by_code: dict[str, Product] = {}
        self.skus: dict[str, Product] = {}
        for p in products:
            self.skus[p.sku] = p
            for code in p.barcodes:
                self.by_code[code] = p

    def by_barcode(self, code: str) -> Product | None:
        return self.by_code.get(code)

    def by_sku(self, sku: str) -> Product | None:
        return self.skus.get(sku)


class FakeMembers:
    def __init__(self, members: list[Member], cards: dict[str, str] | None = None) -> None:
        self.members = {m.member_id: m for m in members}
        self.cards = cards or {}

    def by_card(self, card_id: str) -> Member | None:
        member_id = self.cards.get(card_id)
        return self.members.get(member_id) if member_id else None

    def by_phone(self, phone: str) -> Member | None:
        return next((m for m in self.members.values() if m.phone == phone), None)

    def by_code(self, member_code: str) -> Member | None:
        return next((m for m in self.members.values() if m.member_code == member_code), None)


class FakeClock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.current = now

    def now(self) -> dt.datetime:
        return self.current

    def synced(self) -> bool:
        return True

    def advance(self, **kw: float) -> None:
        self.current += dt.timedelta(**kw)


class FakeStaffAuth:
    """Counts failures per staff id and locks for ``lockout`` after ``max_attempts``."""

    def __init__(
        self,
        accounts: dict[str, tuple[Staff, str]],
        clock: FakeClock,
        max_attempts: int = 3,
        lockout: dt.timedelta = dt.timedelta(minutes=15),
    ) -> None:
        self.accounts = accounts
        self.clock = clock
        self.max_attempts = max_attempts
        self.lockout = lockout
        self.failures: dict[str, int] = {}
        self.locked_until: dict[str, dt.datetime] = {}

    def verify(self, staff_id: str, pin: str) -> PinResult:
        now = self.clock.now()
        until = self.locked_until.get(staff_id)
        if until is not None and now < until:
            return PinResult(ok=False, locked_until=until, reason="locked")
        account = self.accounts.get(staff_id)
        if account is not None and account[1] == pin:
            self.failures.pop(staff_id, None)
            return PinResult(ok=True, staff=account[0])
        count = self.failures.get(staff_id, 0) + 1
        self.failures[staff_id] = count
        if count >= self.max_attempts:
            self.failures.pop(staff_id)
            self.locked_until[staff_id] = now + self.lockout
            return PinResult(ok=False, locked_until=now + self.lockout, reason="locked")
        return PinResult(ok=False, attempts_left=self.max_attempts - count, reason="wrong PIN")


@dataclass
class FakeJournal:
    sales: dict[str, SaleRecord] = field(default_factory=dict)  # receipt_no -> sale
    returns: dict[str, list[ReturnRecord]] = field(default_factory=dict)  # sale id -> returns

    def sale_by_receipt(self, receipt_no: str) -> tuple[SaleRecord, str] | None:
        sale = self.sales.get(receipt_no)
        return (sale, receipt_no) if sale else None

    def returns_for_sale(self, sale_id: str) -> list[ReturnRecord]:
        return list(self.returns.get(sale_id, []))

    def member_returns_since(self, member_id: str, since: dt.datetime) -> int:
        return sum(
            1
            for rets in self.returns.values()
            for r in rets
            if r.member_id == member_id and r.device_time >= since
        )


@dataclass(frozen=True)
class FakeCoupon:
    """A coupon row as the store's cache holds it."""

    code: str
    kind: str
    value: int
    min_spend_fen: int = 0
    member_id: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    stores: tuple[str, ...] = ()
    max_uses: int = 1
    used: int = 0
    offline_uses: int = 0
    revoked: bool = False


@dataclass
class FakeCoupons:
    coupons: dict[str, FakeCoupon] = field(default_factory=dict)

    def get(self, code: str) -> FakeCoupon | None:
        return self.coupons.get(code)


#: How a test's HQ answers a question: an answer event, or None to leave it open.
HqAnswerer = Callable[[AskHq], "ev.HqAnswer | None"]


def hq_like_a_till_without_coupons_online(ask: AskHq) -> ev.HqAnswer | None:
    """HQ reachable for returns (claims granted, other receipts unknown), never for coupons."""
    query = ask.query
    if isinstance(query, ClaimQuery):
        return ev.HqClaimGranted(ask.request_id, query.return_id)
    if isinstance(query, ReceiptQuery):
        return ev.HqRefused(ask.request_id, "receipt_unknown", (("receipt", query.receipt_no),))
    if isinstance(query, CouponQuery):
        return ev.HqUnreachable(ask.request_id, "offline")
    return None


def hq_unreachable(ask: AskHq) -> ev.HqAnswer | None:
    """No link to HQ at all."""
    return ev.HqUnreachable(ask.request_id, "offline")


def hq_silent(ask: AskHq) -> ev.HqAnswer | None:
    """Questions stay open: the test answers them itself."""
    return None


class SeqIds:
    def __init__(self) -> None:
        self.n = 0

    def new_id(self) -> str:
        self.n += 1
        return f"id-{self.n}"


STAFF = {
    "c1": (Staff("c1", "Li Na", Role.CASHIER), "1111"),
    "m1": (Staff("m1", "Wang Fang", Role.MANAGER), "9999"),
    "g1": (Staff("g1", "Zhao Lei", Role.GUIDE), "2222"),
}


class Till:
    """A machine, its state and fakes; applies Record* commands the way the runtime would."""

    def __init__(
        self,
        products: list[Product],
        members: list[Member] | None = None,
        cards: dict[str, str] | None = None,
        config: CheckoutConfig | None = None,
        coupons: list[FakeCoupon] | None = None,
        hq: HqAnswerer = hq_like_a_till_without_coupons_online,
    ) -> None:
        self.hq = hq
        self.asked: list[AskHq] = []
        self.told: list[TellHq] = []
        self.clock = FakeClock()
        self.catalogue = FakeCatalogue(products)
        self.members = FakeMembers(members or [], cards)
        self.auth = FakeStaffAuth(dict(STAFF), self.clock)
        self.journal = FakeJournal()
        self.coupons = FakeCoupons({c.code: c for c in coupons or []})
        self.ids = SeqIds()
        self.config = config or default_config()
        self.ports = Ports(
            catalogue=self.catalogue,
            members=self.members,
            staff=self.auth,
            journal=self.journal,
            clock=self.clock,
            ids=self.ids,
            coupons=self.coupons,
        )
        self.machine = Machine(self.ports, self.config)
        self.state: State = self.machine.initial_state()
        self.log: list[Command] = []
        self.receipts: dict[str, str] = {}  # sale id -> receipt no
        self.counter = 0

    def send(self, event: Event) -> list[Command]:
        """Step the machine; questions to HQ are answered by ``self.hq`` at once (if it does)."""
        self.state, commands = self.machine.step(self.state, event)
        self.log.extend(commands)
        for command in commands:
            self._apply(command)
        out = list(commands)
        for command in commands:
            if isinstance(command, AskHq):
                answer = self.hq(command)
                if answer is not None:
                    out += self.send(answer)
        return out

    def _apply(self, command: Command) -> None:
        if isinstance(command, RecordSale):
            self.counter += 1
            receipt = f"S001-T01-20261123-{self.counter:04d}"
            self.journal.sales[receipt] = command.sale
            self.receipts[command.sale.sale_id] = receipt
            member_id = command.sale.member_id
            held = self.members.members.get(member_id) if member_id else None
            if held is not None:
                # As the store does: the cached member takes the sale's own points at once.
                delta = sum(row.delta for row in command.sale.points)
                self.members.members[held.member_id] = replace(
                    held, points_balance=held.points_balance + delta
                )
            for tender in command.sale.tenders:
                known = self.coupons.coupons.get(tender.reference)
                if tender.kind.value == "coupon" and known is not None:
                    offline = 0 if tender.approval_code else 1
                    self.coupons.coupons[known.code] = replace(
                        known, used=known.used + 1, offline_uses=known.offline_uses + offline
                    )
        elif isinstance(command, RecordReturn):
            sale_id = command.ret.original_sale_id
            if sale_id is not None:
                self.journal.returns.setdefault(sale_id, []).append(command.ret)
        elif isinstance(command, RecordMember):
            self.members.members[command.member.member_id] = command.member
        elif isinstance(command, AskHq):
            self.asked.append(command)
        elif isinstance(command, TellHq):
            self.told.append(command)
        elif isinstance(command, RecordTierChange):
            old = self.members.members.get(command.member_id)
            if old is not None:
                self.members.members[command.member_id] = replace(old, tier=command.new_tier)

    def errors(self, commands: list[Command]) -> list[str]:
        return [
            english(c.message_key, **c.params)
            for c in commands
            if isinstance(c, Notify) and c.level == "error"
        ]
