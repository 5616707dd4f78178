"""The command line acts as a named member of staff: a token to read personal data or act on
requests, the desk's actions on requests, tokens listed and revoked, every action audited."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from audit import AuditEntry
from dsar.auth import issue_token
from dsar.requests import RequestRow
from kernel.db import transaction
from records.store import ingest
from tests.cli.support import cli_token
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

pytestmark = pytest.mark.dsar

runner = CliRunner()
AINO = "Aino Virtanen"
PERSON = f"person:{AINO} (role:owner)"


@pytest.fixture
def env(service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh database with one customer, and no staff token in the environment."""
    monkeypatch.delenv("TIETOTIE_TOKEN", raising=False)
    folder = service_env()
    services = open_services(get_settings())
    with services.sessions() as session:
        ingest(
            session,
            services.store,
            "customer",
            source="booking-form",
            values={
                "name": "Liisa Laine",
                "email": "liisa@example.fi",
                "phone": "0401112223",
                "branch": "espoo",
            },
        )
        session.commit()
    services.engine.dispose()
    return folder


def _cli(*args: str, token: str | None = None) -> Result:
    extra = ["--token", token] if token else []
    return runner.invoke(get_app(), [*args, *extra])


def _open(kind: str = "access", email: str = "liisa@example.fi") -> str:
    services = open_services(get_settings())
    with services.sessions() as session:
        opened = services.requests.open(session, type=kind, identity={"email": email})
        session.commit()
        return opened.request.id


def _entries(request_id: str | None = None) -> list[AuditEntry]:
    services = open_services(get_settings())
    with services.sessions() as session:
        return services.audit.entries(session, limit=10_000, request_id=request_id)


def _request(request_id: str) -> RequestRow:
    services = open_services(get_settings())
    with services.sessions() as session:
        row = session.get(RequestRow, request_id)
        assert row is not None
        session.expunge(row)
        return row


# ── the credential ───────────────────────────────────────────────────────────────────────────

PERSONAL_COMMANDS = [
    ["dsar", "list"],
    ["dsar", "outbox"],
    ["dsar", "show", "any-id"],
    ["dsar", "verify", "any-id", "--in-person", "--note", "passport"],
    ["dsar", "extend", "any-id", "--reason", "many systems"],
    ["dsar", "reject", "any-id", "--ground", "excessive", "--reason", "fourth this month"],
    ["dsar", "complete", "any-id"],
    ["activation", "audience", "november-tyre-campaign", "--out", "x.csv"],
    ["report", "build", "churn-report"],
    ["audit", "log"],
    ["token", "list"],
    ["token", "revoke", "1"],
]


@pytest.mark.parametrize("args", PERSONAL_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_command_that_reads_personal_data_needs_a_token_and_says_how_to_get_one(
    env: Path, args: list[str]
) -> None:
    result = _cli(*args)
    assert result.exit_code == 2, result.output
    assert "--token TOKEN or set TIETOTIE_TOKEN" in result.stderr
    assert "tietotie token issue --role ROLE --name" in result.stderr
    assert not (env / "x.csv").exists()


def test_commands_that_read_only_the_strategy_need_no_token(env: Path) -> None:
    """validate, policy matrix, settings and audit verify run without any token."""
    for args in (["validate"], ["policy", "matrix"], ["settings"], ["audit", "verify"]):
        result = _cli(*args)
        assert result.exit_code == 0, (args, result.output)


def test_the_token_can_come_from_the_environment(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIETOTIE_TOKEN", cli_token("owner", AINO))
    result = _cli("dsar", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no open request is due within 7 days"
    assert "TIETOTIE_TOKEN" not in result.stderr  # a known variable: no warning about it


def test_an_unknown_token_is_refused(env: Path) -> None:
    result = _cli("dsar", "list", token="tt_" + "x" * 40)
    assert result.exit_code == 2
    assert "unknown or revoked token" in result.stderr and "token issue" in result.stderr


def test_a_revoked_token_is_refused_and_the_revocation_names_who_revoked_it(env: Path) -> None:
    aino, other = cli_token("owner", AINO), cli_token("service-advisor", "Sami Saarinen")
    assert _cli("dsar", "list", token=other).exit_code == 0
    revoked = _cli("token", "revoke", "2", token=aino)
    assert revoked.exit_code == 0, revoked.output
    assert "token 2 of Sami Saarinen (role service-advisor) revoked" in revoked.stdout
    refused = _cli("dsar", "list", token=other)
    assert refused.exit_code == 2
    assert "unknown or revoked token" in refused.stderr
    (entry,) = [e for e in _entries() if e.action == "token.revoked"]
    assert entry.actor == PERSON
    assert json.loads(entry.details) == {"token": 2, "role": "service-advisor"}
    again = _cli("token", "revoke", "2", token=aino)
    assert again.exit_code == 0 and "already revoked" in again.stdout
    unknown = _cli("token", "revoke", "99", token=aino)
    assert unknown.exit_code == 1 and "no token has id 99" in unknown.stderr


def test_a_role_without_the_requests_duty_may_not_act_on_a_request(env: Path) -> None:
    rid = _open()
    mechanic = cli_token("mechanic", "Matti Mekaanikko")
    for args in (["dsar", "extend", rid, "--reason", "many systems"], ["dsar", "list"]):
        result = _cli(*args, token=mechanic)
        assert result.exit_code == 2, result.output
        assert "role 'mechanic' does not have the duty 'requests'" in result.stderr
    assert _request(rid).extended is False
    assert [e for e in _entries(rid) if "mechanic" in e.actor] == []


def test_an_auditor_may_show_a_request_but_not_act_on_it(env: Path) -> None:
    rid = _open()
    auditor = cli_token("auditor", "Outi Tarkastaja")
    assert _cli("dsar", "show", rid, token=auditor).exit_code == 0
    refused = _cli("dsar", "complete", rid, token=auditor)
    assert refused.exit_code == 2 and "duty 'requests'" in refused.stderr


def test_a_role_option_that_is_not_the_tokens_role_is_a_clear_error(env: Path) -> None:
    marketing = cli_token("marketing", "Maija Markkinoija")
    out = env / "november.csv"
    args = ["activation", "audience", "november-tyre-campaign", "--out", str(out)]
    wrong = _cli(*args, "--role", "owner", token=marketing)
    assert wrong.exit_code == 2
    assert "--role owner does not match your token, which is for role 'marketing'" in wrong.stderr
    assert not out.exists()
    right = _cli(*args, "--role", "marketing", token=marketing)
    assert right.exit_code == 0, right.output
    (entry,) = [e for e in _entries() if e.action == "activation.audience"]
    assert entry.actor == "person:Maija Markkinoija (role:marketing)"


def test_a_report_is_built_for_the_tokens_role_and_audited_under_the_person(env: Path) -> None:
    result = _cli("report", "build", "churn-report", token=cli_token("owner", AINO))
    assert result.exit_code == 0, result.output
    assert "churn-report (pseudonymised) for owner" in result.stderr
    (entry,) = [e for e in _entries() if e.action == "report.build"]
    assert entry.actor == PERSON


# ── tokens ───────────────────────────────────────────────────────────────────────────────────


def test_issuing_a_token_needs_the_holders_name(env: Path) -> None:
    missing = _cli("token", "issue", "--role", "owner")
    assert missing.exit_code == 2 and "--name" in missing.output
    for name, problem in [
        ("  ", "give the name of the person"),
        ("Eve (role:auditor)", "parentheses"),
        ("x" * 61, "at most 60 characters with role 'owner'"),
        ("token-7", "stands for an unnamed token"),
    ]:
        refused = _cli("token", "issue", "--role", "owner", "--name", name)
        assert refused.exit_code == 2, name
        assert "--name:" in refused.stderr and problem in refused.stderr
    assert _cli("token", "issue", "--role", "owner", "--name", "x" * 60).exit_code == 0


def test_the_token_list_shows_holders_and_states_but_never_a_token(env: Path) -> None:
    aino = cli_token("owner", AINO)
    services = open_services(get_settings())
    with transaction(services.sessions) as session:  # as tokens were issued before --name
        unnamed = issue_token(session, services.strategy, role="marketing")
    listed = _cli("token", "list", token=aino)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "role", "holder", "issued", "revoked"]
    assert lines[1].split()[:4] == ["1", "owner", "Aino", "Virtanen"]
    assert lines[1].endswith("active")
    assert "(no name: token-2 in the audit log)" in lines[2]
    assert aino not in listed.output and unnamed not in listed.output
    assert "tt_" not in listed.output
    (entry,) = [e for e in _entries() if e.action == "token.listed"]
    assert (entry.actor, json.loads(entry.details)) == (PERSON, {"count": 2})
    # the unnamed token's holder is named by the token's id
    assert _cli("report", "build", "churn-report", token=unnamed).exit_code == 0
    assert [e.actor for e in _entries() if e.action == "report.build"] == [
        "person:token-2 (role:marketing)"
    ]


# ── the desk's actions ───────────────────────────────────────────────────────────────────────


def test_a_request_is_worked_from_show_to_complete_each_step_under_the_persons_name(
    env: Path,
) -> None:
    rid = _open()
    aino = cli_token("owner", AINO)

    shown = _cli("dsar", "show", rid, token=aino)
    assert shown.exit_code == 0, shown.output
    assert f"request   {rid}" in shown.stdout
    assert "identity  email: liisa@example.fi" in shown.stdout
    assert "awaiting_verification" in shown.stdout and "held, 0 tries" in shown.stdout

    no_flag = _cli("dsar", "verify", rid, "--note", "passport", token=aino)
    assert no_flag.exit_code == 2 and "--in-person" in no_flag.output
    verified = _cli("dsar", "verify", rid, "--in-person", "--note", "passport seen", token=aino)
    assert verified.exit_code == 0, verified.output
    assert f"verified in person by {AINO}; matches customer" in verified.stderr
    assert verified.stdout.strip()  # the requester's access token, shown once

    extended = _cli("dsar", "extend", rid, "--reason", "Three systems to search", token=aino)
    assert extended.exit_code == 0, extended.output
    assert f"extended by {AINO}: now due" in extended.stdout
    assert "held (no SMTP configured)" in extended.stdout
    twice = _cli("dsar", "extend", rid, "--reason", "again", token=aino)
    assert twice.exit_code == 1 and "only once" in twice.stderr

    completed = _cli("dsar", "complete", rid, token=aino)
    assert completed.exit_code == 0, completed.output
    assert f"request {rid} completed by {AINO}" in completed.stdout
    assert '"customer": 1' in completed.stdout

    row = _request(rid)
    assert row.status == "completed" and row.extended and row.verified_by == "in_person"
    mine = [(e.action, e.actor) for e in _entries(rid) if e.actor == PERSON]
    assert [a for a, _ in mine] == [
        "dsar.viewed",
        "dsar.verified",
        "dsar.extended",
        "dsar.completed",
    ]
    history = _cli("dsar", "show", rid, "--json", token=aino)
    actors = [e["actor"] for e in json.loads(history.stdout)["history"]]
    assert actors.count(PERSON) == 3  # verified, extended, completed
    verify = _cli("audit", "verify")
    assert verify.exit_code == 0 and "audit log intact" in verify.stdout


def test_a_refusal_from_the_cli_tells_the_requester_and_is_audited(env: Path) -> None:
    rid = _open()
    aino = cli_token("owner", AINO)
    assert (
        _cli("dsar", "verify", rid, "--in-person", "--note", "id card", token=aino).exit_code == 0
    )
    bad = _cli("dsar", "reject", rid, "--ground", "bored", "--reason", "x", token=aino)
    assert bad.exit_code == 2 and "--ground" in bad.output
    done = _cli(
        "dsar", "reject", rid, "--ground", "excessive", "--reason", "Fourth this month", token=aino
    )
    assert done.exit_code == 0, done.output
    assert f"refused by {AINO} (excessive)" in done.stdout
    assert _request(rid).status == "rejected"
    (entry,) = [e for e in _entries(rid) if e.action == "dsar.rejected"]
    assert entry.actor == PERSON and json.loads(entry.details)["ground"] == "excessive"
    outbox = _cli("dsar", "outbox", "--request", rid, "--json", token=aino)
    subjects = [json.loads(line)["subject"] for line in outbox.stdout.splitlines()]
    assert len(subjects) == 2, outbox.stdout  # the code, then the refusal
    assert "held (no SMTP configured)" in done.stdout


def test_an_unverified_requester_is_told_nothing_of_a_refusal(env: Path) -> None:
    """Whoever opened an unverified request may not be the customer: no message goes out."""
    rid = _open()
    done = _cli(
        "dsar",
        "reject",
        rid,
        "--ground",
        "identity_not_verified",
        "--reason",
        "No proof came",
        token=cli_token("owner", AINO),
    )
    assert done.exit_code == 0, done.output
    assert "no message to the requester for this step" in done.stdout


def test_completing_an_unverified_request_is_refused_with_its_state(env: Path) -> None:
    rid = _open()
    result = _cli("dsar", "complete", rid, token=cli_token("owner", AINO))
    assert result.exit_code == 1
    assert "the request is awaiting_verification; only a verified request" in result.stderr


def test_an_erasure_completed_on_the_cli_erases_and_names_the_person(env: Path) -> None:
    rid = _open("erasure")
    aino = cli_token("owner", AINO)
    assert (
        _cli("dsar", "verify", rid, "--in-person", "--note", "id card", token=aino).exit_code == 0
    )
    result = _cli("dsar", "complete", rid, token=aino)
    assert result.exit_code == 0, result.output
    assert _request(rid).status == "completed"
    actions = {e.action for e in _entries(rid) if e.actor == PERSON}
    assert {"dsar.verified", "dsar.erasure_planned", "dsar.completed"} <= actions


# ── output that never cuts an id ─────────────────────────────────────────────────────────────


def test_list_and_outbox_print_whole_ids_on_a_narrow_terminal_and_say_when_empty(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aino = cli_token("owner", AINO)
    monkeypatch.setenv("COLUMNS", "40")
    assert _cli("dsar", "outbox", token=aino).stdout.strip() == "no message in the outbox"
    first, second = _open(), _open("erasure")
    listed = _cli("dsar", "list", "--within", "60", token=aino)
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["due", "days", "left", "id", "type", "status", "extended"]
    assert len(rows) == 2 and all(len(line) > 40 for line in rows)  # not cut to the terminal
    assert set(re.findall(r"\b[0-9a-f]{32}\b", "\n".join(rows))) == {first, second}
    outbox = _cli("dsar", "outbox", token=aino)
    assert f"request {first}" in outbox.stdout and f"request {second}" in outbox.stdout
    empty = _cli("dsar", "outbox", "--status", "failed", token=aino)
    assert empty.stdout.strip() == "no failed message in the outbox"
    read = [e for e in _entries() if e.action == "dsar.outbox_read"]
    assert [(e.actor, json.loads(e.details)["messages"]) for e in read] == [
        (PERSON, 0),
        (PERSON, 2),
        (PERSON, 0),
    ]


def test_the_audit_log_command_names_the_person_for_the_audit_duty_only(env: Path) -> None:
    rid = _open()
    aino = cli_token("owner", AINO)
    assert _cli("dsar", "show", rid, token=aino).exit_code == 0
    advisor = _cli("audit", "log", token=cli_token("service-advisor", "Sami Saarinen"))
    assert advisor.exit_code == 2 and "duty 'audit'" in advisor.stderr
    log = _cli("audit", "log", "--request", rid, token=aino)
    assert log.exit_code == 0, log.output
    viewed = [line for line in log.stdout.splitlines() if "dsar.viewed" in line]
    assert len(viewed) == 1 and PERSON in viewed[0] and rid in viewed[0]


def test_the_settings_list_the_token_variable_without_its_value(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIETOTIE_TOKEN", "tt_secret-value-of-a-token")
    result = _cli("settings", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["variable"]: r for r in json.loads(result.stdout)["settings"]}
    assert rows["TIETOTIE_TOKEN"]["value"] == "(set, hidden)"
    assert "secret-value" not in result.output


def test_the_entries_of_a_request_hold_no_requester_identifier(env: Path) -> None:
    """The audit log names staff, never the requester's email (reads are counted, not copied)."""
    rid = _open()
    aino = cli_token("owner", AINO)
    _cli("dsar", "show", rid, token=aino)
    _cli("dsar", "outbox", "--request", rid, token=aino)
    services = open_services(get_settings())
    with services.sessions() as session:
        text = json.dumps(
            [(e.actor, e.details) for e in session.scalars(select(AuditEntry))], ensure_ascii=False
        )
    assert "liisa@example.fi" not in text and AINO in text
