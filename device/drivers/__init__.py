"""Peripheral drivers and their byte-level simulators."""
