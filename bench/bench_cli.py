"""How long the command line takes, interpreter start included, on the bundled strategy.

Target (issue 17, DESIGN §14): `tietotie validate` and `tietotie --help` in <= 0.3 s wall. Each
command runs ``--runs`` times as its own process (the console script of this virtualenv, from
the repository, without ``TIETOTIE_*`` variables) after one warm-up run; the table shows wall
time p50 and p99, the process's CPU time p50, and whether the run loaded the web stack or
SQLAlchemy. The other strategy-only commands have no target of their own and are shown for
comparison.

The runs inherit the rest of the environment: under ``PYTHONDONTWRITEBYTECODE=1`` an editable
checkout compiles its own modules at every start (about 15 ms for validate's), which the
line under the table says.

    .venv/bin/python bench/bench_cli.py [--runs 20] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("fastapi", "starlette", "uvicorn", "jinja2", "sqlalchemy")
TARGET_S = 0.3

_REPORT = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print("HEAVY " + json.dumps(sorted(
    {{m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}})), file=sys.stderr))
from tietotie.cli import main
main()
"""


@dataclass(frozen=True)
class Case:
    """One command line and its target (None: shown for comparison)."""

    argv: tuple[str, ...]
    target: float | None


@dataclass(frozen=True)
class Result:
    """What the runs of one case measured."""

    command: str
    wall_p50_s: float
    wall_p99_s: float
    cpu_p50_s: float
    target_s: float | None
    heavy: list[str]

    @property
    def met(self) -> bool | None:
        return None if self.target_s is None else self.wall_p50_s <= self.target_s


def cases(out_dir: Path) -> list[Case]:
    return [
        Case(("--help",), TARGET_S),
        Case(("validate",), TARGET_S),
        Case(("validate", "--format", "json"), None),
        Case(("dpia",), None),
        Case(("policy", "matrix"), None),
        Case(("compile", "--out", str(out_dir)), None),
    ]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("TIETOTIE_")}


def _script() -> list[str]:
    """The console script a user types, or the same entry point through this interpreter."""
    script = Path(sys.executable).with_name("tietotie")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tietotie.cli import main; main()"]


def heavy_modules(case: Case, env: dict[str, str]) -> list[str]:
    """Which of the web stack and SQLAlchemy one run of ``case`` imported."""
    code = _REPORT.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code, *case.argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stderr.splitlines():
        if line.startswith("HEAVY "):
            return list(json.loads(line.removeprefix("HEAVY ")))
    raise SystemExit(f"tietotie {' '.join(case.argv)} failed:\n{done.stderr[-2000:]}")


def measure(case: Case, env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``runs`` runs (after one warm-up run, which fills the page cache)."""
    argv = [*_script(), *case.argv]
    warm = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=False)
    if warm.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {warm.returncode}:\n{warm.stderr.decode()}")
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="Timed runs per command.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument(
        "--database-url",
        help="Accepted like every bench script's; unused: these commands read no database.",
    )
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2, for a p99")

    console = Console(width=max(130, Console().width))
    load_before = os.getloadavg()[0]
    rows: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="tietotie-bench-cli-") as tmp:
        env = _environment()
        for case in cases(Path(tmp) / "compiled"):
            walls, cpus = measure(case, env, args.runs)
            rows.append(
                Result(
                    command="tietotie " + " ".join(case.argv).replace(tmp, "TMP"),
                    wall_p50_s=statistics.median(walls),
                    wall_p99_s=p99(walls),
                    cpu_p50_s=statistics.median(cpus),
                    target_s=case.target,
                    heavy=heavy_modules(case, env),
                )
            )
    load_after = os.getloadavg()[0]

    table = Table(title=f"tietotie CLI start-up, {args.runs} runs each")
    for column in ("command", "wall p50", "wall p99", "CPU p50", "target", "met? (p50)"):
        table.add_column(column, justify="left" if column == "command" else "right")
    table.add_column("loads web stack / SQLAlchemy")
    for row in rows:
        target = "–" if row.target_s is None else f"≤ {row.target_s:.1f} s"
        met = "–" if row.met is None else ("yes" if row.met else "[red]no[/red]")
        table.add_row(
            row.command,
            f"{row.wall_p50_s:.3f} s",
            f"{row.wall_p99_s:.3f} s",
            f"{row.cpu_p50_s:.3f} s",
            target,
            met,
            ", ".join(row.heavy) or "no",
        )
    console.print(table)
    machine = (
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"1-minute load {load_before:.1f} before and {load_after:.1f} after; "
        f"ran {' '.join(_script())}; PYTHONDONTWRITEBYTECODE "
        f"{'set' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'unset'}"
    )
    console.print(machine, highlight=False)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "runs": args.runs,
                    "rows": [asdict(row) | {"met": row.met} for row in rows],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
