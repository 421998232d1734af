"""The signer's decision for one request, against a registry in memory: store and id checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from protocol import topics
from provisioning import certs
from provisioning.fleet import Registry, TerminalRecord
from provisioning.renew import Request, decide
from tests.provisioning.renew_support import request_for


@pytest.fixture
def ca(tmp_path: Path) -> certs.Authority:
    return certs.create_ca(tmp_path / "ca")


def _registry(now: dt.datetime) -> Registry:
    end = (now + dt.timedelta(days=10)).isoformat()
    rec = TerminalRecord(terminal_id="S001-T01", store_id="S001", serial="1f", sha256="00",
                         not_after=end, status="active")  # fmt: skip
    return Registry(terminals={"S001-T01": rec})


@pytest.mark.parametrize(
    ("store", "terminal", "reason"),
    [
        ("S002", "S001-T01", "the terminal belongs to store S001"),
        ("S001", "S001-T09", "not a terminal of this fleet"),
    ],
)
def test_a_request_from_the_wrong_store_or_an_unknown_terminal_is_refused(
    ca: certs.Authority, store: str, terminal: str, reason: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    reg = _registry(now)
    req = Request(topics.renew_topic(store, terminal), request_for(terminal)[1])
    answer = decide(reg, ca, req, now)
    assert answer.cert is None and not answer.signed
    assert "refused, nothing signed" in answer.line and reason in answer.line, answer.line
    assert reg.terminals["S001-T01"].serial == "1f" and reg.terminals["S001-T01"].old == []


def test_a_due_request_is_signed_and_the_old_certificate_kept_until_its_end(
    ca: certs.Authority,
) -> None:
    now = dt.datetime.now(dt.UTC)
    reg = _registry(now)
    old_end = reg.terminals["S001-T01"].not_after
    answer = decide(reg, ca, Request(topics.renew_topic("S001", "S001-T01"),
                                     request_for("S001-T01")[1]), now)  # fmt: skip
    assert answer.signed and answer.cert is not None
    rec = reg.terminals["S001-T01"]
    assert rec.serial == certs.serial_hex(answer.cert) and rec.serial != "1f"
    assert [(o.serial, o.until, o.why) for o in rec.old] == [("1f", old_end, "renewed")]
