"""The checkout state machine: step(state, event) -> (state, commands), never raising."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Final

from device.checkout import answers, notes, returning, selling, session, tendering
from device.checkout import events as ev
from device.checkout.commands import Command, Notify
from device.checkout.config import CheckoutConfig
from device.checkout.context import Context, Refused, refusal_notice
from device.checkout.errors import CheckoutError
from device.checkout.ports import Ports
from device.checkout.shifts import Shift
from device.checkout.snapshot import cart_from_plain
from device.checkout.state import Phase, State, Suspended

Handler = Callable[[Context, State, Any], tuple[State, list[Command]]]

_HANDLERS: Final[Mapping[type[Any], Handler]] = MappingProxyType(
    {
        ev.Login: session.login,
        ev.Logout: session.logout,
        ev.OpenShift: session.open_shift,
        ev.CashIn: session.cash_in,
        ev.CashOut: session.cash_out,
        ev.XReport: session.x_report,
        ev.CloseShift: session.close_shift,
        ev.NoSale: session.no_sale,
        ev.Reprint: session.reprint,
        ev.LookupMember: session.lookup_member,
        ev.AddMemberNote: notes.add_member_note,
        ev.FileComplaint: notes.file_complaint,
        ev.Feedback: session.feedback,
        ev.SkipFeedback: session.skip_feedback,
        ev.DrawerOpened: session.drawer_opened,
        ev.DrawerClosed: session.drawer_closed,
        ev.Tick: answers.tick,
        ev.Scan: selling.scan,
        ev.SetQuantity: selling.set_quantity,
        ev.VoidLine: selling.void_line,
        ev.OverridePrice: selling.override_price,
        ev.DiscountLine: selling.discount_line,
        ev.DiscountSale: selling.discount_sale,
        ev.IdentifyMember: selling.identify_member,
        ev.RegisterMember: selling.register_member,
        ev.ClearMember: selling.clear_member,
        ev.Subtotal: selling.subtotal,
        ev.BackToSale: selling.back_to_sale,
        ev.AddTender: tendering.add_tender,
        ev.RedeemPoints: tendering.redeem_points,
        ev.CancelTender: tendering.cancel_tender,
        ev.CancelSale: selling.cancel_sale,
        ev.Suspend: selling.suspend,
        ev.Recall: selling.recall,
        ev.StartReturn: returning.start_return,
        ev.ReturnLines: returning.return_lines,
        ev.CancelReturn: returning.cancel_return,
        ev.NoReceiptReturn: returning.no_receipt_return,
        ev.VoidSale: returning.void_sale,
        ev.HqCouponGranted: answers.answered,
        ev.HqReceiptFound: answers.answered,
        ev.HqClaimGranted: answers.answered,
        ev.HqRefused: answers.answered,
        ev.HqUnreachable: answers.answered,
    }
)

# Events the hardware or the clock sends whoever is signed in (or nobody); HQ's answers too.
_ANY_TIME: Final = (ev.Login, ev.DrawerOpened, ev.DrawerClosed, ev.Tick, *answers.ANSWERS)
# What may happen while a question is out to HQ.
_WHILE_ASKING: Final = (ev.DrawerOpened, ev.DrawerClosed, ev.Tick, *answers.ANSWERS)
# Events that make sense without an open shift once signed in.
_NO_SHIFT_NEEDED: Final = (
    ev.Logout, ev.OpenShift, ev.LookupMember, ev.AddMemberNote, ev.FileComplaint, ev.Reprint,
)  # fmt: skip


class Machine:
    """Owns no state: the runtime keeps the State and feeds events one at a time."""

    def __init__(self, ports: Ports, config: CheckoutConfig) -> None:
        self._ctx = Context(ports=ports, config=config)

    def reconfigure(self, config: CheckoutConfig) -> None:
        """Use ``config`` from the next event on.

        The runtime calls this only between sales (no cart, return or tender open), so a
        sale in progress keeps the rules it started with.
        """
        self._ctx = Context(ports=self._ctx.ports, config=config)

    def initial_state(self) -> State:
        """A till just switched on: nobody signed in, no shift, no sale."""
        return State(phase=Phase.LOGGED_OUT)

    def resume(
        self, shift: Shift | None, suspended: Sequence[tuple[str, dict[str, Any]]]
    ) -> tuple[State, list[Command]]:
        """The state after a restart: the open shift and suspended sales, nobody signed in.

        The runtime reads both back from the store. A suspended sale whose snapshot cannot
        be read is left out with an error Notify; its row stays in the store, so nothing
        is lost and a technician can look at it.
        """
        held: list[Suspended] = []
        notices: list[Command] = []
        for suspend_id, snapshot in suspended:
            try:
                cart = cart_from_plain(snapshot, self._ctx.config.cart_limits)
            except CheckoutError as err:
                notices.append(self._error(err))
                continue
            held.append(Suspended(suspend_id=suspend_id, cart=cart))
        state = State(phase=Phase.LOGGED_OUT, shift=shift, suspended=tuple(held))
        return state, notices

    def step(self, state: State, event: ev.Event) -> tuple[State, list[Command]]:
        """Apply one event. A refused event returns ``state`` itself plus an error Notify.

        Nothing raises out of here: a rule's refusal is a CheckoutError with its reason,
        and any other exception (a failing port) becomes an ``error.internal`` Notify.
        """
        try:
            _guard(state, event)
            handler = _HANDLERS.get(type(event))
            if handler is None:
                raise Refused("state.illegal")
            new_state, commands = handler(self._ctx, state, event)
        except CheckoutError as err:
            return answers.after_failure(state, event), [self._error(err)]
        except Exception as err:
            # A port that failed (storage, lookup) or a bug: the sale in progress must
            # survive it, so the state is kept and the cashier is told what went wrong.
            return answers.after_failure(state, event), [self._internal(err)]
        if new_state.cart is not None and new_state.consulted is not None:
            # A sale opened: notes and complaints are now about its customer, never about
            # a member looked up before it (even once the sale is over).
            new_state = replace(new_state, consulted=None)
        for command in reversed(commands):
            if isinstance(command, Notify):
                new_state = replace(new_state, message_key=command.message_key)
                break
        return new_state, commands

    def _internal(self, err: Exception) -> Notify:
        reason = str(err) or type(err).__name__
        params = {"reason": reason}
        return Notify(
            command_id=self._ctx.new_id(),
            level="error",
            message_key="error.internal",
            params=params,
        )

    def _error(self, err: CheckoutError) -> Notify:
        return refusal_notice(self._ctx.new_id(), err)


def _guard(state: State, event: ev.Event) -> None:
    if state.asking is not None and not isinstance(event, _WHILE_ASKING):
        raise Refused("hq.waiting")
    if isinstance(event, _ANY_TIME):
        return
    if state.phase is Phase.LOGGED_OUT or state.staff is None:
        raise Refused("state.logged_out")
    if isinstance(event, _NO_SHIFT_NEEDED):
        return
    if state.shift is None:
        raise Refused("state.no_shift")
