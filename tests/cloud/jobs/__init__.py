"""Tests of the cloud jobs."""
