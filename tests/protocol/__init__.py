"""Tests for the wire contract (protocol/)."""
