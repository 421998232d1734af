"""Fixtures for the terminal's tests: the stand-in /dev/input that evdev readers see."""

from __future__ import annotations

from tests.device.evdev_kernel import kernel

__all__ = ["kernel"]
