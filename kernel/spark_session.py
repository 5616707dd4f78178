"""The Spark session a pseudonymisation run may hand domain keys to, and whether Spark is here.

``pyspark`` (with pandas and pyarrow: the optional ``spark`` extra, ``pip install -e
'.[spark]'``) and Java are looked for only when a run starts, never at import. A session this
module starts has ``spark.io.encryption.enabled=true``, so every block Spark itself puts on
local disk (a spilled task binary or broadcast, shuffle and spill files) is AES-encrypted under
a key that lives only in the JVM's memory; a session found running without it is refused.
Spark's local directories, its warehouse and the Python workers' ``TMPDIR`` go under a private
(0700) temporary folder of the session, removed when the session stops; the JVM's
``java.io.tmpdir`` (when this module starts the JVM, which pyspark keeps for the process's
life) under another, removed when the process exits. Spark's log is kept to fatal errors by
default, since its error lines quote malformed rows. Local masters listen on 127.0.0.1 only,
and no master gets the web UI. On a cluster master, RPC authentication and encryption are
switched on as well, since the functions holding the keys then cross the network; that set-up
needs the cluster's shared secret and is not exercised by the tests, which run local mode.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kernel.errors import CryptoError, TietotieError
from kernel.files import PRIVATE_DIR_MODE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "SPARK_EXTRA",
    "SparkUnavailable",
    "check_spark",
    "first_line",
    "require_encryption",
    "runtime_conf",
    "spark_session",
]

SPARK_EXTRA: Final = "pip install -e '.[spark]'"
"""How to install the optional engine, named in every error that says it is missing."""

_JVM_TEMP: list[Path] = []  # filled on the first session this process starts; see _jvm_temp


class SparkUnavailable(TietotieError):
    """The Spark engine cannot run here: pyspark (the ``spark`` extra) or Java is missing."""

    code = "spark_unavailable"
    status = 500


# --- is Spark there ---------------------------------------------------------------------------


def check_spark() -> None:
    """Raise :class:`SparkUnavailable`, saying what to install, unless a Spark run can start."""
    missing = [name for name in ("pyspark", "pandas", "pyarrow") if not _installed(name)]
    if missing:
        raise SparkUnavailable(
            f"the Spark engine needs {', '.join(missing)}, from the optional spark extra: "
            f"{SPARK_EXTRA}",
            missing=missing,
        )
    version = _pyspark_version()
    needed = 17 if int(version.split(".")[0]) >= 4 else 8
    java = _java()
    if java is None:
        raise SparkUnavailable(
            f"the Spark engine needs Java {needed} or newer, and there is none: set JAVA_HOME or "
            "put java on PATH (Debian: apt-get install openjdk-17-jre-headless)"
        )
    found = _java_major(java)
    if found is not None and found < needed:
        raise SparkUnavailable(
            f"pyspark {version} needs Java {needed} or newer, but {java} is Java "
            f"{found}: set JAVA_HOME to a newer one"
        )


def _pyspark_version() -> str:
    try:
        return importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        return "4"  # importable without metadata (a source tree): assume the newest needs


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def _java_major(java: str) -> int | None:
    """The major version ``java -version`` reports (``1.8`` is 8), or None if unreadable."""
    try:
        done = subprocess.run(  # noqa: S603 (java from JAVA_HOME or PATH, as Spark runs it)
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


# --- the session ------------------------------------------------------------------------------


@contextlib.contextmanager
def spark_session(
    *,
    master: str = "local[*]",
    temp_root: Path | None = None,
    shuffle_partitions: int | None = None,
    log_level: str = "FATAL",
) -> Iterator[SparkSession]:
    """A Spark session fit to be handed domain keys; stopped (with its temp folder) at the end.

    When this process already runs a Spark session, that one is yielded and left running,
    provided it has ``spark.io.encryption.enabled=true`` (else :class:`CryptoError`). Otherwise
    a new one starts on ``master`` with I/O encryption on, the UI off, every temporary folder
    under a private folder made in ``temp_root`` (default: the system's), and Spark's log at
    ``log_level``: error logs quote malformed rows, and so personal data, hence ``FATAL``.
    """
    check_spark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        require_encryption(active)
        yield active
        return
    root = Path(tempfile.mkdtemp(prefix="tietotie-spark-", dir=temp_root))
    root.chmod(PRIVATE_DIR_MODE)  # mkdtemp makes it 0700 already; say so whatever the platform
    local = master.startswith("local")
    # The Python workers must be this interpreter, which has tietotie and pyarrow; Spark reads
    # the variable when the context starts. Local mode listens on loopback only.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = {
        "spark.app.name": "tietotie-pseudonymise",
        "spark.io.encryption.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.eventLog.enabled": "false",
        "spark.log.level": log_level,
        "spark.local.dir": str(root / "local"),
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "spark.driver.extraJavaOptions": _java_options(_jvm_temp(temp_root), log_level),
        "spark.executorEnv.TMPDIR": str(root / "python"),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if local:
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    else:
        conf["spark.authenticate"] = "true"
        conf["spark.network.crypto.enabled"] = "true"
    if shuffle_partitions is not None:
        conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    for sub in ("local", "warehouse", "python"):
        (root / sub).mkdir(mode=PRIVATE_DIR_MODE)
    builder = SparkSession.builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: pyspark's own errors, or OSError
        shutil.rmtree(root, ignore_errors=True)
        raise SparkUnavailable(
            f"Spark did not start ({first_line(exc)}); check that Java works (java -version)"
        ) from None
    try:
        require_encryption(session)
        yield session
    finally:
        session.stop()
        shutil.rmtree(root, ignore_errors=True)


_LOG4J: Final = """\
# Spark's log for a tietotie run: {level} and above, on standard error, one line each
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark %p %c{{1}}: %m%n
# pyspark's gateway counts as a shell: at the root's level, Spark announces no level of its own
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = {level}
"""


def _java_options(folder: Path, log_level: str) -> str:
    """The JVM's temporary folder, and a log configuration in it that replaces Spark's default
    (which announces itself and its level on every start) with ``log_level`` from the start."""
    config = folder / "log4j2.properties"
    config.write_text(_LOG4J.format(level=log_level.lower()), encoding="utf-8")
    return f"-Djava.io.tmpdir={folder} -Dlog4j2.configurationFile={config.as_uri()}"


def _jvm_temp(temp_root: Path | None) -> Path:
    """The JVM's private ``java.io.tmpdir``: one per process, as the JVM is (pyspark starts it
    once and keeps it for every later session), so it lives until the process exits."""
    if not _JVM_TEMP:
        folder = Path(tempfile.mkdtemp(prefix="tietotie-spark-jvm-", dir=temp_root))
        folder.chmod(PRIVATE_DIR_MODE)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _JVM_TEMP.append(folder)
    return _JVM_TEMP[0]


def require_encryption(session: SparkSession) -> None:
    """Refuse (:class:`CryptoError`) a session whose blocks on local disk would be in clear."""
    if session.sparkContext.getConf().get("spark.io.encryption.enabled") != "true":
        raise CryptoError(
            "refusing to hand domain keys to a Spark session without "
            "spark.io.encryption.enabled=true: what Spark writes to local disk would be in clear"
        )


@contextlib.contextmanager
def runtime_conf(session: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Set session SQL options for one job, and put back what they were."""
    before = {key: session.conf.get(key, None) for key in values}
    for key, value in values.items():
        session.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, old)


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's text (Spark's run to pages), cut at 300."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
