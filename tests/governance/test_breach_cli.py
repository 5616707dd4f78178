"""`tietotie breach …` runs as a named auditor: it records a breach, prints what it touched and
what to do by when, shows the drafts, and audits every change under the person's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from records.store import ingest
from tests.cli.support import cli_token
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

runner = CliRunner()
AUDITOR = "Mikko Lehtinen"
PERSON = f"person:{AUDITOR} (role:auditor)"


@pytest.fixture
def env(service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh database with two customers and their cars, no token in the environment."""
    monkeypatch.delenv("TIETOTIE_TOKEN", raising=False)
    folder = service_env()
    services = open_services(get_settings())
    with services.sessions() as session:
        for n in (1, 2):
            sid = ingest(
                session,
                services.store,
                "customer",
                source="service-desk",
                values={
                    "name": f"Asiakas {n}",
                    "phone": f"040200000{n}",
                    "email": f"asiakas{n}@example.fi",
                    "branch": "espoo",
                },
            ).subject_id
            ingest(
                session,
                services.store,
                "vehicle",
                source="service-desk",
                subject={"id": sid},
                values={"plate": f"XYZ-{n}"},
            )
        session.commit()
    services.engine.dispose()
    return folder


def _cli(*args: str) -> Result:
    return runner.invoke(get_app(), list(args))


def _said(result: Result) -> str:
    """The output as one line of words, without the frame rich draws round an error."""
    return " ".join(result.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def _audit_actions() -> list[tuple[str, str]]:
    services = open_services(get_settings())
    try:
        with services.sessions() as session:
            return [
                (e.action, e.actor)
                for e in services.audit.entries(session, limit=1000)
                if e.action.startswith("breach.")
            ]
    finally:
        services.engine.dispose()


def test_the_register_needs_a_token_with_the_audit_duty(env: Path) -> None:
    """No token, or a role without the audit duty: exit 2 saying what to do."""
    missing = _cli("breach", "list")
    assert missing.exit_code == 2 and "staff token" in missing.output
    advisor = cli_token("service-advisor", "Sanna Salo")
    refused = _cli("breach", "list", "--token", advisor)
    assert refused.exit_code == 2 and "'audit'" in refused.output


def test_a_breach_is_recorded_shown_updated_and_notified(env: Path) -> None:
    """The whole round, each step audited under the auditor's name."""
    token = cli_token("auditor", AUDITOR)
    opened = _cli(
        "breach", "open", "--token", token,
        "--what", "A copy of the customer and vehicle tables was left on a public share.",
        "--kind", "confidentiality",
        "--scope", "entity:customer", "--scope", "entity:vehicle",
        "--measures", "The share was closed.",
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    assert "breach 1 recorded (confidentiality; risk level: risk)" in opened.stdout
    assert "touched: 2 data subjects, 4 records (customer 2, vehicle 2)" in opened.stdout
    assert "held only encrypted, keys safe: customer.accessibility_need, vehicle.plate" in (
        opened.stdout
    )
    assert "`tietotie breach notify 1 --authority`" in opened.stdout

    shown = _cli("breach", "show", "1", "--token", token)
    assert shown.exit_code == 0, shown.output
    assert "# Breach 1: confidentiality" in shown.stdout
    assert "# Ilmoitus henkilötietojen tietoturvaloukkauksesta" in shown.stdout
    assert "The share was closed." in shown.stdout
    assert "Aihe:" not in shown.stdout  # no message to the customers: the risk is not high

    updated = _cli(
        "breach", "update", "1", "--token", token,
        "--note", "The share's access log shows two downloads.", "--risk", "high",
    )  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert "tell the data subjects without undue delay (about 2" in updated.stdout

    told = _cli("breach", "notify", "1", "--authority", "--subjects", "--token", token)
    assert told.exit_code == 0, told.output
    assert f"recorded that {PERSON} notified the authority and the subjects" in told.stdout

    view = json.loads(_cli("breach", "show", "1", "--format", "json", "--token", token).stdout)
    assert view["status"] == "notified" and view["risk"] == "high"
    assert view["drafts"]["subjects"].startswith("Aihe: Tietojasi koskeva tietoturvaloukkaus")
    listed = _cli("breach", "list", "--token", token)
    assert "1   " in listed.stdout and "entity:customer, entity:vehicle" in listed.stdout
    assert _audit_actions() == [
        ("breach.opened", PERSON),
        ("breach.updated", PERSON),
        ("breach.notified", PERSON),
        ("breach.notified", PERSON),
    ]
    assert _cli("audit", "verify").exit_code == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--scope", "processor:postman"], "declares no processor 'postman'"),
        (["--scope", "entity:customer", "--discovered-at", "2026-03-02"], "no time of day"),
        (["--scope", "entity:customer", "--since", "soon"], "--since 'soon' is not a date"),
        (["--scope", "entity:customer", "--kind", "leak"], "leak"),
    ],
)
def test_bad_input_exits_2_naming_the_option(env: Path, args: list[str], says: str) -> None:
    """Each refusal names what is wrong; nothing is recorded."""
    token = cli_token("auditor", AUDITOR)
    kind = [] if "--kind" in args else ["--kind", "integrity"]
    result = _cli("breach", "open", "--token", token, "--what", "x", *kind, *args)
    assert result.exit_code == 2, result.output
    assert says in _said(result)
    assert _audit_actions() == []


def test_notify_needs_a_recipient_and_an_existing_breach(env: Path) -> None:
    """Neither flag: exit 2; an unknown breach: exit 1 pointing at the list."""
    token = cli_token("auditor", AUDITOR)
    none = _cli("breach", "notify", "1", "--token", token)
    assert none.exit_code == 2 and "--authority, --subjects, or both" in _said(none)
    missing = _cli("breach", "show", "7", "--token", token)
    assert missing.exit_code == 1 and "no breach 7 in the register" in _said(missing)
    empty = _cli("breach", "list", "--token", token)
    assert empty.exit_code == 0 and "the breach register is empty" in empty.stdout
