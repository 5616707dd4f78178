"""Streaming file pseudonymisation: CSV, JSON Lines, Parquet; constant memory, all or nothing."""

from __future__ import annotations

import csv
import io
import itertools
import json
import tracemalloc
from pathlib import Path

import pytest

from kernel.crypto import Pseudonymiser, TokenMode
from kernel.errors import CryptoError, RecordError
from kernel.keys import Keyring, MasterKey
from kernel.pseudonymisation import (
    FileFormat,
    Progress,
    detect_format,
    parse_field_spec,
    pseudonymise_file,
)

KEYRING = Keyring.from_keys(MasterKey(bytes(range(1, 33)), source="test"), {1: bytes(range(32))})
PSEUDO = Pseudonymiser(KEYRING)


def _write_csv(path: Path, rows: int, *, newline: str = "\n") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator=newline)
        writer.writerow(["customer_id", "email", "name", "plate", "visits"])
        for i in range(rows):
            writer.writerow(
                [i, f"customer{i:07d}@example.fi", f"Asiakas, {i}", f"ABC-{i % 1000}", i % 7]
            )
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# CSV ------------------------------------------------------------------------------------------


def test_csv_columns_are_replaced_by_domain_tokens_and_the_rest_is_untouched(
    tmp_path: Path,
) -> None:
    """email gets hmac tokens, plate reversible encrypt tokens; other columns stay as they were."""
    src = _write_csv(tmp_path / "in.csv", 25)
    dst = tmp_path / "out.csv"
    result = pseudonymise_file(
        src,
        dst,
        domain="reporting",
        fields={"email": TokenMode.HMAC, "plate": TokenMode.ENCRYPT},
        pseudonymiser=PSEUDO,
        chunk_rows=7,
    )
    before, after = _read_csv(src), _read_csv(dst)
    assert result.rows == 25 and result.key_version == 1 and result.format is FileFormat.CSV
    assert [r["email"] for r in after] == PSEUDO.hmac_many(
        "reporting", [r["email"] for r in before]
    )
    assert PSEUDO.reidentify_many("reporting", [r["plate"] for r in after]) == [
        r["plate"] for r in before
    ]
    for old, new in zip(before, after, strict=True):
        assert (old["customer_id"], old["name"], old["visits"]) == (
            new["customer_id"],
            new["name"],
            new["visits"],
        )


def test_empty_csv_values_stay_empty(tmp_path: Path) -> None:
    """An empty cell is not turned into a token that would only mark the row; CRLF is kept."""
    src = tmp_path / "in.csv"
    src.write_text("email,name\r\na@x.fi,Anna\r\n,Bertta\r\n\r\nc@x.fi,\r\n", encoding="utf-8")
    dst = tmp_path / "out.csv"
    pseudonymise_file(src, dst, domain="reporting", fields=["email", "name"], pseudonymiser=PSEUDO)
    written = dst.read_bytes().decode("utf-8")
    assert written.count("\r\n") == 4 and "\n" not in written.replace("\r\n", "")
    assert list(csv.reader(io.StringIO(written, newline=""))) == [
        ["email", "name"],
        [PSEUDO.hmac("reporting", "a@x.fi"), PSEUDO.hmac("reporting", "Anna")],
        ["", PSEUDO.hmac("reporting", "Bertta")],
        [PSEUDO.hmac("reporting", "c@x.fi"), ""],
    ]


def test_a_missing_column_names_the_file_and_column_and_writes_nothing(tmp_path: Path) -> None:
    """Asking for a column the file lacks is a RecordError; an existing output is left as it was."""
    src = _write_csv(tmp_path / "in.csv", 5)
    dst = tmp_path / "out.csv"
    dst.write_text("previous run\n")
    with pytest.raises(RecordError) as caught:
        pseudonymise_file(
            src, dst, domain="reporting", fields=["email", "phone"], pseudonymiser=PSEUDO
        )
    assert str(src) in caught.value.message and "'phone'" in caught.value.message
    assert caught.value.context == {"file": str(src), "column": "phone"}
    assert dst.read_text() == "previous run\n"
    assert _leftovers(tmp_path) == []


def test_a_broken_row_after_the_first_chunk_leaves_no_half_written_file(tmp_path: Path) -> None:
    """A row with an extra column deep in the file aborts the run and leaves no file behind."""
    src = _write_csv(tmp_path / "in.csv", 100)
    with src.open("a", encoding="utf-8") as f:
        f.write("101,late@example.fi,Late,XYZ-1,3,surprise\n")
    dst = tmp_path / "out.csv"
    with pytest.raises(RecordError, match="line 102 has 6 columns but the header has 5"):
        pseudonymise_file(
            src, dst, domain="reporting", fields=["email"], pseudonymiser=PSEUDO, chunk_rows=10
        )
    assert not dst.exists()
    assert _leftovers(tmp_path) == []


def test_tokens_differ_between_domains(tmp_path: Path) -> None:
    """The same file pseudonymised for two domains shares no token."""
    src = _write_csv(tmp_path / "in.csv", 50)
    for domain in ("reporting", "marketing-export"):
        pseudonymise_file(
            src, tmp_path / f"{domain}.csv", domain=domain, fields=["email"], pseudonymiser=PSEUDO
        )
    first = {r["email"] for r in _read_csv(tmp_path / "reporting.csv")}
    second = {r["email"] for r in _read_csv(tmp_path / "marketing-export.csv")}
    assert len(first) == 50 and not first & second


@pytest.mark.slow
def test_a_200k_row_csv_streams_in_flat_memory_with_deterministic_tokens(tmp_path: Path) -> None:
    """Peak memory for 200k rows is that of 20k rows, and two runs give identical files."""
    small = _write_csv(tmp_path / "small.csv", 20_000)
    large = _write_csv(tmp_path / "large.csv", 200_000)
    peaks = {}
    seen: list[Progress] = []
    for name, src in (("small", small), ("large", large)):
        tracemalloc.start()
        try:
            pseudonymise_file(
                src,
                tmp_path / f"{name}-1.csv",
                domain="reporting",
                fields={"email": TokenMode.HMAC, "plate": TokenMode.ENCRYPT},
                pseudonymiser=Pseudonymiser(KEYRING),
                progress=seen.append if name == "large" else None,
            )
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks["large"] < peaks["small"] * 1.25 + 512 * 1024, peaks
    # Holding 200k rows as Python lists would take well over 50 MiB.
    assert peaks["large"] < 16 * 2**20, peaks

    pseudonymise_file(
        large,
        tmp_path / "large-2.csv",
        domain="reporting",
        fields={"email": TokenMode.HMAC, "plate": TokenMode.ENCRYPT},
        pseudonymiser=Pseudonymiser(KEYRING),
    )
    assert (tmp_path / "large-1.csv").read_bytes() == (tmp_path / "large-2.csv").read_bytes()

    assert [p.rows for p in seen][:3] == [10_000, 20_000, 30_000]
    assert seen[-1] == Progress(200_000, large.stat().st_size, large.stat().st_size)
    assert all(a.bytes_read <= b.bytes_read for a, b in itertools.pairwise(seen))


# JSON Lines -----------------------------------------------------------------------------------


def test_jsonl_fields_are_tokenised_and_nulls_and_absent_keys_kept(tmp_path: Path) -> None:
    """Strings and numbers become tokens; null, empty and absent fields stay as they are."""
    src = tmp_path / "in.jsonl"
    records = [
        {"email": "a@x.fi", "phone": 358401234567, "city": "Espoo"},
        {"email": None, "phone": "", "city": "Vantaa"},
        {"city": "Helsinki", "nested": {"keep": True}},
        {"email": "ä@x.fi", "phone": True},
    ]
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    result = pseudonymise_file(
        src,
        dst,
        domain="reporting",
        fields={"email": TokenMode.ENCRYPT, "phone": TokenMode.HMAC},
        pseudonymiser=PSEUDO,
        chunk_rows=3,
    )
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert result.rows == 4
    assert PSEUDO.reidentify("reporting", out[0]["email"]) == "a@x.fi"
    assert out[0]["phone"] == PSEUDO.hmac("reporting", "358401234567")
    assert out[1] == {"email": None, "phone": "", "city": "Vantaa"}
    assert out[2] == records[2]
    assert PSEUDO.reidentify("reporting", out[3]["email"]) == "ä@x.fi"
    assert out[3]["phone"] == PSEUDO.hmac("reporting", "true")


def test_a_jsonl_field_in_no_record_is_an_error(tmp_path: Path) -> None:
    """A field that no record has is reported with the file, and nothing is written."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"email": "a@x.fi"}\n', encoding="utf-8")
    with pytest.raises(RecordError, match="no record has the field 'phone'") as caught:
        pseudonymise_file(
            src, tmp_path / "out.jsonl", domain="reporting", fields=["phone"], pseudonymiser=PSEUDO
        )
    assert caught.value.context["file"] == str(src)
    assert not (tmp_path / "out.jsonl").exists()


def test_a_structure_in_a_jsonl_field_is_refused_rather_than_leaked(tmp_path: Path) -> None:
    """An object where a value should be cannot be pseudonymised and is refused, naming the line."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"email": "a@x.fi"}\n{"email": {"work": "b@x.fi"}}\n', encoding="utf-8")
    with pytest.raises(RecordError, match="line 2: field 'email' holds a dict"):
        pseudonymise_file(
            src, tmp_path / "o.jsonl", domain="reporting", fields=["email"], pseudonymiser=PSEUDO
        )


def test_a_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    """A broken JSON line aborts with its line number."""
    src = tmp_path / "in.ndjson"
    src.write_text('{"email": "a@x.fi"}\n{"email": \n', encoding="utf-8")
    with pytest.raises(RecordError, match="line 2 is not JSON"):
        pseudonymise_file(
            src, tmp_path / "o.ndjson", domain="reporting", fields=["email"], pseudonymiser=PSEUDO
        )


# Parquet --------------------------------------------------------------------------------------


def test_parquet_columns_become_string_tokens(tmp_path: Path) -> None:
    """With pyarrow installed, Parquet columns are tokenised batch by batch; nulls stay null."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    src = tmp_path / "in.parquet"
    table = pa.table(
        {
            "email": [f"c{i}@x.fi" if i % 5 else None for i in range(30)],
            "visits": list(range(30)),
            "plate": [f"ABC-{i}" for i in range(30)],
        }
    )
    pq.write_table(table, src)
    dst = tmp_path / "out.parquet"
    result = pseudonymise_file(
        src,
        dst,
        domain="reporting",
        fields={"email": TokenMode.HMAC, "visits": TokenMode.HMAC, "plate": TokenMode.ENCRYPT},
        pseudonymiser=PSEUDO,
        chunk_rows=8,
    )
    out = pq.read_table(dst).to_pydict()
    assert result.rows == 30
    assert out["email"][0] is None
    assert out["email"][1] == PSEUDO.hmac("reporting", "c1@x.fi")
    assert out["visits"][3] == PSEUDO.hmac("reporting", "3")
    assert PSEUDO.reidentify_many("reporting", out["plate"]) == table.column("plate").to_pylist()
    with pytest.raises(RecordError, match="no column 'phone'"):
        pseudonymise_file(src, dst, domain="reporting", fields=["phone"], pseudonymiser=PSEUDO)


# arguments ------------------------------------------------------------------------------------


def test_field_specs_take_a_mode_per_field() -> None:
    """'email,plate:encrypt' gives email the default mode and plate encrypt."""
    assert parse_field_spec("email, plate:encrypt ,", default=TokenMode.HMAC) == {
        "email": TokenMode.HMAC,
        "plate": TokenMode.ENCRYPT,
    }
    with pytest.raises(RecordError, match="mode 'rot13'"):
        parse_field_spec("email:rot13")
    with pytest.raises(RecordError, match="at least one field"):
        parse_field_spec(" , ")


def test_a_spec_string_names_fields_and_modes(tmp_path: Path) -> None:
    """fields="email,plate:encrypt" is read as a spec, not as the letters of a string."""
    src = _write_csv(tmp_path / "in.csv", 3)
    result = pseudonymise_file(
        src,
        tmp_path / "o.csv",
        domain="reporting",
        fields="email,plate:encrypt",
        pseudonymiser=PSEUDO,
    )
    assert result.fields == {"email": TokenMode.HMAC, "plate": TokenMode.ENCRYPT}


def test_an_output_suffix_of_another_format_is_refused(tmp_path: Path) -> None:
    """Writing CSV content to out.jsonl would mislead the next reader, so it is refused."""
    src = _write_csv(tmp_path / "in.csv", 3)
    with pytest.raises(RecordError, match="converting between formats"):
        pseudonymise_file(
            src, tmp_path / "o.jsonl", domain="reporting", fields=["email"], pseudonymiser=PSEUDO
        )


def test_the_format_comes_from_the_suffix(tmp_path: Path) -> None:
    """Known suffixes pick the format; an unknown one asks for it."""
    assert detect_format(Path("a.CSV")) is FileFormat.CSV
    assert detect_format(Path("a.ndjson")) is FileFormat.JSONL
    with pytest.raises(RecordError, match="suffix"):
        detect_format(tmp_path / "a.txt")


def test_a_bad_domain_or_missing_file_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """Invalid domains and absent sources fail at once."""
    src = _write_csv(tmp_path / "in.csv", 1)
    with pytest.raises(CryptoError, match="kebab-case"):
        pseudonymise_file(
            src, tmp_path / "o.csv", domain="Bad Domain", fields=["email"], pseudonymiser=PSEUDO
        )
    with pytest.raises(RecordError, match="no such file"):
        pseudonymise_file(
            tmp_path / "nope.csv",
            tmp_path / "o.csv",
            domain="reporting",
            fields=["email"],
            pseudonymiser=PSEUDO,
        )
    assert not (tmp_path / "o.csv").exists()
