"""The sync package's one exception base and its cases, each with a readable reason."""

from __future__ import annotations


class SyncError(Exception):
    """Base for every error raised by device.sync."""


class ConfigError(SyncError):
    """Broker settings that cannot work (missing password, unreadable TLS file, ...)."""


class NotConnected(SyncError):
    """A publish was attempted while the broker link is down; the outbox keeps the data."""


class BadMessage(SyncError):
    """An inbound ACK or downstream payload that does not follow the wire contract."""


class SnapshotFailed(SyncError):
    """A downstream snapshot could not be completed; the old cache stays in use."""
