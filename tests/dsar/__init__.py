"""Tests of the dsar package."""
