"""Write what the strategy compiles into: JSON Schema per entity and the RoPA as JSON and CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from kernel.files import atomic_path
from schemas.jsonschema import entity_schemas
from schemas.models import Strategy
from schemas.ropa import CSV_COLUMNS, build_ropa, ropa_rows

__all__ = ["write_outputs"]


def _write_json(path: Path, body: Any) -> None:
    with atomic_path(path, mode=0o644) as tmp:
        tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_outputs(strategy: Strategy, out: Path) -> list[Path]:
    """Write ``schemas/<entity>.schema.json``, ``ropa.json`` and ``ropa.csv`` under ``out``.

    Each file is replaced whole or not at all. Returns the paths written, in order.
    """
    out = Path(out)
    written: list[Path] = []
    for entity, schema in entity_schemas(strategy).items():
        path = out / "schemas" / f"{entity}.schema.json"
        _write_json(path, schema)
        written.append(path)
    entries = build_ropa(strategy)
    ropa_json = out / "ropa.json"
    title = f"Record of processing activities (Art. 30(1) GDPR): {strategy.controller.name}"
    _write_json(
        ropa_json, {"title": title, "activities": [e.model_dump(mode="json") for e in entries]}
    )
    written.append(ropa_json)
    ropa_csv = out / "ropa.csv"
    with (
        atomic_path(ropa_csv, mode=0o644) as tmp,
        tmp.open("w", encoding="utf-8", newline="") as fh,
    ):
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(ropa_rows(entries))
    written.append(ropa_csv)
    return written
