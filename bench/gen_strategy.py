"""Generate a valid strategy of a given number of fields, for benchmarks."""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["write_strategy"]

FIELDS_PER_ENTITY = 20
FIELDS_PER_USE = 10
TYPES = [
    ("string", "identity"),
    ("integer", "behavioural"),
    ("date", "behavioural"),
    ("decimal", "financial"),
    ("text", "descriptive"),
]


def write_strategy(root: Path, n_fields: int) -> Path:
    """Write a directory-form strategy with ``n_fields`` fields that validates clean."""
    root.mkdir(parents=True, exist_ok=True)
    entities: dict[str, dict] = {
        "customer": {
            "subject": True,
            "identifiers": ["email"],
            "match_on": [["email"]],
            "fields": {"email": {"type": "email", "category": "contact"}},
        },
    }
    refs: list[str] = ["customer.email"]
    i = 1
    while i < n_fields:
        name = f"entity_{len(entities)}"
        fields = {}
        for k in range(min(FIELDS_PER_ENTITY, n_fields - i)):
            kind, category = TYPES[k % len(TYPES)]
            fields[f"field_{k}"] = {"type": kind, "category": category}
            refs.append(f"{name}.field_{k}")
        entities[name] = {"parent": "customer", "fields": fields}
        i += len(fields)
    chunks = [refs[j : j + FIELDS_PER_USE] for j in range(0, len(refs), FIELDS_PER_USE)]
    roles = [{"id": "owner", "duties": ["requests", "audit"]}]
    uses, questions, sources, access = [], [], [], []
    for n, chunk in enumerate(chunks):
        uses.append(
            {
                "id": f"use-{n}",
                "description": "generated",
                "serves": ["grow"],
                "kind": "analytics",
                "legal_basis": "contract",
                "data_subjects": ["customer"],
                "fields": chunk,
                "retention": "P2Y",
            }
        )
        questions.append(
            {
                "id": f"q-{n}",
                "text": "generated?",
                "for_uses": [f"use-{n}"],
                "priority": 1,
                "value_eur_per_year": 1000,
                "needs": chunk[:3],
            }
        )
        sources.append(
            {
                "id": f"src-{n}",
                "channel": "import",
                "collected_by": "owner",
                "cost_eur_per_record": 0,
                "records_per_year": 10,
                "collects": chunk,
            }
        )
        roles.append({"id": f"role-{n}", "department": "analytics"})
        access.append(
            {"role": f"role-{n}", "for": [f"use-{n}"], "read": chunk[:5], "masked": chunk[5:]}
        )
    docs = {
        "organisation.yaml": {
            "controller": {"name": "Bench Oy", "jurisdiction": "FI"},
            "roles": roles,
            "processors": [],
        },
        "1-goal.yaml": {"goals": [{"id": "grow", "statement": "Grow.", "owner": "owner"}]},
        "2-use.yaml": {"uses": uses},
        "3-questions.yaml": {"questions": questions},
        "4-sources.yaml": {"sources": sources},
        "5-system.yaml": {"system": {"name": "Bench", "entities": entities, "access": access}},
        "6-reporting.yaml": {"reports": []},
        "7-activation.yaml": {"activations": []},
    }
    for name, doc in docs.items():
        (root / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return root
