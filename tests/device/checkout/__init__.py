"""Tests for the checkout core (device/checkout)."""
