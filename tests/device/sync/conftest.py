"""Fixtures for sync tests (defined in harness.py so the fault tests can share them)."""

from tests.device.sync.harness import make_service, store_file

__all__ = ["make_service", "store_file"]
