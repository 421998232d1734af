"""The till around its sales: login and lockout, shifts with X/Z reports, no-sale, drawer alarm."""

from __future__ import annotations

from device.checkout import events as ev
from device.checkout.commands import (
    Notify,
    OpenDrawer,
    PrintReport,
    RecordAudit,
    RecordCashMovement,
    RecordMemberNote,
    RecordShiftClose,
    RecordShiftOpen,
    SoundAlarm,
)
from device.checkout.events import ManagerCreds
from device.checkout.records import Product
from device.checkout.state import Phase
from device.i18n import english
from tests.device.checkout.fakes import Till

MANAGER = ManagerCreds("m1", "9999")


def opened_till(float_fen: int = 20000) -> Till:
    till = Till([])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(float_fen, MANAGER))
    assert till.state.phase is Phase.IDLE
    return till


def test_wrong_pin_counts_down_then_locks_and_lock_expires() -> None:
    till = Till([])  # 09:00 UTC is 17:00 in the store's default zone, Asia/Shanghai
    first = till.send(ev.Login("c1", "0000"))
    assert till.errors(first) == ["wrong PIN, 2 attempts left"]
    assert till.state.phase is Phase.LOGGED_OUT and till.state.staff is None
    assert till.errors(till.send(ev.Login("c1", "0000"))) == ["wrong PIN, 1 attempts left"]
    assert till.errors(till.send(ev.Login("c1", "0000"))) == ["account locked until 17:15"]
    # the right PIN does not help while locked
    assert till.errors(till.send(ev.Login("c1", "1111"))) == ["account locked until 17:15"]
    till.clock.advance(minutes=16)
    assert till.errors(till.send(ev.Login("c1", "1111"))) == []
    assert till.state.staff is not None and till.state.staff.staff_id == "c1"
    assert till.state.phase is Phase.NO_SHIFT


def test_nothing_but_login_works_when_logged_out() -> None:
    till = Till([])
    before = till.state
    commands = till.send(ev.Scan("6901234567892"))
    assert till.errors(commands) == ["log in first"]
    assert till.state is before


def test_cashier_needs_manager_pin_to_open_shift() -> None:
    till = Till([])
    till.send(ev.Login("c1", "1111"))
    assert till.errors(till.send(ev.OpenShift(10000))) == ["manager PIN required"]
    bad = till.send(ev.OpenShift(10000, ManagerCreds("m1", "1234")))
    assert till.errors(bad) == ["wrong manager PIN, 2 attempts left"]
    # a cashier's own PIN is not a manager's
    assert till.errors(till.send(ev.OpenShift(10000, ManagerCreds("c1", "1111")))) == [
        "only a manager can authorise this"
    ]
    assert till.state.shift is None
    commands = till.send(ev.OpenShift(10000, MANAGER))
    assert [type(c) for c in commands[:2]] == [RecordShiftOpen, OpenDrawer]
    assert till.state.shift is not None and till.state.shift.float_fen == 10000


def test_shift_x_and_z_reports_expected_cash_by_hand() -> None:
    till = opened_till(20000)
    assert till.errors(till.send(ev.CashIn(5000, "coins from bank"))) == []
    assert till.errors(till.send(ev.CashOut(12000, "pickup to safe"))) == []
    x_cmds = till.send(ev.XReport())
    x = next(c.report for c in x_cmds if isinstance(c, PrintReport))
    # 200.00 float + 50.00 in - 120.00 out
    assert x.kind == "X" and x.expected_cash_fen == 13000
    assert till.state.shift is not None  # X leaves the shift open
    z_cmds = till.send(ev.CloseShift(12950, MANAGER))
    z = next(c.report for c in z_cmds if isinstance(c, RecordShiftClose))
    assert (z.kind, z.expected_cash_fen, z.counted_cash_fen, z.difference_fen) == (
        "Z",
        13000,
        12950,
        -50,
    )
    assert till.state.shift is None and till.state.phase is Phase.NO_SHIFT
    movements = [c.movement.amount_fen for c in till.log if isinstance(c, RecordCashMovement)]
    assert movements == [5000, -12000]


def test_cash_out_beyond_the_drawer_and_without_reason_is_refused() -> None:
    till = opened_till(10000)
    assert till.errors(till.send(ev.CashOut(10001, "pickup"))) == [
        "only ¥100.00 should be in the drawer"
    ]
    assert till.errors(till.send(ev.CashIn(100, "  "))) == ["give a reason"]
    assert till.errors(till.send(ev.CashIn(0, "x"))) == ["enter an amount above zero"]


def test_no_sale_with_manager_override_audits_and_opens_drawer_once() -> None:
    till = opened_till()
    assert till.errors(till.send(ev.NoSale())) == ["manager PIN required"]
    commands = till.send(ev.NoSale(MANAGER, reason="change for customer"))
    audits = [c.entry for c in commands if isinstance(c, RecordAudit)]
    drawers = [c for c in commands if isinstance(c, OpenDrawer)]
    assert len(audits) == 1 and len(drawers) == 1
    assert audits[0].action == "no_sale"
    assert (audits[0].staff_id, audits[0].manager_id) == ("c1", "m1")
    assert drawers[0].reason == "no_sale"
    ids = [c.command_id for c in commands]
    assert len(set(ids)) == len(ids)
    z = till.send(ev.CloseShift(20000, MANAGER))
    report = next(c.report for c in z if isinstance(c, PrintReport))
    assert report.extras["no_sale_count"] == 1


def test_drawer_left_open_alarms_once() -> None:
    till = opened_till()
    till.send(ev.DrawerOpened())
    assert till.send(ev.Tick()) == []
    till.clock.advance(seconds=till.config.drawer_alarm_s + 1)
    first = till.send(ev.Tick())
    assert isinstance(first[0], SoundAlarm)
    assert till.send(ev.Tick()) == []  # no alarm storm
    till.send(ev.DrawerClosed())
    assert not till.state.drawer_open


def test_guide_can_look_up_members_but_not_sell() -> None:
    till = Till([])
    till.send(ev.Login("m1", "9999"))
    till.send(ev.OpenShift(0))
    till.send(ev.Logout())
    till.send(ev.Login("g1", "2222"))
    assert till.state.phase is Phase.IDLE  # the shift outlives the manager's logout
    assert till.errors(till.send(ev.Scan("6901234567892"))) == ["a sales guide may not sell"]
    assert till.errors(till.send(ev.AddMemberNote("prefers size L", member_id="M1"))) == []


def test_manager_on_own_login_needs_no_second_pin_but_is_still_audited() -> None:
    till = Till([])
    till.send(ev.Login("m1", "9999"))
    till.send(ev.OpenShift(5000))
    commands = till.send(ev.NoSale())
    audit = next(c.entry for c in commands if isinstance(c, RecordAudit))
    assert (audit.staff_id, audit.manager_id) == ("m1", "m1")
    assert len([c for c in commands if isinstance(c, OpenDrawer)]) == 1


def test_guide_note_is_recorded_and_guide_cannot_open_a_shift_alone() -> None:
    till = Till([])
    till.send(ev.Login("g1", "2222"))
    assert till.state.phase is Phase.NO_SHIFT
    assert till.errors(till.send(ev.OpenShift(0))) == ["manager PIN required"]
    assert till.errors(till.send(ev.AddMemberNote("  ", member_id="M1"))) == ["write a note first"]
    done = till.send(ev.AddMemberNote("asked about size L boots", member_id="M1"))
    note = next(c for c in done if isinstance(c, RecordMemberNote))
    assert (note.member_id, note.staff_id, note.note) == ("M1", "g1", "asked about size L boots")
    assert till.errors(till.send(ev.XReport())) == ["open a shift first"]


def test_logout_keeps_the_shift_for_the_next_cashier() -> None:
    till = opened_till(10000)
    shift = till.state.shift
    till.send(ev.Logout())
    assert till.state.phase is Phase.LOGGED_OUT and till.state.shift is shift
    assert till.errors(till.send(ev.XReport())) == ["log in first"]
    till.send(ev.Login("m1", "9999"))
    assert till.state.phase is Phase.IDLE and till.state.shift is shift


def test_a_failing_port_is_reported_and_the_sale_survives() -> None:
    milk = Product("MILK", "牛奶", "Milk", "dairy", 1250, barcodes=("6901234567892",))
    till = Till([milk])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(0, MANAGER))
    till.send(ev.Scan("6901234567892"))
    before = till.state

    def broken(code: str) -> Product | None:
        raise OSError("disk I/O error")

    till.catalogue.by_barcode = broken  # type: ignore[method-assign]
    commands = till.send(ev.Scan("6901234567892"))
    assert till.state is before
    assert [
        (c.message_key, english(c.message_key, **c.params))
        for c in commands
        if isinstance(c, Notify)
    ] == [("error.internal", "could not do that: disk I/O error")]
    assert len(commands) == 1
