"""Bindings of access.feature: the access policy as the auditors read it."""

from __future__ import annotations

from pytest_bdd import scenarios

scenarios("access.feature")
