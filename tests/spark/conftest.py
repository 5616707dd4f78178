"""One local Spark session per test module, skipped where pyspark or Java is missing (not in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import services_required

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def need_spark() -> None:
    """Skip with the reason when Spark cannot start here; fail instead under CI."""
    from kernel.spark_session import SparkUnavailable, check_spark

    try:
        check_spark()
    except SparkUnavailable as exc:
        if os.environ.get("CI") or services_required():
            pytest.fail(f"{exc.message} (CI is set, so a missing Spark is a failure)")
        pytest.skip(exc.message)


@pytest.fixture(scope="module")
def spark_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the module's Spark session keeps its private temporary folders in."""
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(scope="module")
def spark(spark_root: Path) -> Iterator[SparkSession]:
    """A local[2] session with two shuffle partitions and no UI, as the engine configures it."""
    need_spark()
    from kernel.spark_session import spark_session

    with spark_session(
        master="local[2]", temp_root=spark_root, shuffle_partitions=2, log_level="ERROR"
    ) as session:
        yield session
