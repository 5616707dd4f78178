"""The batched CSV pass through pyarrow: the same rows as Python's csv pass, edge cases, errors."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel import pseudonymisation
from kernel.crypto import Pseudonymiser
from kernel.errors import RecordError
from kernel.keys import Keyring, MasterKey
from kernel.pseudonymisation import Progress, pseudonymise_file

pa = pytest.importorskip("pyarrow")

DATA_KEY = bytes(range(32))
KEYRING = Keyring.from_keys(MasterKey(bytes(range(1, 33)), source="test"), {1: DATA_KEY})
PSEUDO = Pseudonymiser(KEYRING)
REPO = Path(__file__).resolve().parents[2]


def _run(src: Path, dst: Path, fields: list[str], *, python: bool, chunk_rows: int = 3) -> int:
    """Pseudonymise ``fields`` of ``src``; with ``python``, by the pure-Python pass (the one
    taken when pyarrow is not installed)."""
    saved = pseudonymisation._pyarrow_csv
    if python:
        pseudonymisation._pyarrow_csv = lambda: None
    try:
        result = pseudonymise_file(
            src, dst, domain="reporting", fields=fields, pseudonymiser=PSEUDO, chunk_rows=chunk_rows
        )
    finally:
        pseudonymisation._pyarrow_csv = saved
    return result.rows


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _expected(src: Path, fields: list[str]) -> list[list[str]]:
    """What either pass must write: Python's reading of ``src``, blank lines left out, and each
    non-empty value of ``fields`` replaced by its token made one value at a time."""
    header, *data = _rows(src)
    chosen = [i for i, name in enumerate(header) if name in fields]
    out = [header]
    for row in data:
        if not row:
            continue
        out.append(
            [PSEUDO.hmac("reporting", v) if i in chosen and v else v for i, v in enumerate(row)]
        )
    return out


def _both_agree(tmp_path: Path, data: bytes, fields: list[str], chunk_rows: int = 3) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    arrow, python = tmp_path / "arrow.csv", tmp_path / "python.csv"
    counted = _run(src, arrow, fields, python=False, chunk_rows=chunk_rows)
    assert _run(src, python, fields, python=True, chunk_rows=chunk_rows) == counted
    expected = _expected(src, fields)
    assert _rows(arrow) == expected, data
    assert _rows(python) == expected, data
    assert counted == len(expected) - 1


EDGE_CASES = {
    "quoted newlines": b'id,email,note\n1,"a@x.fi","two\nlines"\n2,"b\r\nc@x.fi",x\n',
    "a byte-order mark and CRLF": b"\xef\xbb\xbfid,email\r\n1,a@x.fi\r\n2,b@x.fi\r\n",
    "embedded quotes": b'id,email,note\n1,"say ""hi""@x.fi",x"y\n2,a"b@x.fi,"q"\n',
    "NUL bytes": b"id,email\n1,a\x00b@x.fi\n2,\x00\n",
    "empty values and blank lines": b'id,email\n1,\n\n2,""\n,\n\n',
    "non-ASCII text": "id,email\n1,äiti@esimerkki.fi\n2,🚗\n".encode(),
    "a lone CR inside quotes": b'id,email,note\n1,a@x.fi,"x\ry"\n2,"c\rd",z\n',
    "one column with empty values": b'email\n""\na@x.fi\n""\n',
    "a header naming one column twice": b"email,email,id\na@x.fi,b@x.fi,1\n,c@x.fi,2\n",
    "no newline at the end": b"id,email\n1,a@x.fi",
    "spaces kept as they are": b"id,email\n 1 , a@x.fi \n",
    "a quote left open at the end": b'id,email\n1,"a@x.fi\n',
    "commas in quoted values": b'id,email,name\n1,a@x.fi,"Virtanen, Aino"\n',
    "only a header": b"id,email\n",
    "only a header, without a line break (pyarrow refuses it)": b"id,email",
}


@pytest.mark.parametrize("data", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_pyarrow_and_python_passes_write_the_same_rows(tmp_path: Path, data: bytes) -> None:
    """For each CSV edge case both passes write rows that parse to the expected tokens."""
    _both_agree(tmp_path, data, ["email"])


def test_random_csv_documents_read_the_same_through_both_passes(tmp_path: Path) -> None:
    """Two hundred seeded random documents of awkward characters: same rows, or same error."""
    rng = random.Random(17)
    pieces = ["a", "é", ",", '"', "\n", "\r", "\r\n", " ", "\x00", "🚗", "x@y.fi", ""]
    for case in range(200):
        width = rng.randint(1, 4)
        header = [f"c{i}" if rng.random() < 0.9 else "c0" for i in range(width)]
        rows = [
            ["".join(rng.choices(pieces, k=rng.randint(0, 4))) for _ in range(width)]
            for _ in range(rng.randint(0, 12))
        ]
        out = io.StringIO(newline="")
        writer = csv.writer(
            out,
            lineterminator=rng.choice(["\n", "\r\n"]),
            quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
        )
        writer.writerow(header)
        writer.writerows(rows)
        data = out.getvalue().encode("utf-8")
        folder = tmp_path / str(case)
        folder.mkdir()
        try:
            _both_agree(folder, data, ["c0"], chunk_rows=rng.randint(1, 5))
        except RecordError as arrow_error:
            # A lone CR outside quotes breaks a row in two for both readers alike.
            with pytest.raises(RecordError) as python_error:
                _run(folder / "in.csv", folder / "p.csv", ["c0"], python=True)
            assert python_error.value.message == arrow_error.message, data


# errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("python", [False, True], ids=["pyarrow", "python"])
def test_a_ragged_row_names_its_line_and_writes_nothing(tmp_path: Path, python: bool) -> None:
    """A row with a column too many is refused naming its physical line, values unquoted."""
    src = tmp_path / "in.csv"
    rows = "".join(f"{i},c{i}@x.fi\n" for i in range(2000))
    src.write_text(f'id,email\n0,"two\nlines"\n{rows}9,secret@x.fi,extra\n', encoding="utf-8")
    dst = tmp_path / "out.csv"
    with pytest.raises(RecordError) as caught:
        _run(src, dst, ["email"], python=python, chunk_rows=100)
    assert caught.value.message == (
        f"{src}: line 2004 has 3 columns but the header has 2; refusing to guess which value "
        "belongs to which column"
    )
    assert "secret" not in caught.value.message
    assert caught.value.context == {"file": str(src), "line": 2004}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize("python", [False, True], ids=["pyarrow", "python"])
def test_bytes_that_are_not_utf8_are_refused_naming_the_line(tmp_path: Path, python: bool) -> None:
    """Latin-1 bytes deep in the file (past any read-ahead) are an error naming line and byte."""
    src = tmp_path / "in.csv"
    head = b"id,email,city\n" + b"".join(b"%d,c%d@x.fi,Espoo\n" % (i, i) for i in range(5000))
    src.write_bytes(head + b"5000,d@x.fi,J\xe4rvenp\xe4\xe4\n")
    with pytest.raises(RecordError) as caught:
        _run(src, tmp_path / "out.csv", ["email"], python=python, chunk_rows=1000)
    assert caught.value.message == (
        f"{src}: line 5002 is not valid UTF-8 (byte {len(head) + 14} of the file); save the "
        "file as UTF-8 and run again"
    )
    assert caught.value.context == {"file": str(src), "line": 5002}
    assert not (tmp_path / "out.csv").exists()


def test_a_header_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """Even the header row is checked: line 1."""
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,s\xe4hk\xf6posti\n1,a@x.fi\n")
    with pytest.raises(RecordError, match="line 1 is not valid UTF-8"):
        _run(src, tmp_path / "out.csv", ["email"], python=False)


def test_a_missing_column_is_named_before_pyarrow_reads_anything(tmp_path: Path) -> None:
    """The header check comes first, with the file's columns listed."""
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,email\n1,a@x.fi\n")
    with pytest.raises(RecordError, match="no column 'phone' to pseudonymise; the columns are: "):
        _run(src, tmp_path / "out.csv", ["phone"], python=False)


# streaming ------------------------------------------------------------------------------------


def test_the_pyarrow_pass_streams_in_chunks_with_flat_arrow_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress comes every chunk_rows rows, and pyarrow holds a bounded number of blocks
    (small ones here, so that the bound is far below the file's size)."""
    monkeypatch.setattr(pseudonymisation, "_ARROW_BLOCK_BYTES", 1 << 16)
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "email", "name"])
        writer.writerows((i, f"c{i:07d}@x.fi", f"Virtanen, Aino {i}") for i in range(400_000))
    size = src.stat().st_size
    seen: list[Progress] = []
    held: list[int] = []

    def on_progress(step: Progress) -> None:
        seen.append(step)
        held.append(pa.total_allocated_bytes())

    result = pseudonymise_file(
        src,
        tmp_path / "out.csv",
        domain="reporting",
        fields=["email"],
        pseudonymiser=PSEUDO,
        progress=on_progress,
    )
    assert result.rows == 400_000 and size > 16 * 2**20
    assert [p.rows for p in seen[:3]] == [10_000, 20_000, 30_000]
    assert seen[-1] == Progress(400_000, size, size)
    assert all(a.bytes_read <= b.bytes_read for a, b in itertools.pairwise(seen))
    # Reading the whole file at once would hold all of its bytes and more.
    assert max(held) < size // 4, (max(held), size)


def test_parquet_text_columns_of_every_string_type_are_tokenised_batch_by_batch(
    tmp_path: Path,
) -> None:
    """Plain, large and dictionary string columns across row groups and batches get the tokens
    of one value at a time; null and empty stay as they were, other columns untouched."""
    pq = pytest.importorskip("pyarrow.parquet")
    emails = [None if i % 7 == 0 else "" if i % 11 == 0 else f"c{i}@x.fi" for i in range(250)]
    table = pa.table(
        {
            "email": pa.array(emails, pa.string()),
            "phone": pa.array([f"+358 40 {i}" for i in range(250)], pa.large_string()),
            "city": pa.array(["Espoo", "Vantaa"] * 125).dictionary_encode(),
            "visits": list(range(250)),
        }
    )
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, src, row_group_size=64)
    result = pseudonymise_file(
        src,
        dst,
        domain="reporting",
        fields=["email", "phone", "city"],
        pseudonymiser=PSEUDO,
        chunk_rows=30,
    )
    out = pq.read_table(dst).to_pydict()
    assert result.rows == 250
    assert out["email"] == [PSEUDO.hmac("reporting", e) if e else e for e in emails]
    assert out["phone"] == [PSEUDO.hmac("reporting", f"+358 40 {i}") for i in range(250)]
    assert out["city"] == [PSEUDO.hmac("reporting", c) for c in ["Espoo", "Vantaa"] * 125]
    assert out["visits"] == list(range(250))


@pytest.mark.parametrize(
    ("name", "python"),
    [("in.csv", False), ("in.csv", True), ("in.jsonl", False), ("in.parquet", False)],
    ids=["csv-pyarrow", "csv-python", "jsonl", "parquet"],
)
def test_the_result_carries_the_sha256_of_the_file_written(
    tmp_path: Path, name: str, python: bool
) -> None:
    """The digest the audit entry records is that of the output's bytes, for every pass."""
    src = tmp_path / name
    emails = [f"c{i}@x.fi" for i in range(50)]
    if name.endswith(".csv"):
        src.write_text("id,email\n" + "".join(f"{i},{e}\n" for i, e in enumerate(emails)))
    elif name.endswith(".jsonl"):
        src.write_text("".join(json.dumps({"email": e}) + "\n" for e in emails))
    else:
        pytest.importorskip("pyarrow.parquet").write_table(pa.table({"email": emails}), src)
    dst = tmp_path / f"out{src.suffix}"
    saved = pseudonymisation._pyarrow_csv
    if python:
        pseudonymisation._pyarrow_csv = lambda: None
    try:
        result = pseudonymise_file(
            src, dst, domain="reporting", fields=["email"], pseudonymiser=PSEUDO, chunk_rows=7
        )
    finally:
        pseudonymisation._pyarrow_csv = saved
    assert result.sha256 == hashlib.sha256(dst.read_bytes()).hexdigest()


# the token step -------------------------------------------------------------------------------


def _hkdf(info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(DATA_KEY)


def _reference_hmac(value: str) -> str:
    """The documented hmac token, made with the primitives directly."""
    tag = base64.urlsafe_b64encode(_hkdf(b"tietotie/v1/tag/reporting", 3)).decode()
    key = _hkdf(b"tietotie/v1/hmac/reporting", 32)
    mac = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=key, digest_size=18)
    return f"h1.1.{tag}.{base64.urlsafe_b64encode(mac.digest()).decode()}"


def test_batches_of_random_values_give_the_one_value_tokens() -> None:
    """hmac_many and encrypt_many over many random values, in batches of every small size and
    one large one, give exactly the tokens of one value at a time."""
    rng = random.Random(4)
    alphabet = "aZ09@.-_ äö€🚗\x00\n\ud800"
    values = ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(3000)]
    values += ["", "a" * 5000]
    singles = [PSEUDO.hmac("reporting", v) for v in values]
    assert singles == [_reference_hmac(v) for v in values]
    assert PSEUDO.hmac_many("reporting", values) == singles
    for size in (1, 2, 3, 4, 5, 7):
        batches = [values[i : min(i + size, 210)] for i in range(0, 210, size)]
        assert [t for b in batches for t in PSEUDO.hmac_many("reporting", b)] == singles[:210]
    sealed = PSEUDO.encrypt_many("reporting", values)
    assert sealed == [PSEUDO.encrypt("reporting", v) for v in values]
    assert PSEUDO.reidentify_many("reporting", sealed) == values
    assert PSEUDO.hmac_many("reporting", []) == PSEUDO.encrypt_many("reporting", []) == []


# the command ----------------------------------------------------------------------------------


def test_the_command_and_the_service_derive_the_same_audit_key() -> None:
    """The command spells the audit key's label out; it must stay the service's."""
    from tietotie.commands import pseudonymise
    from tietotie.wiring import AUDIT_KEY_PURPOSE

    assert pseudonymise._AUDIT_KEY_PURPOSE == AUDIT_KEY_PURPOSE


_LOADED = """
import atexit, json, sys
atexit.register(lambda: print("LOADED " + json.dumps(sorted({m.split(".")[0] for m in sys.modules}
    | {m for m in sys.modules if m.startswith("tietotie.")})), file=sys.stderr))
from tietotie.cli import main
main()
"""


@pytest.mark.slow
def test_a_pseudonymise_run_loads_neither_the_web_stack_nor_the_service(tmp_path: Path) -> None:
    """`tietotie pseudonymise` imports the database layer for its audit entry, not FastAPI, the
    request desk, the service wiring or pandas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}
    env |= {
        "TIETOTIE_VAR_DIR": str(tmp_path / "var"),
        "TIETOTIE_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "TIETOTIE_DATABASE_URL": f"sqlite:///{tmp_path / 'absent.db'}",
        "TIETOTIE_STRATEGY": str(REPO / "strategy"),
    }
    src = tmp_path / "in.csv"
    src.write_text("id,email\n1,a@x.fi\n", encoding="utf-8")

    def tietotie(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _LOADED, *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )

    tietotie("keys", "init")
    done = tietotie("pseudonymise", str(src), "-d", "reporting", "-f", "email", "-o", "out.csv")
    assert "Pseudonymised 1 rows" in done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED "))
    loaded = set(json.loads(line.removeprefix("LOADED ")))
    assert {"pyarrow", "sqlalchemy"} <= loaded
    assert not loaded & {"fastapi", "starlette", "dsar", "pandas", "babel", "tietotie.wiring"}
