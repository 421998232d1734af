"""Encode and decode every message; any bad payload becomes a ProtocolError that says why."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Final, TypeVar, Union, get_args

import msgspec

from protocol.bodies import EVENT_TYPES, EventBody
from protocol.bounds import MAX_SEQ, Epoch
from protocol.envelope import (
    MAX_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    MAX_PROBLEM_DEPTH,
    PROTOCOL_VERSION,
    Ack,
    Batch,
    CatchupRequest,
    DownChange,
    Envelope,
    Hello,
    Id,
    Status,
    UtcTime,
    Uuid,
    problem_depth,
)
from protocol.errors import (
    MalformedPayload,
    Oversized,
    ProtocolError,
    SchemaError,
    UnknownEventType,
    WrongVersion,
)

#: Upper bound for the small control messages (ACK, status, catch-up).
MAX_CONTROL_BYTES: Final = 64 * 1024
#: Upper bound for one downstream message (a snapshot chunk may be large).
MAX_DOWN_BYTES: Final = 1024 * 1024

T = TypeVar("T")

_ENCODER: Final = msgspec.json.Encoder()
_PATH_RE: Final = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
# Bytes a Batch adds around its events: {"v":1,"terminal_id":"..","store_id":"..","events":[]}
_BATCH_OVERHEAD: Final = 128


class _LooseBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A batch whose events are decoded one by one, so one bad event is kept aside alone."""

    v: int = PROTOCOL_VERSION
    terminal_id: Id
    store_id: Id
    events: list[msgspec.Raw]


class _EventKey(msgspec.Struct, frozen=True):
    """What can still be read of an event whose envelope is invalid: where it sits."""

    seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
    id: Annotated[str, msgspec.Meta(max_length=36)] = ""
    type: Annotated[str, msgspec.Meta(max_length=32)] = ""


@dataclass(frozen=True, slots=True)
class BadEvent:
    """An event whose envelope failed validation; ``seq`` and ``event_id`` were readable."""

    seq: int
    event_id: str
    type: str
    reason: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class LooseBatch:
    """A batch decoded event by event: good envelopes, and bad ones that can still be placed."""

    terminal_id: str
    store_id: str
    events: list[Envelope]
    bad: list[BadEvent]
    unplaceable: list[str]  # reasons for events not even a seq could be read from


class _VersionProbe(msgspec.Struct):
    """Reads only "v", so a payload from another version is named as such, not as bad schema."""

    v: Any = None


def _kib(n: int) -> str:
    return f"{n / 1024:.1f}".removesuffix(".0")


def _schema_message(err: msgspec.ValidationError, prefix: str) -> str:
    """Turn msgspec's "Expected `int`, got `str` - at `$.a[0].b`" into "prefix.a[0].b: ..."."""
    match = _PATH_RE.match(str(err))
    msg = (match.group("msg") if match else str(err)).replace("`", "")
    path = (match.group("path") if match else None) or ""
    where = f"{prefix}{path}" if prefix else path.lstrip(".")
    return f"{where}: {msg}" if where else msg


def _check_size(payload: bytes, limit: int, what: str) -> None:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise MalformedPayload(f"not JSON: expected bytes, got {type(payload).__name__}")
    if len(payload) > limit:
        raise Oversized(f"{what} {_kib(len(payload))} KiB exceeds {_kib(limit)} KiB")


def _decode(payload: bytes, typ: type[T], decoder: msgspec.json.Decoder[T], limit: int) -> T:
    """Decode with the version checked first, so each failure gets its true reason."""
    _check_size(payload, limit, "payload")
    try:
        msg = decoder.decode(payload)
    except msgspec.ValidationError as err:
        _raise_if_other_version(payload)
        raise SchemaError(_schema_message(err, "")) from None
    except msgspec.DecodeError as err:
        raise MalformedPayload(f"not JSON: {err}") from None
    except UnicodeDecodeError as err:
        # msgspec lets this escape when a corrupted object key is not valid UTF-8.
        raise MalformedPayload(f"not JSON: invalid UTF-8 at byte {err.start}") from None
    except RecursionError:
        # Free-form fields (an event body before its type is known) accept any JSON, and
        # thousands of nested arrays exhaust the decoder's stack.
        raise MalformedPayload("not JSON this side accepts: nested too deeply") from None
    version = getattr(msg, "v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise WrongVersion(_version_message(version))
    return msg


def _version_message(version: object) -> str:
    return f"protocol version {version!r} not supported (this side speaks {PROTOCOL_VERSION})"


def _raise_if_other_version(payload: bytes) -> None:
    try:
        probe = msgspec.json.decode(payload, type=_VersionProbe)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return
    if probe.v is not None and probe.v != PROTOCOL_VERSION:
        raise WrongVersion(_version_message(probe.v))


_BATCH_DECODER: Final = msgspec.json.Decoder(Batch)
_ACK_DECODER: Final = msgspec.json.Decoder(Ack)
_STATUS_DECODER: Final = msgspec.json.Decoder(Status)
_CATCHUP_DECODER: Final = msgspec.json.Decoder(CatchupRequest)
_HELLO_DECODER: Final = msgspec.json.Decoder(Hello)
_DOWN_DECODER: Final = msgspec.json.Decoder(DownChange)
_ENVELOPE_DECODER: Final = msgspec.json.Decoder(Envelope)


def _check_batch(batch: Batch) -> None:
    if not batch.events:
        raise SchemaError("events: a batch carries at least one event")
    if len(batch.events) > MAX_EVENTS_PER_BATCH:
        raise Oversized(
            f"batch has {len(batch.events)} events, more than {MAX_EVENTS_PER_BATCH} allowed"
        )
    for i, env in enumerate(batch.events):
        if env.v != PROTOCOL_VERSION:
            raise WrongVersion(f"events[{i}]: {_version_message(env.v)}")
        if env.terminal_id != batch.terminal_id or env.store_id != batch.store_id:
            raise SchemaError(
                f"events[{i}]: event of {env.store_id}/{env.terminal_id} in a batch of "
                f"{batch.store_id}/{batch.terminal_id}"
            )


def encode_batch(batch: Batch) -> bytes:
    """Serialise a batch; refuses one the other side would reject as too large or inconsistent."""
    _check_batch(batch)
    payload = _ENCODER.encode(batch)
    if len(payload) > MAX_BATCH_BYTES:
        raise Oversized(f"payload {_kib(len(payload))} KiB exceeds {_kib(MAX_BATCH_BYTES)} KiB")
    return payload


def decode_batch(payload: bytes) -> Batch:
    """Parse and validate one events message (body contents are checked by decode_event_body)."""
    batch = _decode(payload, Batch, _BATCH_DECODER, MAX_BATCH_BYTES)
    _check_batch(batch)
    return batch


_LOOSE_DECODER: Final = msgspec.json.Decoder(_LooseBatch)
_KEY_DECODER: Final = msgspec.json.Decoder(_EventKey)


#: JSON spells a NUL character only as this escape. PostgreSQL cannot store NUL in text while
#: SQLite can, so it is refused here and both cloud databases behave the same.
_NUL_ESCAPE: Final = b"\\u0000"


def _loose_event(raw: bytes, index: int, batch: _LooseBatch) -> Envelope | BadEvent | str:
    try:
        if _NUL_ESCAPE in raw:
            raise SchemaError("a string holds a NUL character (\\u0000)")
        env = _ENVELOPE_DECODER.decode(raw)
        if env.v != PROTOCOL_VERSION:
            raise WrongVersion(_version_message(env.v))
        if env.terminal_id != batch.terminal_id or env.store_id != batch.store_id:
            raise SchemaError(
                f"event of {env.store_id}/{env.terminal_id} in a batch of "
                f"{batch.store_id}/{batch.terminal_id}"
            )
        return env
    except (msgspec.ValidationError, msgspec.DecodeError, ProtocolError, RecursionError) as err:
        if isinstance(err, msgspec.ValidationError):
            reason = _schema_message(err, f"events[{index}]")
        else:
            reason = f"events[{index}]: {type(err).__name__}: {err}"
    try:
        key = _KEY_DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return reason
    return BadEvent(key.seq, key.id, key.type, reason, bytes(raw))


def decode_batch_loose(payload: bytes) -> LooseBatch:
    """Parse an events message event by event (the cloud's ingest path).

    The message itself must be a batch (size, JSON, version, ids); inside it, each event
    is validated on its own, so one bad event does not condemn its neighbours, and a bad
    event whose seq can still be read is returned as a BadEvent to be kept in its place.
    """
    batch = _decode(payload, _LooseBatch, _LOOSE_DECODER, MAX_BATCH_BYTES)
    if not batch.events:
        raise SchemaError("events: a batch carries at least one event")
    if len(batch.events) > MAX_EVENTS_PER_BATCH:
        raise Oversized(
            f"batch has {len(batch.events)} events, more than {MAX_EVENTS_PER_BATCH} allowed"
        )
    good: list[Envelope] = []
    bad: list[BadEvent] = []
    unplaceable: list[str] = []
    for i, raw in enumerate(batch.events):
        result = _loose_event(bytes(raw), i, batch)
        if isinstance(result, Envelope):
            good.append(result)
        elif isinstance(result, BadEvent):
            bad.append(result)
        else:
            unplaceable.append(result)
    return LooseBatch(batch.terminal_id, batch.store_id, good, bad, unplaceable)


#: Envelope fields a typed envelope reads as plain strings, checked once per batch instead:
#: the ids must equal the batch's (checked against the pattern there), a batch carries one
#: epoch or two and few distinct times, and its event ids are checked in one pass.
_CHECKED_PER_BATCH: Final = frozenset({"terminal_id", "store_id", "epoch", "device_time", "id"})


def _pattern_check(annotated: Any) -> Any:
    """The check msgspec applies for an Annotated str's pattern (re.search), as a function."""
    return re.compile(get_args(annotated)[1].pattern).search


_EPOCH_CHECK: Final = _pattern_check(Epoch)
_TIME_CHECK: Final = _pattern_check(UtcTime)
_ID_CHECK: Final = _pattern_check(Uuid)


def _typed_envelope(event_type: str, body_type: type[EventBody]) -> type[msgspec.Struct]:
    """Envelope with its body decoded straight into ``body_type``, tagged by its type."""

    def kind(field: msgspec.structs.FieldInfo) -> Any:
        if field.name == "body":
            return body_type
        return str if field.name in _CHECKED_PER_BATCH else field.type

    fields = [
        (f.name, kind(f), f.default) if f.default is not msgspec.NODEFAULT else (f.name, kind(f))
        for f in msgspec.structs.fields(Envelope)
        if f.name != "type"  # the tag: one value per Struct
    ]
    return msgspec.defstruct(
        f"_{event_type}_envelope", fields, kw_only=True, forbid_unknown_fields=True,
        frozen=True, tag_field="type", tag=event_type,
    )  # fmt: skip


#: Struct for a typed envelope -> its event type.
_TYPED_ENVELOPES: Final[Mapping[type[msgspec.Struct], str]] = MappingProxyType(
    {_typed_envelope(name, body): name for name, body in EVENT_TYPES.items()}
)
# A batch whose every envelope and body is valid: all of it is decoded in one pass. Made by
# defstruct, as its events' type is a union built from EVENT_TYPES.
_TypedBatch: Final = msgspec.defstruct(
    "_TypedBatch",
    [("v", int, PROTOCOL_VERSION), ("terminal_id", Id), ("store_id", Id),
     ("events", list[Union[tuple(_TYPED_ENVELOPES)]])],  # type: ignore[misc]  # noqa: UP007
    kw_only=True, forbid_unknown_fields=True, frozen=True,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TypedBatch:
    """A batch in which every event is valid, decoded in one pass (see decode_batch_typed).

    ``events[i]`` has an Envelope's fields but ``type``, which is ``types[i]``, and its
    ``body`` is the Struct decode_event_body would return; ``bodies[i]`` is that body as
    sent (what Envelope.body holds).
    """

    terminal_id: str
    store_id: str
    events: list[Any]
    types: list[str]
    bodies: list[dict[str, Any]]


_PLAIN_DECODER: Final = msgspec.json.Decoder()


def decode_batch_typed(payload: bytes) -> TypedBatch | None:
    """The whole batch, every envelope and body validated, or None to use decode_batch_loose.

    Most batches are entirely valid: parsing the whole payload into plain values once (the
    bodies as sent are kept from it) and converting that into typed envelopes costs about
    two thirds of decoding each event on its own and converting its body afterwards. Any
    doubt (an error anywhere, another version, a NUL, an event of another till) answers
    None, and the loose path, which names each bad event, decides; for a batch both accept,
    both give the same events and bodies (tests/cloud/ingest/test_decode.py).
    """
    if not isinstance(payload, bytes) or len(payload) > MAX_BATCH_BYTES:
        return None
    if _NUL_ESCAPE in payload:
        return None
    try:
        plain = _PLAIN_DECODER.decode(payload)
        batch: Any = msgspec.convert(plain, _TypedBatch)
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
        return None
    if batch.v != PROTOCOL_VERSION or not 0 < len(batch.events) <= MAX_EVENTS_PER_BATCH:
        return None
    terminal_id, store_id, events = batch.terminal_id, batch.store_id, batch.events
    for env in events:
        if env.v != PROTOCOL_VERSION or env.terminal_id != terminal_id or env.store_id != store_id:
            return None
    if not all(_EPOCH_CHECK(epoch) for epoch in {env.epoch for env in events}):
        return None
    if not all(_TIME_CHECK(moment) for moment in {env.device_time for env in events}):
        return None
    if not all(map(_ID_CHECK, [env.id for env in events])):
        return None
    kinds = _TYPED_ENVELOPES
    return TypedBatch(terminal_id, store_id, events, [kinds[type(env)] for env in events],
                      [sent["body"] for sent in plain["events"]])  # fmt: skip


def event_keys(payload: bytes) -> list[tuple[int, str, str]]:
    """(seq, id, type) of every event of a message refused whole, where they can be read."""
    try:
        loose = msgspec.json.decode(payload, type=_LooseBatch)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return []
    keys = []
    for raw in loose.events:
        try:
            key = _KEY_DECODER.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            continue
        keys.append((key.seq, key.id, key.type))
    return keys


def check_origin(batch: Batch | LooseBatch, store_id: str, terminal_id: str) -> None:
    """Refuse a batch whose ids differ from the topic it arrived on (the ACL-checked identity)."""
    if (batch.store_id, batch.terminal_id) != (store_id, terminal_id):
        raise SchemaError(
            f"batch claims {batch.store_id}/{batch.terminal_id} "
            f"but arrived on the topic of {store_id}/{terminal_id}"
        )


def decode_event_body(env: Envelope) -> EventBody:
    """Validate an envelope's body against the Struct for its type."""
    body_type = EVENT_TYPES.get(env.type)
    if body_type is None:
        raise UnknownEventType(
            f"event type {env.type!r} is not one of {', '.join(sorted(EVENT_TYPES))}"
        )
    try:
        return msgspec.convert(env.body, body_type)
    except msgspec.ValidationError as err:
        raise SchemaError(_schema_message(err, env.type)) from None
    except RecursionError:
        raise SchemaError(f"{env.type}: nested too deeply") from None


def body_to_dict(body: EventBody) -> dict[str, Any]:
    """The plain dict to put in Envelope.body for a typed body."""
    result: dict[str, Any] = msgspec.to_builtins(body)
    return result


def encode_envelope(env: Envelope) -> bytes:
    """Serialise one envelope (used to size events when packing batches)."""
    return _ENCODER.encode(env)


def decode_envelope(payload: bytes) -> Envelope:
    """Parse one envelope on its own (e.g. a dead-lettered event kept as JSON)."""
    return _decode(payload, Envelope, _ENVELOPE_DECODER, MAX_BATCH_BYTES)


def pack_batches(store_id: str, terminal_id: str, events: Iterable[Envelope]) -> Iterator[Batch]:
    """Group events, in the given order, into batches within both size limits."""
    limit = MAX_BATCH_BYTES - _BATCH_OVERHEAD
    current: list[Envelope] = []
    size = 0
    for env in events:
        n = len(_ENCODER.encode(env)) + 1  # +1 for the comma between events
        if n > limit:
            raise Oversized(
                f"event seq {env.seq} is {_kib(n)} KiB, over the {_kib(limit)} KiB a batch allows"
            )
        if current and (size + n > limit or len(current) >= MAX_EVENTS_PER_BATCH):
            yield Batch(terminal_id=terminal_id, store_id=store_id, events=current)
            current, size = [], 0
        current.append(env)
        size += n
    if current:
        yield Batch(terminal_id=terminal_id, store_id=store_id, events=current)


def _encode_small(msg: msgspec.Struct, limit: int) -> bytes:
    payload = _ENCODER.encode(msg)
    if len(payload) > limit:
        raise Oversized(f"payload {_kib(len(payload))} KiB exceeds {_kib(limit)} KiB")
    return payload


def encode_ack(ack: Ack) -> bytes:
    """Serialise an ACK."""
    return _encode_small(ack, MAX_CONTROL_BYTES)


def decode_ack(payload: bytes) -> Ack:
    """Parse and validate an ACK."""
    return _decode(payload, Ack, _ACK_DECODER, MAX_CONTROL_BYTES)


def encode_status(status: Status) -> bytes:
    """Serialise a terminal status."""
    return _encode_small(status, MAX_CONTROL_BYTES)


def decode_status(payload: bytes) -> Status:
    """Parse and validate a terminal status."""
    status = _decode(payload, Status, _STATUS_DECODER, MAX_CONTROL_BYTES)
    if status.problem is not None and problem_depth(status.problem) > MAX_PROBLEM_DEPTH:
        raise SchemaError(f"problem: messages nest deeper than {MAX_PROBLEM_DEPTH}")
    return status


def encode_catchup(request: CatchupRequest) -> bytes:
    """Serialise a catch-up request."""
    return _encode_small(request, MAX_CONTROL_BYTES)


def decode_catchup(payload: bytes) -> CatchupRequest:
    """Parse and validate a catch-up request."""
    return _decode(payload, CatchupRequest, _CATCHUP_DECODER, MAX_CONTROL_BYTES)


def encode_hello(hello: Hello) -> bytes:
    """Serialise a terminal's connect-time hello."""
    return _encode_small(hello, MAX_CONTROL_BYTES)


def decode_hello(payload: bytes) -> Hello:
    """Parse and validate a hello."""
    return _decode(payload, Hello, _HELLO_DECODER, MAX_CONTROL_BYTES)


def encode_down(change: DownChange) -> bytes:
    """Serialise a downstream change."""
    return _encode_small(change, MAX_DOWN_BYTES)


def decode_down(payload: bytes) -> DownChange:
    """Parse and validate a downstream change."""
    change = _decode(payload, DownChange, _DOWN_DECODER, MAX_DOWN_BYTES)
    if change.chunk >= change.chunks:
        raise SchemaError(f"chunk: {change.chunk} is not below chunks={change.chunks}")
    return change


__all__ = ["ProtocolError"]
