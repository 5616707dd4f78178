"""Validate generated strategies of growing size; target: 2,000 fields in ≤ 1 s, linear growth."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_strategy import write_strategy
from rich.console import Console
from rich.table import Table

from schemas import validate

SIZES = [500, 1_000, 2_000, 4_000]
RUNS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url",
        help="Accepted like every bench script's; unused: validation reads no database.",
    )
    parser.parse_args()
    table = Table(title="tietotie validate: generated strategies (median of 5 runs)")
    for column in ("fields", "files KiB", "findings", "median s", "µs / field", "target"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            root = write_strategy(Path(tmp) / f"s{size}", size)
            kib = sum(p.stat().st_size for p in root.iterdir()) / 1024
            times, findings = [], 0
            for _ in range(RUNS):
                start = time.perf_counter()
                result = validate(str(root))
                times.append(time.perf_counter() - start)
                findings = len(result.findings)
            median = statistics.median(times)
            target = "≤ 1 s" if size == 2_000 else ""
            table.add_row(
                f"{size:,}",
                f"{kib:,.0f}",
                str(findings),
                f"{median:.3f}",
                f"{median / size * 1e6:.0f}",
                target,
            )
    Console().print(table)


if __name__ == "__main__":
    main()
