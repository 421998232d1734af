"""A status's problem as a message id with arguments: what the till sends, what the wire allows."""

from __future__ import annotations

import copy
import pickle

import msgspec
import pytest

from protocol import codec
from protocol.envelope import MAX_PROBLEM_CHARS, Problem, Status
from protocol.errors import MalformedPayload, SchemaError
from protocol.problems import PROBLEMS, Said, from_wire, placeholders, to_wire

OLDER = (
    b'{"v":1,"terminal_id":"S001-T01","store_id":"S001","online":true,"outbox_depth":0,'
    b'"oldest_unsynced_s":null,"stream_versions":{},"clock_synced":true,"printer":"ok",'
    b'"software_version":"0.9","sent_at":"2026-11-23T06:30:15Z","last_problem":"x"}'
)


def _with(problem: object) -> bytes:
    return OLDER[:-1] + b',"problem":' + msgspec.json.encode(problem) + b"}"


def _status(problem: str) -> Status:
    return Status(
        terminal_id="S001-T01", store_id="S001", online=True, outbox_depth=0,
        oldest_unsynced_s=None, stream_versions={}, clock_synced=True, printer="ok",
        software_version="1.0", sent_at="2026-11-23T06:30:15Z",
        last_problem=problem[:MAX_PROBLEM_CHARS], problem=to_wire(problem),
    )  # fmt: skip


def test_said_is_the_english_and_keeps_its_id_and_nested_arguments() -> None:
    said = Said("ack.ignored", seq=50, reason=Said("journal.ahead", seq=50, last=3))
    assert said == (
        "ack 50 ignored: the cloud holds seq 50 of this terminal, but this store file has "
        "written only up to 3: it was restored from an older copy or copied"
    )
    decoded = codec.decode_status(codec.encode_status(_status(said)))
    assert decoded.problem == Problem(
        id="ack.ignored",
        args={"seq": "50", "reason": Problem(id="journal.ahead", args={"seq": "50", "last": "3"})},
    )
    again = from_wire(decoded.problem, decoded.last_problem)
    assert isinstance(again, Said) and again == said and to_wire(again) == decoded.problem
    for kept in (copy.deepcopy(said), pickle.loads(pickle.dumps(said))):
        assert to_wire(kept) == to_wire(said)


def test_plain_text_has_no_message_and_old_statuses_still_decode() -> None:
    assert to_wire("a plain problem") is None
    assert codec.decode_status(OLDER).problem is None


def test_every_id_fits_the_wire() -> None:
    """Every message the till may send passes the protocol's own bounds (ids, arguments)."""
    for msg_id, template in PROBLEMS.items():
        said = Said(msg_id, **{name: "x" * 600 for name in placeholders(template)})
        status = codec.decode_status(codec.encode_status(_status(said)))
        assert status.problem is not None and status.problem.id == msg_id
        assert all(len(v) == MAX_PROBLEM_CHARS for v in status.problem.args.values())


@pytest.mark.parametrize(
    "problem",
    [
        {"id": "Bad Id!", "args": {}},
        {"id": "x", "args": {"Bad-Name": "v"}},
        {"id": "x", "args": {"a": "v" * (MAX_PROBLEM_CHARS + 1)}},
        {"id": "x", "args": {f"a{n}": "v" for n in range(9)}},
        {"id": "x", "args": {"a": 5}},
        {
            "id": "x",
            "args": {
                "a": {
                    "id": "y",
                    "args": {
                        "b": {
                            "id": "z",
                            "args": {"c": {"id": "w", "args": {"d": {"id": "v", "args": {}}}}},
                        }
                    },
                }
            },
        },
    ],
)
def test_a_forged_problem_is_refused_with_a_reason(problem: object) -> None:
    with pytest.raises(SchemaError, match="problem"):
        codec.decode_status(_with(problem))


def test_a_problem_nested_past_the_parser_is_refused_not_a_crash() -> None:
    depth = 2500  # within the 64 KiB a status may take
    deep = b'{"id":"a","args":{"a":' * depth + b'"x"' + b"}}" * depth
    with pytest.raises((MalformedPayload, SchemaError)):
        codec.decode_status(OLDER[:-1] + b',"problem":' + deep + b"}")
