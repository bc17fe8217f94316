"""Tests for broker.matching."""
