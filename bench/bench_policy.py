"""One access decision in process (target ≤ 1 µs) against PyCasbin RBAC on 1,000 equivalent rules.

Both answer the same questions about the same grants: 10 roles × 10 uses × 10 readable fields
per (role, use) = 1,000 allow rules; everything else is denied. tietotie compiles them from a
generated strategy; PyCasbin gets them as ``p`` lines of an RBAC model whose users are
assigned to the roles with ``g`` lines. The questions are a fixed mix of allowed and denied
cells, asked in the same order of both.
"""

from __future__ import annotations

import argparse
import random
import statistics
import timeit
from typing import Any

from rich.console import Console
from rich.table import Table

from access_policy import Decision, Policy, compile_policy
from schemas import Strategy

ROLES, USES, FIELDS, PER_GRANT = 10, 10, 100, 10
QUESTIONS = 1_000
REPEAT = 5

CASBIN_MODEL = """
[request_definition]
r = sub, obj, use, act

[policy_definition]
p = sub, obj, use, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.use == p.use && r.act == p.act
"""


def strategy() -> Strategy:
    """A strategy of 10 roles, 10 uses and 100 fields, with 1,000 read grants."""
    rng = random.Random(7)
    fields = [f"f{i:03d}" for i in range(FIELDS)]
    roles = [f"role-{r}" for r in range(ROLES)]
    uses = [f"use-{u}" for u in range(USES)]
    access = []
    for role in roles:
        for use in uses:
            picked = rng.sample(fields, PER_GRANT)
            access.append({"role": role, "for": [use], "read": [f"customer.{f}" for f in picked]})
    return Strategy.model_validate(
        {
            "controller": {"name": "Bench Oy"},
            "roles": [{"id": r} for r in roles],
            "goals": [{"id": "g", "statement": "s", "owner": roles[0]}],
            "uses": [
                {
                    "id": u,
                    "serves": ["g"],
                    "kind": "service_delivery",
                    "legal_basis": "contract",
                    "retention": "P1Y",
                    "fields": ["customer.*"],
                }
                for u in uses
            ],
            "system": {
                "name": "bench",
                "entities": {
                    "customer": {
                        "subject": True,
                        "fields": {
                            f: {"type": "string", "category": "descriptive"} for f in fields
                        },
                    }
                },
                "access": access,
            },
        }
    )


def questions(policy: Policy) -> list[tuple[str, str, str, str]]:
    """Half allowed cells, half denied ones, shuffled."""
    rng = random.Random(11)
    allowed = [
        (r.role, r.field, r.use, "read") for r in policy.matrix_rows() if r.read is Decision.ALLOW
    ]
    asked = rng.sample(allowed, QUESTIONS // 2)
    while len(asked) < QUESTIONS:
        q = (
            f"role-{rng.randrange(ROLES)}",
            f"customer.f{rng.randrange(FIELDS):03d}",
            f"use-{rng.randrange(USES)}",
            rng.choice(["read", "write"]),
        )
        if policy.decide(*q) is Decision.DENY:
            asked.append(q)
    rng.shuffle(asked)
    return asked


def casbin_enforcer(policy: Policy) -> Any:
    """PyCasbin with the same 1,000 allow rules; users user-<role> hold the roles."""
    import casbin

    model = casbin.Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    rules = [
        [r.role, r.field, r.use, "read"] for r in policy.matrix_rows() if r.read is Decision.ALLOW
    ]
    enforcer.add_policies(rules)
    enforcer.add_grouping_policies([[f"user-{role}", role] for role in policy.roles])
    return enforcer, len(rules)


def shown(seconds: float) -> str:
    """A duration in ns, µs or ms, whichever reads best."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:,.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    return f"{seconds * 1e3:,.2f} ms"


def per_call(fn: Any, calls: int) -> float:
    """Best of REPEAT runs: seconds per call."""
    return min(timeit.repeat(fn, number=1, repeat=REPEAT)) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url",
        help="Accepted like every bench script's; unused: decisions read no database.",
    )
    parser.parse_args()
    console = Console()
    policy = compile_policy(strategy())
    asked = questions(policy)
    rounds = 200
    decide = policy.decide

    def tietotie_run() -> None:
        for _ in range(rounds):
            for role, field, use, action in asked:
                decide(role, field, use, action)

    ours = per_call(tietotie_run, rounds * len(asked))
    rows: list[tuple[str, str, str, str]] = [
        ("tietotie Policy.decide", shown(ours), "≤ 1 µs", "yes" if ours <= 1e-6 else "NO"),
    ]
    try:
        enforcer, rules = casbin_enforcer(policy)
    except ImportError:
        rows.append(("PyCasbin RBAC", "not installed (pip install pycasbin)", "", ""))
        theirs = None
    else:
        sample = asked[:100]
        agree = all(
            enforcer.enforce(f"user-{r}", f, u, a) == (policy.decide(r, f, u, a) is Decision.ALLOW)
            for r, f, u, a in sample
        )
        times = []
        for _ in range(3):
            times.append(
                per_call(
                    lambda: [enforcer.enforce(f"user-{r}", f, u, a) for r, f, u, a in sample],
                    len(sample),
                )
            )
        theirs = statistics.median(times)
        rows.append(
            (
                f"PyCasbin RBAC, {rules:,} rules",
                shown(theirs),
                "",
                f"same answers: {'yes' if agree else 'NO'}",
            )
        )
    table = Table(
        title=f"access decision in process ({len(asked):,} mixed questions, "
        f"{len(policy.matrix_rows()):,} matrix cells)"
    )
    for column in ("engine", "per decision", "target", "note"):
        table.add_column(column, justify="right" if column == "per decision" else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if theirs is not None:
        console.print(
            f"PyCasbin / tietotie: {theirs / ours:,.0f}× "
            f"({shown(theirs)} vs {shown(ours)} per decision)"
        )


if __name__ == "__main__":
    main()
