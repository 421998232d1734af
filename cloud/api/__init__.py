"""The HQ HTTP API."""
