"""`tietotie activation audience` and `tietotie report build` from a shell."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consent.service import record_consent
from records.store import ingest
from tests.cli.support import cli_token
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

pytestmark = pytest.mark.activation

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def env(service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh database with seven consenting summer-tyre customers of the Espoo branch; the
    commands run with the owner's staff token unless a test gives another."""
    tmp_path = service_env()
    monkeypatch.setenv("TIETOTIE_TOKEN", cli_token("owner", "Kari Virtanen"))
    services = open_services(get_settings())
    visited = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    with services.sessions() as session, session.begin():
        for n in range(7):
            sid = ingest(
                session,
                services.store,
                "customer",
                source="service-desk",
                values={
                    "name": "Anna Aalto",
                    "email": f"c{n}@example.fi",
                    "phone": f"04077700{n:02d}",
                    "branch": "espoo",
                },
            ).subject_id
            ingest(
                session,
                services.store,
                "vehicle",
                source="service-desk",
                subject={"id": sid},
                values={"plate": f"CLI-{n}", "tyre_type": "summer"},
            )
            ingest(
                session,
                services.store,
                "visit",
                source="service-desk",
                subject={"id": sid},
                values={"visited_at": visited, "service_type": "tyre_change"},
            )
            record_consent(
                session,
                services.strategy,
                signer=services.signer,
                subject_id=sid,
                use="seasonal-reminders",
                state="given",
                source="booking-form",
                at=datetime.now(UTC) - timedelta(days=30),
            )
    services.engine.dispose()
    yield tmp_path


def test_the_audience_command_writes_the_file_and_says_who_was_left_out(env: Path) -> None:
    out = env / "november.csv"
    marketing = cli_token("marketing", "Maija Markkinoija")  # the campaign's owner
    args = ["activation", "audience", "november-tyre-campaign", "--out", str(out)]
    args += ["--token", marketing]
    first = runner.invoke(get_app(), [*args, "--record-send"])
    assert first.exit_code == 0, first.output
    assert "matched 7" in first.output and "final 7" in first.output
    assert "recorded 7 sends" in first.output
    rows = list(csv.DictReader(out.read_text("utf-8").splitlines()))
    assert len(rows) == 7 and rows[0]["name"] == "A. A." and "@" in rows[0]["email"]
    assert runner.invoke(get_app(), [*args, "--record-send"]).exit_code == 0
    capped = runner.invoke(get_app(), args)
    assert "capped 7" in capped.output and "final 0" in capped.output


def test_the_audience_command_refuses_a_role_without_the_use(env: Path) -> None:
    result = runner.invoke(
        get_app(),
        [
            "activation",
            "audience",
            "november-tyre-campaign",
            "--out",
            str(env / "x.jsonl"),
            "--token",
            cli_token("mechanic", "Matti Mekaanikko"),
        ],
    )
    assert result.exit_code == 1
    assert "does not hold the purpose 'seasonal-reminders'" in result.output
    assert not (env / "x.jsonl").exists()


def test_report_build_writes_rows_and_the_chart(env: Path) -> None:
    out, chart = env / "load.jsonl", env / "load.png"
    result = runner.invoke(
        get_app(), ["report", "build", "tyre-change-load", "--out", str(out), "--chart", str(chart)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["subjects"] for r in rows] == [7]
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "chart (bar) written" in result.output


def test_report_build_prints_to_standard_output_without_out(env: Path) -> None:
    result = runner.invoke(get_app(), ["report", "build", "churn-report", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stdout.splitlines() if x.startswith(("subject,", "h1."))]
    assert lines[0] == "subject,visit.visited_at,customer.customer_since,customer.branch"
    assert len(lines) == 8


def test_an_identified_report_is_refused_to_a_role_outside_its_audience(env: Path) -> None:
    result = runner.invoke(
        get_app(),
        [
            "report",
            "build",
            "tyre-hotel-calls",
            "--token",
            cli_token("marketing", "Maija Markkinoija"),
            "--out",
            str(env / "calls.csv"),
        ],
    )
    assert result.exit_code == 1
    assert "not in the audience of report 'tyre-hotel-calls'" in result.output


def _actions() -> list[dict]:
    from audit.tables import AuditEntry

    services = open_services(get_settings())
    with services.sessions() as session:
        return [
            {"action": e.action, "actor": e.actor, "details": e.details}
            for e in session.query(AuditEntry).order_by(AuditEntry.seq)
        ]


def test_refusals_on_the_command_line_are_in_the_audit_log(env: Path) -> None:
    """A refused audience and a refused report leave their entry, with ids and no data."""
    runner.invoke(
        get_app(),
        [
            "activation",
            "audience",
            "november-tyre-campaign",
            "--out",
            str(env / "x.csv"),
            "--token",
            cli_token("mechanic", "Matti Mekaanikko"),
        ],
    )
    marketing = cli_token("marketing", "Maija Markkinoija")
    runner.invoke(
        get_app(),
        ["report", "build", "tyre-hotel-calls", "--token", marketing, "--out", str(env / "c.csv")],
    )
    refused = [e for e in _actions() if e["action"].endswith(".refused")]
    assert [e["action"] for e in refused] == ["activation.audience.refused", "report.refused"]
    assert refused[0]["actor"] == "person:Matti Mekaanikko (role:mechanic)"
    assert refused[1]["actor"] == "person:Maija Markkinoija (role:marketing)"
    assert "example.fi" not in json.dumps(refused)
