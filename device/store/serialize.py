"""Records to plain JSON-ready dicts and back via msgspec (enums as values, times in UTC)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, TypeVar

import msgspec

from device.store.errors import InvalidRecord

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()


def iso_utc(moment: dt.datetime) -> str:
    """An aware datetime as ISO 8601 in UTC; naive times are refused (storage is UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecord(f"time {moment.isoformat()} has no time zone; the store keeps UTC")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_utc(text: str) -> dt.datetime:
    """Read back a time written by :func:`iso_utc`."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _utc_record(record: Any) -> Any:
    """The record with its ``device_time`` in UTC (frozen dataclasses: a copy if it moves)."""
    moment = getattr(record, "device_time", None)
    if not isinstance(moment, dt.datetime):
        return record
    offset = moment.utcoffset()
    if offset is None:
        raise InvalidRecord(
            f"{type(record).__name__}.device_time has no time zone; the store keeps UTC"
        )
    if offset:
        return dataclasses.replace(record, device_time=moment.astimezone(dt.UTC))
    return record


def to_body(record: Any, **extra: Any) -> dict[str, Any]:
    """A record as a plain dict whose keys are the dataclass field names, plus ``extra``."""
    body: dict[str, Any] = msgspec.to_builtins(_utc_record(record))
    body.update(extra)
    return body


def encode_record(record: Any, **extra: Any) -> str:
    """JSON text of ``to_body(record, **extra)``, encoded straight from the record.

    The commit path uses this: encoding the dataclass directly skips building the dict, and
    ``extra`` (a few scalars, e.g. the receipt number) is appended after the record's fields,
    which is where ``dict.update`` would have put it.
    """
    text = _ENCODER.encode(_utc_record(record))
    if extra:
        text = text[:-1] + b"," + _ENCODER.encode(extra)[1:]
    return text.decode()


def encode(value: Any) -> str:
    """JSON text for a plain value (a body, a list of codes)."""
    return _ENCODER.encode(value).decode()


def decode(text: str) -> Any:
    """Plain value from JSON text written by :func:`encode`."""
    return msgspec.json.decode(text)


def from_plain(data: dict[str, Any], kind: type[T]) -> T:
    """Rebuild a record (nested records, enums, tuples, times) from a plain dict."""
    try:
        return msgspec.convert(data, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidRecord(f"cannot rebuild {kind.__name__}: {exc}") from exc
