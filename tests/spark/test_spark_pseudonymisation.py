"""The Spark engine gives the single-process CLI's tokens, all or nothing, with no key on disk."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import gc
import json
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from audit import AuditLog
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine
from kernel.errors import CryptoError, RecordError
from kernel.keys import Keyring, MasterKey
from kernel.spark_pseudonymisation import folder_sha256, pseudonymise_dataset
from kernel.spark_session import require_encryption
from tests.conftest import ServiceEnv
from tietotie.cli import get_app
from tietotie.keys import open_keyring
from tietotie.settings import get_settings
from tietotie.wiring import AUDIT_KEY_PURPOSE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

runner = CliRunner()
HEADER = ["id", "email", "plate", "note", "city"]


# --- data and helpers -------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[list[str]], *, bom: bool = False, crlf: bool = False) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def _csv_folder(root: Path) -> Path:
    """Three files: BOM and CRLF; quotes, line breaks, spaces and non-ASCII; empty values."""
    folder = root / "visits"
    folder.mkdir()
    _write_csv(
        folder / "a.csv",
        [["1", "liisa@example.fi", "ABC-123", "first visit", "Espoo"]]
        + [[str(i), f"customer{i}@example.fi", f"XYZ-{i}", "tyres", "Vantaa"] for i in (2, 3)],
        bom=True,
        crlf=True,
    )
    _write_csv(
        folder / "b.csv",
        [
            ["4", ' "quoted" @x.fi', "ÅÄÖ-44", "two\nlines, and a comma", "Turku"],
            ["5", "  spaced@x.fi  ", "EMO-🚗", 'say "hi"', " Oulu "],
        ],
    )
    (folder / "c.csv").write_text(
        'id,email,plate,note,city\n6,,PLT-6,,Lahti\n7,"",,"",\n8,eight@x.fi,PLT-8,ok,Pori\n',
        encoding="utf-8",
    )
    return folder


def _read_csv_rows(paths: list[Path]) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                assert row["id"] not in rows
                rows[row["id"]] = row
    return rows


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*"))


def _leftovers(parent: Path, name: str) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


@pytest.fixture
def cli_env(service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A development service with a keyring and an upgraded database (so runs are audited)."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    root = service_env()
    assert runner.invoke(get_app(), ["keys", "init"]).exit_code == 0
    upgraded = runner.invoke(get_app(), ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    yield root


def _cli(*args: str) -> Any:
    return runner.invoke(get_app(), ["pseudonymise", *args])


def _audit_entries(root: Path) -> list[Any]:
    log = AuditLog(open_keyring(get_settings()).derive(AUDIT_KEY_PURPOSE, version=1))
    engine = make_engine(f"sqlite:///{root / 'tietotie.db'}")
    try:
        with Session(engine) as session:
            assert log.verify(session).ok
            return [e for e in log.entries(session, limit=1000) if e.action == "pseudonymise.file"]
    finally:
        engine.dispose()


# --- the same tokens as the CLI ---------------------------------------------------------------


def test_a_csv_folder_on_spark_has_the_clis_tokens_value_by_value(
    spark: SparkSession, cli_env: Path
) -> None:
    """Every value of three CSV files, tokenised or not, equals the local CLI's, empties empty."""
    folder = _csv_folder(cli_env)
    fields = "email,plate:encrypt,note"
    local = []
    for source in sorted(folder.glob("*.csv")):
        out = cli_env / f"local-{source.name}"
        done = _cli(str(source), "-d", "reporting", "-f", fields, "-o", str(out))
        assert done.exit_code == 0, done.output
        local.append(out)
    done = _cli(
        str(folder),
        "-d",
        "reporting",
        "-f",
        fields,
        "-o",
        str(cli_env / "out"),
        "--engine",
        "spark",
    )
    assert done.exit_code == 0, done.output
    assert "Pseudonymised 8 rows" in done.output
    assert re.search(r"Audit entry \d+\.", done.output)

    expected = _read_csv_rows(local)
    got = _read_csv_rows(_parts(cli_env / "out"))
    assert got == expected
    original = _read_csv_rows(sorted(folder.glob("*.csv")))
    assert {row["city"] for row in got.values()} == {r["city"] for r in original.values()}
    assert got["4"]["email"].startswith("h1.") and got["4"]["plate"].startswith("e1.")
    assert got["5"]["city"] == " Oulu "  # untouched values keep their spaces
    assert got["6"]["email"] == got["6"]["note"] == got["7"]["plate"] == got["7"]["city"] == ""
    plates = [got[i]["plate"] for i in ("1", "4", "5")]
    reidentified = Pseudonymiser(open_keyring(get_settings())).reidentify_many("reporting", plates)
    assert reidentified == ["ABC-123", "ÅÄÖ-44", "EMO-🚗"]


def test_the_audit_entry_of_a_spark_run_names_the_rows_and_the_output_folders_digest(
    spark: SparkSession, cli_env: Path
) -> None:
    """A Spark run is one pseudonymise.file entry, with counts and a digest, and no values."""
    folder = _csv_folder(cli_env)
    out = cli_env / "out"
    done = _cli(str(folder), "-d", "reporting", "-f", "email", "-o", str(out), "--engine", "spark")
    assert done.exit_code == 0, done.output
    (entry,) = _audit_entries(cli_env)
    assert json.loads(entry.details) == {
        "domain": "reporting",
        "format": "csv",
        "rows": 8,
        "fields": ["email:hmac"],
        "key_version": 1,
        "output_sha256": folder_sha256(out),
    }
    assert "liisa" not in entry.details


def _parquet_table(ids: range) -> Any:
    n = len(ids)
    return pa.table(
        {
            "id": pa.array(list(ids), pa.int64()),
            "email": pa.array([f"p{i}@x.fi" if i % 3 else ("" if i % 2 else None) for i in ids]),
            "phone": pa.array([358401000000 + i if i % 4 else None for i in ids], pa.int64()),
            "born": pa.array([dt.date(1970, 1, 1) + dt.timedelta(days=400 * i) for i in ids]),
            "score": pa.array([i / 7 if i % 5 else float("nan") for i in ids], pa.float64()),
            "vip": pa.array([bool(i % 2) for i in ids]),
            "amount": pa.array([decimal.Decimal(i) / 100 for i in ids], pa.decimal128(10, 2)),
            "city": pa.array(["Espoo"] * n),
        }
    )


def _parquet_rows(paths: list[Path]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for path in paths:
        for row in pq.read_table(path).to_pylist():
            rows[row["id"]] = row
    return rows


def test_a_parquet_folder_on_spark_has_the_clis_tokens_for_text_numbers_dates_and_nulls(
    spark: SparkSession, cli_env: Path
) -> None:
    """Strings, integers, dates, floats, booleans and decimals tokenise as the CLI does them."""
    folder = cli_env / "extract"
    folder.mkdir()
    pq.write_table(_parquet_table(range(0, 25)), folder / "part-a.parquet")
    pq.write_table(_parquet_table(range(25, 60)), folder / "part-b.parquet")
    fields = "email,phone,born:encrypt,score,vip,amount"
    local = []
    for source in sorted(folder.iterdir()):
        out = cli_env / f"local-{source.name}"
        done = _cli(str(source), "-d", "reporting", "-f", fields, "-o", str(out))
        assert done.exit_code == 0, done.output
        local.append(out)
    out = cli_env / "out"
    done = _cli(str(folder), "-d", "reporting", "-f", fields, "-o", str(out), "--engine", "spark")
    assert done.exit_code == 0, done.output

    expected = _parquet_rows(local)
    got = _parquet_rows(_parts(out))
    assert got == expected
    assert len(got) == 60
    assert got[0]["email"] is None and got[3]["email"] == ""  # a null stays null, "" stays ""
    assert got[4]["phone"] is None and got[1]["phone"].startswith("h1.")
    assert got[1]["city"] == "Espoo" and got[1]["id"] == 1
    schema = pq.read_schema(_parts(out)[0])
    assert schema.field("phone").type == pa.string() and schema.field("id").type == pa.int64()


# --- all or nothing ---------------------------------------------------------------------------


def test_a_missing_column_in_one_file_is_named_and_nothing_is_written(
    spark: SparkSession, cli_env: Path
) -> None:
    """One file without the field: a clear error naming it and the column, and no output."""
    folder = _csv_folder(cli_env)
    (folder / "d.csv").write_text("id,mail,plate,note,city\n9,x@x.fi,P,n,Kemi\n")
    out = cli_env / "out"
    done = _cli(str(folder), "-d", "reporting", "-f", "email", "-o", str(out), "--engine", "spark")
    assert done.exit_code == 1
    assert "d.csv: there is no column 'email' to pseudonymise" in done.output
    assert not out.exists() and not _leftovers(cli_env, "out")
    assert _audit_entries(cli_env) == []


def test_a_malformed_row_fails_the_spark_job_and_leaves_no_folder(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A row Spark cannot place fails the whole run: the file is named, its values are not."""
    folder = _csv_folder(tmp_path)
    (folder / "e.csv").write_text("id,email,plate,note,city\n10,secret@x.fi,P-10\n")
    out = tmp_path / "out"
    pseudo = Pseudonymiser(Keyring.ephemeral())
    with pytest.raises(RecordError) as caught:
        pseudonymise_dataset(
            folder, out, domain="reporting", fields="email", pseudonymiser=pseudo, spark=spark
        )
    assert "e.csv: a row has more or fewer columns than the header" in caught.value.message
    assert "secret@x.fi" not in caught.value.message
    assert not out.exists() and not _leftovers(tmp_path, "out")


def test_files_with_different_headers_are_refused_before_spark_runs(tmp_path: Path) -> None:
    """A dataset is one header: a file with its columns in another order is named."""
    folder = _csv_folder(tmp_path)
    (folder / "d.csv").write_text("id,plate,email,note,city\n9,P,x@x.fi,n,Kemi\n")
    with pytest.raises(RecordError, match=r"d\.csv: its columns .* differ from those of"):
        pseudonymise_dataset(
            folder,
            tmp_path / "out",
            domain="reporting",
            fields="email",
            pseudonymiser=Pseudonymiser(Keyring.ephemeral()),
        )
    assert not (tmp_path / "out").exists()


def test_a_timestamp_field_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """Spark would read a timestamp differently from the CLI: the column is refused by name."""
    folder = tmp_path / "extract"
    folder.mkdir()
    table = pa.table({"id": [1], "seen": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("us"))})
    pq.write_table(table, folder / "a.parquet")
    with pytest.raises(RecordError, match=r"a\.parquet: field 'seen' holds timestamp"):
        pseudonymise_dataset(
            folder,
            tmp_path / "out",
            domain="reporting",
            fields="seen",
            pseudonymiser=Pseudonymiser(Keyring.ephemeral()),
        )


def test_an_existing_destination_is_not_overwritten(tmp_path: Path) -> None:
    """The engine writes a new folder; one already there is left alone, with what to do."""
    folder = _csv_folder(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(RecordError, match="already exists"):
        pseudonymise_dataset(
            folder,
            tmp_path / "out",
            domain="reporting",
            fields="email",
            pseudonymiser=Pseudonymiser(Keyring.ephemeral()),
        )
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


# --- the key material -------------------------------------------------------------------------


def _forms(secret: bytes) -> list[bytes]:
    """The spellings a key could be found in on disk."""
    b64 = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b64,
        b64.rstrip(b"="),
        url,
        url.rstrip(b"="),
    ]


def _files(roots: list[Path]) -> set[Path]:
    return {p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _files_holding(roots: list[Path], needles: list[bytes]) -> list[str]:
    holding = [p for p in _files(roots) if any(needle in p.read_bytes() for needle in needles)]
    return sorted(f"{path} holds a key" for path in holding)


def _session_folders(spark: SparkSession) -> list[Path]:
    conf = spark.sparkContext.getConf()
    local = Path(str(conf.get("spark.local.dir")))
    jvm = re.search(r"-Djava\.io\.tmpdir=(\S+)", str(conf.get("spark.driver.extraJavaOptions")))
    assert jvm is not None
    return [local.parent, Path(jvm.group(1))]


# pyspark's encrypted broadcast never closes the socket it sends the bytes through; it is
# collected (and warned about) inside this test.
@pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
def test_no_key_is_in_any_file_spark_wrote_during_a_run(
    spark: SparkSession, spark_root: Path, tmp_path: Path
) -> None:
    """After a run, no data key, master key or domain subkey is in Spark's folders or the output."""
    data_key, master_bytes = secrets.token_bytes(32), secrets.token_bytes(32)
    keyring = Keyring.from_keys(MasterKey(master_bytes, source="test"), {1: data_key})
    folder = _csv_folder(tmp_path)
    out = tmp_path / "out"
    done = pseudonymise_dataset(
        folder,
        out,
        domain="reporting",
        fields="email,plate:encrypt",
        pseudonymiser=Pseudonymiser(keyring),
        spark=spark,
    )
    assert done.rows == 8
    subkeys = [
        keyring.derive("tag/reporting", length=3),
        keyring.derive("hmac/reporting"),
        keyring.derive("siv/reporting", length=64),
    ]
    secrets_ = [data_key, master_bytes, *subkeys[1:], subkeys[2][:32], subkeys[2][32:]]
    needles = [form for secret in secrets_ for form in _forms(secret)]
    roots = [*_session_folders(spark), spark_root, out]
    assert all(root.is_dir() for root in roots)
    assert len(_files(roots)) > 0
    assert _files_holding(roots, needles) == []

    # pyspark writes a broadcast's pickled bytes to a file under the local folder: with I/O
    # encryption on, a broadcast of a subkey is on disk, but not in any readable form.
    before = _files(roots)
    broadcast = spark.sparkContext.broadcast(subkeys[1])
    try:
        spilled = [p for p in _files(roots) - before if p.stat().st_size >= 32]
        assert spilled, "the broadcast left no file to look into"
        assert _files_holding(roots, needles) == []
    finally:
        broadcast.destroy()
        del broadcast
        gc.collect()

    planted = _session_folders(spark)[0] / "local" / "planted.bin"
    planted.write_bytes(b"noise" + subkeys[1].hex().encode() + b"noise")
    try:
        assert _files_holding(roots, needles) == [f"{planted} holds a key"]  # the scan can fail
    finally:
        planted.unlink()


def test_spark_keeps_its_temporary_folders_private_and_encrypts_what_it_spills(
    spark: SparkSession, spark_root: Path
) -> None:
    """The session's folders are 0700 and I/O encryption is on; without it, no keys are handed."""
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.io.encryption.enabled") == "true"
    assert conf.get("spark.ui.enabled") == "false"
    for folder in _session_folders(spark):
        assert folder.is_relative_to(spark_root)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    require_encryption(spark)

    class _Conf:
        def get(self, key: str) -> str | None:
            return None

    class _Context:
        def getConf(self) -> _Conf:
            return _Conf()

    class _Plain:
        sparkContext = _Context()  # noqa: N815 (the name pyspark gives it)

    with pytest.raises(CryptoError, match=r"spark\.io\.encryption\.enabled=true"):
        require_encryption(cast(Any, _Plain()))


def test_the_output_folder_is_owner_only_like_the_clis_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The output folder is 0700 and its files 0600; Hadoop's checksum files are gone."""
    folder = _csv_folder(tmp_path)
    out = tmp_path / "out"
    pseudonymise_dataset(
        folder,
        out,
        domain="reporting",
        fields="email",
        pseudonymiser=Pseudonymiser(Keyring.ephemeral()),
        spark=spark,
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = list(out.iterdir())
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert not [p for p in files if p.suffix == ".crc"]


def test_what_executors_are_shipped_holds_one_domains_subkeys_and_no_data_key() -> None:
    """The pickled hand-over has no data or master key, and makes no other domain's tokens."""
    import pickle

    from kernel.spark_pseudonymisation import _hand_over

    data_key, master_bytes = secrets.token_bytes(32), secrets.token_bytes(32)
    keyring = Keyring.from_keys(MasterKey(master_bytes, source="test"), {1: data_key})
    keys = _hand_over(Pseudonymiser(keyring), "reporting", 1)
    shipped = pickle.dumps(keys)
    assert data_key not in shipped and master_bytes not in shipped
    assert keyring.derive("hmac/reporting") in shipped  # what it is for
    executor = Pseudonymiser(cast(Any, pickle.loads(shipped)))
    assert executor.hmac("reporting", "a@x.fi") == Pseudonymiser(keyring).hmac(
        "reporting", "a@x.fi"
    )
    with pytest.raises(CryptoError, match="one domain and key version only"):
        executor.hmac("marketing-export", "a@x.fi")
