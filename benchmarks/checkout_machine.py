"""Checkout state-machine speed: one Scan step in SELLING against a 100,000-product catalogue."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import random
import time

from benchmarks._stats import percentile
from device.checkout import events as ev
from device.checkout.barcodes import gtin_check_digit
from device.checkout.config import default_config
from device.checkout.machine import Machine
from device.checkout.ports import PinResult, Ports
from device.checkout.records import Member, Product, ReturnRecord, Role, SaleRecord, Staff
from device.checkout.state import Phase, State

# A manager, so one login can also open the shift without a second PIN.
_STAFF = Staff("m1", "Bench", Role.MANAGER)
_NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


class _Catalogue:
    """A plain dict, standing in for the store's indexed product table."""

    def __init__(self, size: int) -> None:
        self.codes: list[str] = []
        self.by_code: dict[str, Product] = {}
        for i in range(size):
            body = f"69{i:010d}"
            code = body + str(gtin_check_digit(body))
            product = Product(f"P{i}", f"商品{i}", f"Item {i}", f"cat{i % 40}", 100 + i % 9000)
            self.codes.append(code)
            self.by_code[code] = product

    def by_barcode(self, code: str) -> Product | None:
        return self.by_code.get(code)

    def by_sku(self, sku: str) -> Product | None:
        return None


class _Members:
    def by_card(self, card_id: str) -> Member | None:
        return None

    def by_phone(self, phone: str) -> Member | None:
        return None

    def by_code(self, member_code: str) -> Member | None:
        return None


class _Staff:
    def verify(self, staff_id: str, pin: str, new_pin: str | None = None) -> PinResult:
        return PinResult(ok=pin == "1111", staff=_STAFF if pin == "1111" else None)


class _Journal:
    def sale_by_receipt(self, receipt_no: str) -> tuple[SaleRecord, str] | None:
        return None

    def returns_for_sale(self, sale_id: str) -> list[ReturnRecord]:
        return []

    def member_returns_since(self, member_id: str, since: dt.datetime) -> int:
        return 0


class _Clock:
    def now(self) -> dt.datetime:
        return _NOW

    def synced(self) -> bool:
        return True


class _Ids:
    def __init__(self) -> None:
        self._counter = itertools.count()

    def new_id(self) -> str:
        return f"id-{next(self._counter)}"


def _idle_state(machine: Machine) -> State:
    state = machine.initial_state()
    state, _ = machine.step(state, ev.Login("m1", "1111"))
    state, _ = machine.step(state, ev.OpenShift(10000))
    if state.phase is not Phase.IDLE:
        raise RuntimeError("benchmark till did not reach IDLE")
    return state


def run(quick: bool) -> dict[str, float]:
    """p99/p50 of one Scan step (lookup, cart add, re-price, display) in microseconds."""
    catalogue = _Catalogue(20_000 if quick else 100_000)
    ports = Ports(
        catalogue=catalogue,
        members=_Members(),
        staff=_Staff(),
        journal=_Journal(),
        clock=_Clock(),
        ids=_Ids(),
    )
    machine = Machine(ports, default_config())
    state = _idle_state(machine)
    rng = random.Random(7)
    figures: dict[str, float] = {}
    runs = 2_000 if quick else 20_000
    for lines in (1, 20):
        base = state
        for code in rng.sample(catalogue.codes, lines):
            base, _ = machine.step(base, ev.Scan(code))
        if base.phase is not Phase.SELLING:
            raise RuntimeError("benchmark till is not selling")
        scans = [ev.Scan(code) for code in rng.choices(catalogue.codes, k=runs)]
        for event in scans[:200]:  # warm-up
            machine.step(base, event)
        # Start from a clean heap; collections during the run still count, as in the runtime.
        gc.collect()
        samples: list[float] = []
        for event in scans:
            start = time.perf_counter_ns()
            machine.step(base, event)
            samples.append((time.perf_counter_ns() - start) / 1000)
        suffix = "" if lines == 20 else f"_{lines}_line"
        figures[f"checkout.step_scan{suffix}_p99_us"] = round(percentile(samples, 99), 1)
        figures[f"checkout.step_scan{suffix}_p50_us"] = round(percentile(samples, 50), 1)
    return figures
