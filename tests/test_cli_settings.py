"""`tietotie settings`, and the warning for a TIETOTIE_ variable that names no setting."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tietotie.cli import get_app
from tietotie.commands.settings import environment_names, unknown_variables
from tietotie.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_misspelt_variable_is_named_with_the_setting_it_meant(monkeypatch) -> None:
    """TIETOTIE_ENV is ignored with a word on stderr pointing at TIETOTIE_ENVIRONMENT."""
    monkeypatch.setenv("TIETOTIE_ENV", "production")
    result = runner.invoke(get_app(), ["settings", "--json"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: TIETOTIE_ENV is not a tietotie setting and was ignored; "
        "did you mean TIETOTIE_ENVIRONMENT?" in result.stderr
    )
    body = json.loads(result.stdout)
    assert {"variable": "TIETOTIE_ENV", "did_you_mean": "TIETOTIE_ENVIRONMENT"} in body["ignored"]


def test_settings_say_which_values_came_from_the_environment(monkeypatch) -> None:
    """A nested rate limit set in the environment shows as such; secrets never show."""
    monkeypatch.setenv("TIETOTIE_RATE_LIMITS__OPEN_PER_IDENTIFIER", "3/hour")
    monkeypatch.setenv("TIETOTIE_SMTP_PASSWORD", "hunter2-secret")
    result = runner.invoke(get_app(), ["settings", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["variable"]: r for r in json.loads(result.stdout)["settings"]}
    assert rows["TIETOTIE_RATE_LIMITS__OPEN_PER_IDENTIFIER"] == {
        "setting": "rate_limits.open_per_identifier",
        "variable": "TIETOTIE_RATE_LIMITS__OPEN_PER_IDENTIFIER",
        "value": "3/hour",
        "from": "environment",
    }
    assert rows["TIETOTIE_ENVIRONMENT"]["from"] == "default"
    assert rows["TIETOTIE_SMTP_PASSWORD"]["value"] == "(set, hidden)"
    assert "hunter2" not in result.output


def test_every_setting_has_a_variable_and_real_ones_are_not_flagged() -> None:
    """Known variables, nested ones included, are never reported as ignored."""
    names = environment_names()
    assert names["TIETOTIE_DATABASE_URL"] == "database_url"
    assert "TIETOTIE_RATE_LIMITS__MESSAGES_PER_IDENTIFIER" in names
    environ = dict.fromkeys(names, "x") | {"TIETOTIE_REQUIRE_SERVICES": "1", "PATH": "/bin"}
    assert unknown_variables(environ) == []
