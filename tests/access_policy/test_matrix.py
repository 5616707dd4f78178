"""The access matrix in CSV, JSON and Markdown, and from the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from access_policy import Policy, export_matrix, write_matrix
from tietotie.cli import get_app

from .conftest import MINIMAL

runner = CliRunner()


def test_csv_has_one_row_per_role_use_and_field(minimal_policy: Policy):
    rows = list(csv.DictReader(io.StringIO(export_matrix(minimal_policy, "csv"))))
    assert len(rows) == 13  # clerk × service (9 fields) + owner × reminders (4 fields)
    assert {
        "role": "owner",
        "use": "reminders",
        "field": "customer.name",
        "read": "mask",
        "write": "deny",
    } in rows
    assert {
        "role": "clerk",
        "use": "service",
        "field": "visit.amount_eur",
        "read": "allow",
        "write": "allow",
    } in rows


def test_json_holds_rows_row_filters_and_the_default(minimal_policy: Policy):
    doc = json.loads(export_matrix(minimal_policy, "json"))
    assert doc["default"] == "deny"
    assert doc["roles"] == ["owner", "clerk"]
    assert {
        "role": "clerk",
        "use": "service",
        "field": "customer.email",
        "read": "deny",
        "write": "deny",
    } in doc["rows"]
    assert doc["row_filters"] == [
        {
            "role": "clerk",
            "use": "service",
            "conditions": [{"field": "customer.branch", "op": "eq", "value": "espoo"}],
        }
    ]


def test_markdown_has_a_table_per_role_and_use_with_its_row_filter(minimal_policy: Policy):
    text = export_matrix(minimal_policy, "md")
    assert "### clerk for service" in text
    assert "Only rows where `customer.branch eq espoo`." in text
    assert "| `customer.name` | mask | deny |" in text
    assert "Anything not listed here is denied." in text


def test_an_unknown_format_is_refused_naming_the_formats(minimal_policy: Policy):
    with pytest.raises(ValueError, match="unknown matrix format 'xls': use one of csv, json, md"):
        export_matrix(minimal_policy, "xls")


def test_policy_matrix_prints_csv_on_stdout():
    result = runner.invoke(
        get_app(), ["policy", "matrix", "--strategy", str(MINIMAL), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "role,use,field,read,write"
    assert "owner,reminders,customer.name,mask,deny" in result.stdout


def test_policy_matrix_writes_a_file_when_asked(tmp_path: Path):
    out = tmp_path / "out" / "access.json"
    result = runner.invoke(
        get_app(), ["policy", "matrix", "-s", str(MINIMAL), "-f", "json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["default"] == "deny"


def test_policy_matrix_on_an_unreadable_strategy_exits_two(tmp_path: Path):
    result = runner.invoke(get_app(), ["policy", "matrix", "--strategy", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "could not be read as a strategy" in result.output


def test_write_matrix_writes_all_three_formats_for_compile(minimal_policy: Policy, tmp_path: Path):
    paths = write_matrix(minimal_policy, tmp_path / "compiled")
    assert [p.name for p in paths] == [
        "access-matrix.csv",
        "access-matrix.json",
        "access-matrix.md",
    ]
    assert paths[0].read_text() == export_matrix(minimal_policy, "csv")
