"""Schemathesis drives the app from its own OpenAPI description: no 5xx, no response off-schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from dsar.auth import issue_token
from dsar.records import FieldCrypto
from kernel.crypto import Pseudonymiser
from kernel.db import transaction
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from tietotie.app import create_app
from tietotie.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _app_and_token() -> tuple[object, dict[str, str]]:
    """The real app on a fresh SQLite database in a temporary folder, and an owner's token."""
    tmp = Path(tempfile.mkdtemp(prefix="tietotie-fuzz-"))
    keyring = Keyring.ephemeral()
    crypto = FieldCrypto(
        keystore=SubjectKeyStore(tmp / "keystore.db", keyring=keyring),
        pseudonymiser=Pseudonymiser(keyring),
    )
    app = create_app(
        Settings(
            strategy=ROOT / "strategy",
            var_dir=tmp,
            environment="test",
            database_url=f"sqlite:///{tmp / 'fuzz.db'}",
            key_file=tmp / "m.key",
        ),
        crypto=crypto,
    )
    with transaction(app.state.sessions) as session:
        token = issue_token(session, app.state.strategy, role="owner")
    return app, {"Authorization": f"Bearer {token}"}


APP, OWNER = _app_and_token()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_off_schema(case: schemathesis.Case) -> None:
    """Whatever the generated input, the answer is a documented shape and never a 5xx."""
    case.call_and_validate(headers=OWNER, checks=[not_a_server_error, response_schema_conformance])
