"""Errors raised when a message breaks the wire contract; ProtocolError is the one base."""

from __future__ import annotations


class ProtocolError(Exception):
    """A topic or payload that does not follow the wire contract."""


class BadTopic(ProtocolError):
    """A topic that is not one of ours, or carries an invalid id."""


class MalformedPayload(ProtocolError):
    """A payload that is not JSON at all."""


class WrongVersion(ProtocolError):
    """A payload in a protocol version this side does not speak."""


class Oversized(ProtocolError):
    """A payload or batch larger than the contract allows."""


class SchemaError(ProtocolError):
    """JSON that does not match the expected shape (the message names the field)."""


class UnknownEventType(ProtocolError):
    """An event whose type this side has no body schema for."""
