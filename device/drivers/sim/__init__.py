"""Byte-level simulators of the peripherals, speaking the same bytes as the real devices."""
