"""The terminal's side of the request/response channel with the cloud (protocol.remote).

Runs on the sync thread. ``SyncService.ask`` (any thread) queues a question from the checkout
(device.checkout.hq); the sync loop publishes it on this terminal's request topic with a
correlation id and an MQTT message expiry, and hands the answer to the asker's callback (the
runtime's inbox) as a checkout event: the cloud's reply, or ``HqUnreachable`` when the link is
down ("offline": never sent), the answer is late ("timeout") or unreadable ("bad_reply").
Nothing here blocks: a question waits in ``pending`` with its deadline. A grant that arrives
after its question was given up (a coupon hold, a return claim) is released at once, so it
does not block the coupon or the receipt until it lapses at the cloud.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.checkout import events as ev
from device.checkout.hq import ClaimFree, ClaimQuery, CouponFree, CouponQuery, Query, ReceiptQuery
from device.checkout.records import SaleRecord
from device.store.errors import InvalidRecord
from device.store.serialize import from_plain
from protocol import remote, topics
from protocol.errors import ProtocolError

log = logging.getLogger(__name__)

#: How long a release may wait at the broker (the link may be down when it is sent).
TELL_EXPIRY_S = 3600
#: An ask or tell for which no callback was given (tells need no answer).
Answer = Callable[[object], None]


@dataclass(frozen=True, slots=True)
class Ask:
    """A question for the sync thread's inbox (``answer`` None: a tell, no answer wanted)."""

    request_id: str
    query: Query
    timeout_s: float
    answer: Answer | None


@dataclass(slots=True)
class _Pending:
    query: Query
    deadline: float
    answer: Answer


@dataclass(slots=True)
class DeskStats:
    """Counters for logs and tests."""

    asked: int = 0
    answered: int = 0
    timeouts: int = 0
    offline: int = 0
    late: int = 0
    bad_replies: int = 0
    last_problem: str = ""


def _wire(query: Query, request_id: str, store_id: str, terminal_id: str) -> remote.Request:
    """The protocol request for a checkout query; raises msgspec.ValidationError if it cannot be."""
    base: dict[str, Any] = {"id": request_id, "terminal_id": terminal_id, "store_id": store_id}
    if isinstance(query, CouponQuery):
        fields = {"kind": "coupon_check", "code": query.code, "member_id": query.member_id,
                  "total_fen": query.total_fen, "requested_fen": query.requested_fen}  # fmt: skip
    elif isinstance(query, CouponFree):
        fields = {"kind": "coupon_release", "code": query.code}
    elif isinstance(query, ReceiptQuery):
        fields = {"kind": "receipt_lookup", "receipt_no": query.receipt_no}
    elif isinstance(query, ClaimQuery):
        fields = {"kind": "return_claim", "return_id": query.return_id,
                  "original_sale_id": query.original_sale_id, "receipt_no": query.receipt_no,
                  "lines": [{"line_no": n, "units": u} for n, u in query.lines]}  # fmt: skip
    else:
        fields = {"kind": "return_release", "return_id": query.return_id}
    request: remote.Request = msgspec.convert({**base, **fields}, type=remote.Request)
    return request


def _unsendable(query: Query, request_id: str, why: str) -> ev.HqAnswer:
    """The answer to a question no request can carry (a code no coupon can have, say)."""
    if isinstance(query, CouponQuery):
        return ev.HqRefused(request_id, "coupon_unknown", (("code", query.code),), why)
    if isinstance(query, ReceiptQuery):
        return ev.HqRefused(request_id, "receipt_unknown", (("receipt", query.receipt_no),), why)
    return ev.HqRefused(request_id, "bad_request", (), why)


def _event(reply: remote.Reply) -> ev.HqAnswer | None:
    """The checkout event for a reply (None for a release's acknowledgement)."""
    if isinstance(reply, remote.Refused):
        return ev.HqRefused(reply.id, reply.reason, tuple(reply.params.items()), reply.detail)
    if isinstance(reply, remote.CouponGranted):
        return ev.HqCouponGranted(reply.id, reply.code, reply.amount_fen)
    if isinstance(reply, remote.ClaimGranted):
        return ev.HqClaimGranted(reply.id, reply.return_id)
    if isinstance(reply, remote.ReceiptFound):
        sale = from_plain(msgspec.to_builtins(reply.sale), SaleRecord)
        returned = tuple((r.line_no, r.units) for r in reply.returned)
        return ev.HqReceiptFound(reply.id, reply.receipt_no, sale, returned,
                                 reply.member_returns_30d)  # fmt: skip
    return None


def _release_for(answer: ev.HqAnswer) -> Query | None:
    if isinstance(answer, ev.HqCouponGranted):
        return CouponFree(answer.code)
    if isinstance(answer, ev.HqClaimGranted):
        return ClaimFree(answer.return_id)
    return None


@dataclass
class HqDesk:
    """Questions out to the cloud and their answers; used only from the sync thread."""

    store_id: str
    terminal_id: str
    publish: Callable[[str, bytes, Properties], bool]
    pending: dict[str, _Pending] = field(default_factory=dict)
    stats: DeskStats = field(default_factory=DeskStats)

    def __post_init__(self) -> None:
        self.request_topic = topics.request_topic(self.store_id, self.terminal_id)
        self.reply_topic = topics.reply_topic(self.store_id, self.terminal_id)
        self._released = 0

    def send(self, item: Ask, connected: bool, now: float) -> None:
        """Publish a question (or a tell); answer at once when it cannot leave the till."""
        try:
            request = _wire(item.query, item.request_id, self.store_id, self.terminal_id)
        except msgspec.ValidationError as err:
            if item.answer is not None:
                item.answer(_unsendable(item.query, item.request_id, str(err)))
            return
        if item.answer is None:  # a tell: best effort, kept by the broker for a while
            self._publish(request, TELL_EXPIRY_S)
            return
        self.stats.asked += 1
        if not connected or not self._publish(request, math.ceil(item.timeout_s)):
            self.stats.offline += 1
            item.answer(ev.HqUnreachable(item.request_id, "offline"))
            return
        self.pending[item.request_id] = _Pending(item.query, now + item.timeout_s, item.answer)

    def _publish(self, request: remote.Request, expiry_s: int) -> bool:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        # The broker drops a question nobody took in time: the till has given up on it.
        props.MessageExpiryInterval = max(1, expiry_s)
        return self.publish(self.request_topic, remote.encode_request(request), props)

    def on_reply(self, payload: bytes) -> None:
        """An answer on this terminal's reply topic."""
        try:
            reply = remote.decode_reply(payload)
            if reply.terminal_id != self.terminal_id:
                raise ProtocolError(f"a reply for terminal {reply.terminal_id!r}")
        except ProtocolError as err:
            self.stats.bad_replies += 1
            self.stats.last_problem = f"reply: {err}"
            log.warning("reply dropped: %s", err)
            return
        waiting = self.pending.pop(reply.id, None)
        try:
            answer = _event(reply)
        except InvalidRecord as err:  # a sale this till cannot rebuild
            self.stats.bad_replies += 1
            self.stats.last_problem = f"reply {reply.id}: {err}"
            answer = ev.HqUnreachable(reply.id, "bad_reply")
        if answer is None:
            return
        if waiting is None:
            self.stats.late += 1
            freed = _release_for(answer)
            if freed is not None:  # nobody waits for this grant any more
                self._released += 1
                tell = Ask(f"{reply.id[:24]}{self._released:08x}", freed, 0.0, None)
                self.send(tell, True, 0.0)
            return
        self.stats.answered += 1
        waiting.answer(answer)

    def tick(self, now: float) -> None:
        """Give up on questions past their deadline."""
        for request_id in [rid for rid, p in self.pending.items() if p.deadline <= now]:
            waiting = self.pending.pop(request_id)
            self.stats.timeouts += 1
            waiting.answer(ev.HqUnreachable(request_id, "timeout"))

    def on_disconnected(self) -> None:
        """The link dropped: nobody should wait for answers that may never come."""
        for request_id, waiting in list(self.pending.items()):
            del self.pending[request_id]
            self.stats.timeouts += 1
            # It may have reached the cloud: "timeout" makes the checkout give back a grant.
            waiting.answer(ev.HqUnreachable(request_id, "timeout"))
