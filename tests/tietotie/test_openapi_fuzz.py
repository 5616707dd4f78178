"""Schemathesis drives the app from its own OpenAPI description: no 5xx, no response off-schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.support import make_app, staff_header


def _app_and_token() -> tuple[object, dict[str, str]]:
    """The real app on a fresh SQLite database in a temporary folder, and an owner's token."""
    app = make_app(Path(tempfile.mkdtemp(prefix="tietotie-fuzz-")))
    return app, staff_header(app, "owner")


APP, OWNER = _app_and_token()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_off_schema(case: schemathesis.Case) -> None:
    """Whatever the generated input, the answer is a documented shape and never a 5xx."""
    case.call_and_validate(headers=OWNER, checks=[not_a_server_error, response_schema_conformance])
