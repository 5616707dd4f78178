"""Without pyspark or Java, `--engine spark` says what to install; folders need that engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernel import spark_session as engine
from kernel.spark_session import SPARK_EXTRA, SparkUnavailable, check_spark
from tietotie.cli import get_app

runner = CliRunner()


def test_a_missing_pyspark_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error names the package and the pip command of the spark extra."""
    monkeypatch.setattr(engine, "_installed", lambda name: name != "pyspark")
    with pytest.raises(SparkUnavailable) as caught:
        check_spark()
    assert caught.value.message == (
        f"the Spark engine needs pyspark, from the optional spark extra: {SPARK_EXTRA}"
    )
    assert SPARK_EXTRA == "pip install -e '.[spark]'"


def test_a_missing_java_says_which_version_and_where_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """JAVA_HOME without a java in it: the error names the version and how to install one."""
    monkeypatch.setattr(engine, "_installed", lambda name: True)
    monkeypatch.setattr(engine, "_pyspark_version", lambda: "4.0.1")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(SparkUnavailable, match=r"needs Java 17 or newer, and there is none"):
        check_spark()


def test_a_java_too_old_for_the_pyspark_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyspark 4 on Java 11 is refused before Spark tries to start."""
    monkeypatch.setattr(engine, "_installed", lambda name: True)
    monkeypatch.setattr(engine, "_pyspark_version", lambda: "4.0.1")
    monkeypatch.setattr(engine, "_java", lambda: "/opt/jdk11/bin/java")
    monkeypatch.setattr(engine, "_java_major", lambda java: 11)
    with pytest.raises(SparkUnavailable, match=r"/opt/jdk11/bin/java is Java 11"):
        check_spark()


def test_the_cli_without_pyspark_exits_one_with_the_extra_before_touching_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--engine spark` without pyspark: exit 1, the pip command, and no key file created."""
    monkeypatch.setattr(engine, "_installed", lambda name: name != "pyspark")
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    monkeypatch.setenv("TIETOTIE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TIETOTIE_KEY_FILE", str(tmp_path / "var" / "master.key"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("email\na@x.fi\n")
    from tietotie.settings import get_settings

    get_settings.cache_clear()
    try:
        done = runner.invoke(
            get_app(),
            [
                "pseudonymise",
                str(tmp_path / "in"),
                "-d",
                "reporting",
                "-f",
                "email",
                "-o",
                str(tmp_path / "out"),
                "--engine",
                "spark",
            ],
        )
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 1
    assert "pip install -e '.[spark]'" in done.output
    assert not (tmp_path / "var").exists() and not (tmp_path / "out").exists()


def test_the_local_engine_refuses_a_folder_and_points_to_spark(tmp_path: Path) -> None:
    """A folder given to the single-process engine is an error that names --engine spark."""
    (tmp_path / "in").mkdir()
    done = runner.invoke(
        get_app(),
        ["pseudonymise", str(tmp_path / "in"), "-d", "reporting", "-f", "email", "-o", "x.csv"],
    )
    assert done.exit_code == 1
    assert "is a folder" in done.output and "--engine spark" in done.output
