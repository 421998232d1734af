"""Output commands of the checkout state machine; each carries an id so a replay runs it once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from device.checkout.hq import Query
from device.checkout.records import (
    AuditEntry,
    CashMovement,
    Member,
    ReturnRecord,
    SaleRecord,
    ShiftReport,
    Tier,
)

# The runtime executes Record* commands in one store transaction each, and remembers the
# command_id of every Print*/OpenDrawer it has run: a replay after a crash skips those ids.


@dataclass(frozen=True, slots=True)
class RecordSale:
    command_id: str
    sale: SaleRecord


@dataclass(frozen=True, slots=True)
class RecordReturn:
    command_id: str
    ret: ReturnRecord


@dataclass(frozen=True, slots=True)
class RecordMember:
    """A member registered at the till (possibly offline; the cloud merges by phone)."""

    command_id: str
    member: Member
    gender: str
    registered_by: str
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordTierChange:
    """A member's tier went up because of a sale (upgrades apply immediately)."""

    command_id: str
    member_id: str
    old_tier: Tier
    new_tier: Tier
    sale_id: str
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordMemberNote:
    command_id: str
    member_id: str
    staff_id: str
    note: str
    device_time: dt.datetime
    role: str = ""  # the writer's role, for HQ reading the note


@dataclass(frozen=True, slots=True)
class RecordComplaint:
    """A complaint taken at the till, against a member, a sale of this till, or both."""

    command_id: str
    staff_id: str
    text: str
    device_time: dt.datetime
    member_id: str | None = None
    sale_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordCashMovement:
    command_id: str
    movement: CashMovement


@dataclass(frozen=True, slots=True)
class RecordShiftOpen:
    command_id: str
    shift_id: str
    staff_id: str
    float_fen: int
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordShiftClose:
    command_id: str
    report: ShiftReport
    staff_id: str
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordAudit:
    command_id: str
    entry: AuditEntry


@dataclass(frozen=True, slots=True)
class RecordFeedback:
    command_id: str
    sale_id: str
    rating: int
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class SuspendSale:
    """Persist a suspended cart so it survives a restart; ``snapshot`` is plain JSON-able data."""

    command_id: str
    suspend_id: str
    snapshot: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeleteSuspended:
    command_id: str
    suspend_id: str


@dataclass(frozen=True, slots=True)
class PrintReceipt:
    """Print a sale's receipt from the journal, after the sale is committed."""

    command_id: str
    sale_id: str
    reprint: bool = False


@dataclass(frozen=True, slots=True)
class PrintReturnReceipt:
    command_id: str
    return_id: str


@dataclass(frozen=True, slots=True)
class PrintReport:
    command_id: str
    report: ShiftReport


@dataclass(frozen=True, slots=True)
class OpenDrawer:
    command_id: str
    reason: str  # "sale" | "refund" | "no_sale" | "shift_open" | "cash_in" | "cash_out" | ...


@dataclass(frozen=True, slots=True)
class SoundAlarm:
    """Drawer left open too long: beep until it is closed."""

    command_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ShowOnDisplay:
    """Two lines for the customer-facing display, as catalogue keys ("" is a blank line)."""

    command_id: str
    line1: str = ""
    line2: str = ""
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notify:
    """A message for the cashier's screen: a catalogue key and its parameters (device.i18n)."""

    command_id: str
    level: Literal["info", "warning", "error"]
    message_key: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AskHq:
    """Put a question to HQ; the answer comes back as an Hq* event naming ``request_id``."""

    command_id: str
    request_id: str
    query: Query
    timeout_s: float


@dataclass(frozen=True, slots=True)
class TellHq:
    """Tell HQ something that needs no answer (free a hold or a claim); best effort."""

    command_id: str
    request_id: str
    query: Query


Command = (
    RecordSale
    | RecordReturn
    | RecordMember
    | RecordTierChange
    | RecordMemberNote
    | RecordComplaint
    | RecordCashMovement
    | RecordShiftOpen
    | RecordShiftClose
    | RecordAudit
    | RecordFeedback
    | SuspendSale
    | DeleteSuspended
    | PrintReceipt
    | PrintReturnReceipt
    | PrintReport
    | OpenDrawer
    | SoundAlarm
    | ShowOnDisplay
    | Notify
    | AskHq
    | TellHq
)
