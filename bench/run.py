"""Run every benchmark in bench/ (each `bench_*.py` prints its own table).

    .venv/bin/python bench/run.py [NAME ...] [--database-url URL]

NAME picks benchmarks by their name without ``bench_`` (``ingest``, ``dsar``…); none runs all.
``--database-url`` is handed to every script (``make bench DATABASE_URL=postgresql://…``); a
script that does not take the option is run without it, and says so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--database-url", metavar="URL", help="database every benchmark runs on")
    args = parser.parse_args()
    only = set(args.names)
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        if only and script.stem.removeprefix("bench_") not in only:
            continue
        command = [sys.executable, str(script)]
        note = ""
        if args.database_url:
            if "--database-url" in script.read_text(encoding="utf-8"):
                command += ["--database-url", args.database_url]
            else:
                note = " (takes no --database-url: run on its own default)"
        print(f"\n== {script.name}{note} ==", flush=True)
        failed |= subprocess.call(command)
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
