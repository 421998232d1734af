"""Answers terminals' requests (protocol.remote): coupon checks and holds, receipts, return claims.

An ingest worker takes requests from the shared subscription like events, answers each in one
database transaction, and publishes the answer on the asking terminal's own reply topic,
derived from the topic the request came on (which the broker's ACL lets only that terminal
publish to): nothing in a payload can redirect an answer. A request whose ids differ from
its topic, or that cannot be read, is kept as a dead letter; if its correlation id can still
be read, the terminal gets a ``bad_request`` answer at once instead of waiting for its timeout.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgspec

from cloud.domain.coupons import UseRequest
from cloud.store import coupons, receipts
from cloud.store.apply import record_dead_letter
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules
from protocol import remote
from protocol.bodies import SaleBody
from protocol.errors import ProtocolError, SchemaError
from protocol.topics import parse_request_topic, reply_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestSettings:
    """How long the cloud keeps what it granted for a till that has not used it yet."""

    hold_s: int = coupons.HOLD_S
    claim_s: int = receipts.CLAIM_S


@dataclass(frozen=True, slots=True)
class _Asked:
    store_id: str
    terminal_id: str
    now: dt.datetime  # naive UTC, as stored
    today: dt.date  # the asking store's local date


class _CorrelationProbe(msgspec.Struct):
    id: Any = None


def _refused(request: remote.Request, refusal: receipts.Refusal) -> remote.Refused:
    return remote.Refused(id=request.id, terminal_id=request.terminal_id, reason=refusal.reason,
                          params=dict(refusal.params), detail=refusal.detail[:500])  # fmt: skip


class RequestDesk:
    """One worker's answers to requests; ``handle`` runs on its commit thread."""

    def __init__(
        self,
        db: Callable[[], CloudDB],
        publish: Callable[[str, bytes], None],
        rules: IngestRules,
        clock: Callable[[], dt.datetime],
        settings: RequestSettings | None = None,
    ) -> None:
        self._db = db
        self._publish = publish
        self._rules = rules
        self._clock = clock
        self.settings = settings or RequestSettings()
        self.answered = 0
        self._handlers: Mapping[type[Any], Callable[[CloudDB, Any, _Asked], remote.Reply]] = (
            MappingProxyType({
                remote.CouponCheck: self._coupon_check,
                remote.CouponRelease: self._coupon_release,
                remote.ReceiptLookup: self._receipt_lookup,
                remote.ReturnClaim: self._return_claim,
                remote.ReturnRelease: self._return_release,
            })
        )  # fmt: skip

    def handle(self, topic: str, payload: bytes) -> remote.Reply | None:
        """Answer one request (in one transaction), then publish the answer to its terminal."""
        cdb = self._db()
        aware = self._clock()
        now = aware.astimezone(dt.UTC).replace(tzinfo=None)
        sender: tuple[str, str] | None = None
        try:
            sender = parse_request_topic(topic)
            request = remote.decode_request(payload)
            if (request.store_id, request.terminal_id) != sender:
                raise SchemaError(
                    f"request claims {request.store_id}/{request.terminal_id} on the topic of "
                    f"{sender[0]}/{sender[1]}"
                )
        except ProtocolError as err:
            return self._unreadable(cdb, topic, payload, sender, err, now)
        asked = _Asked(sender[0], sender[1], now,
                       aware.astimezone(self._rules.tz_for(sender[0])).date())  # fmt: skip
        with cdb.write():
            reply = self._handlers[type(request)](cdb, request, asked)
        self._answer(sender, reply)
        return reply

    def _answer(self, sender: tuple[str, str], reply: remote.Reply) -> None:
        self._publish(reply_topic(*sender), remote.encode_reply(reply))
        self.answered += 1

    def _unreadable(
        self, cdb: CloudDB, topic: str, payload: bytes, sender: tuple[str, str] | None,
        err: ProtocolError, now: dt.datetime,
    ) -> remote.Reply | None:  # fmt: skip
        reason = f"request: {type(err).__name__}: {err}"
        log.warning("dead-lettered request on %s: %s", topic, reason)
        with cdb.write():
            record_dead_letter(cdb, topic=topic, terminal_id=sender[1] if sender else "",
                               claimed_terminal_id="", reason=reason, seqs=[], payload=payload,
                               now=now)  # fmt: skip
        if sender is None:
            return None
        try:
            probe = msgspec.json.decode(payload, type=_CorrelationProbe)
            request_id = msgspec.convert(probe.id, remote.RequestId)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
            return None  # nothing to answer to: the terminal's own timeout tells the cashier
        reply = remote.Refused(id=request_id, terminal_id=sender[1], reason="bad_request",
                               detail=str(err)[:500])  # fmt: skip
        self._answer(sender, reply)
        return reply

    # -- one handler per request kind (a read-only table, see __init__) ---------------------

    def _coupon_check(self, cdb: CloudDB, req: remote.CouponCheck, at: _Asked) -> remote.Reply:
        use = UseRequest(store_id=at.store_id, member_id=req.member_id, total_fen=req.total_fen,
                         requested_fen=req.requested_fen, today=at.today)  # fmt: skip
        verdict, left = coupons.check_and_hold(
            cdb, code=req.code, terminal_id=at.terminal_id, store_id=at.store_id,
            request_id=req.id, use=use, now=at.now, hold_s=self.settings.hold_s,
        )  # fmt: skip
        if not verdict.granted:
            params = dict(verdict.params)
            detail = params.pop("detail", verdict.reason)
            return remote.Refused(id=req.id, terminal_id=req.terminal_id, reason=verdict.reason,
                                  params=params, detail=detail)  # fmt: skip
        return remote.CouponGranted(id=req.id, terminal_id=req.terminal_id, code=req.code,
                                    amount_fen=verdict.amount_fen, uses_left=left,
                                    hold_s=self.settings.hold_s)  # fmt: skip

    def _coupon_release(self, cdb: CloudDB, req: remote.CouponRelease, at: _Asked) -> remote.Reply:
        coupons.release(cdb, req.code, at.terminal_id)
        return remote.Released(id=req.id, terminal_id=req.terminal_id)

    def _receipt_lookup(self, cdb: CloudDB, req: remote.ReceiptLookup, at: _Asked) -> remote.Reply:
        found = receipts.lookup(cdb, req.receipt_no, at.now, at.today)
        if isinstance(found, receipts.Refusal):
            return _refused(req, found)
        sale, returned, member_returns = found
        try:
            body = msgspec.convert(dict(sale.body), SaleBody)
        except msgspec.ValidationError as err:  # stored by an older version, say
            refusal = receipts.Refusal("bad_request", {}, f"sale cannot be sent: {err}")
            return _refused(req, refusal)
        lines = [remote.ClaimLine(line_no=n, units=u) for n, u in sorted(returned.items()) if u]
        return remote.ReceiptFound(
            id=req.id, terminal_id=req.terminal_id, receipt_no=sale.receipt_no,
            sale_store_id=sale.store_id, sale_terminal_id=sale.terminal_id, sale=body,
            returned=lines, member_returns_30d=member_returns,
        )  # fmt: skip

    def _return_claim(self, cdb: CloudDB, req: remote.ReturnClaim, at: _Asked) -> remote.Reply:
        lines = [(line.line_no, line.units) for line in req.lines]
        if len({n for n, _ in lines}) != len(lines):
            return _refused(req, receipts.Refusal("bad_request", {}, "a line is listed twice"))
        refusal = receipts.claim(
            cdb, terminal_id=at.terminal_id, return_id=req.return_id,
            sale_id=req.original_sale_id, receipt_no=req.receipt_no, lines=lines, now=at.now,
            claim_s=self.settings.claim_s,
        )  # fmt: skip
        if refusal is not None:
            return _refused(req, refusal)
        return remote.ClaimGranted(
            id=req.id, terminal_id=req.terminal_id, return_id=req.return_id,
            hold_s=self.settings.claim_s,
        )  # fmt: skip

    def _return_release(self, cdb: CloudDB, req: remote.ReturnRelease, at: _Asked) -> remote.Reply:
        receipts.release_claim(cdb, req.return_id, at.terminal_id)
        return remote.Released(id=req.id, terminal_id=req.terminal_id)
