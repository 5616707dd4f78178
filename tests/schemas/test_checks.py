"""Each validation rule fires on a strategy that breaks it, at the right file and line."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest

from activation import REPORTING_DOMAIN
from activation.audiences import EXPORT_MASK_DOMAIN
from dsar.api.subjects import MASK_DOMAIN
from schemas import RULES, load_strategy, validate
from schemas.checks import received_domains
from schemas.enums import (
    ActivationChannel,
    Art9Condition,
    Category,
    Chart,
    Duty,
    FieldType,
    IdentityLevel,
    LegalBasis,
    Operator,
    OutputDomain,
    Protect,
    SourceChannel,
    TransferSafeguard,
    UseKind,
)

MINIMAL = Path(__file__).parent / "minimal"
MARK = "#!"


@dataclass(frozen=True)
class Case:
    """Edits to the minimal strategy; the line holding ``#!`` is where the finding must point."""

    rule: str
    file: str
    edits: tuple[tuple[str, ...], ...]
    name: str = ""


def case(rule: str, file: str, *edits: tuple[str, ...], name: str = "") -> Case:
    """An edit is ``(old, new)`` in ``file``, or ``(other_file, old, new)``."""
    return Case(rule, file, edits, name or rule)


CASES = [
    case("duplicate-id", "2-use.yaml", ("  - id: bookkeeping", "  - id: reminders #!")),
    case("unknown-role", "1-goal.yaml", ("    owner: owner", "    owner: boss #!")),
    case("unknown-processor", "2-use.yaml", ("recipients: [mailer]", "recipients: [mailman] #!")),
    case(
        "unknown-goal",
        "2-use.yaml",
        (
            "serves: [keep-customers]\n    kind: direct",
            "serves: [keep-kustomers] #!\n    kind: direct",
        ),
    ),
    case("unknown-use", "3-questions.yaml", ("for_uses: [reminders]", "for_uses: [remind] #!")),
    case(
        "unknown-question",
        "6-reporting.yaml",
        ("chart: bar}", "chart: bar} #!"),
        ("answers: [who-is-due]", "answers: [who-is-late]"),
    ),
    case("unknown-entity", "7-activation.yaml", ("entity: customer", "entity: client #!")),
    case(
        "unknown-field",
        "3-questions.yaml",
        (
            "needs: [customer.email, vehicle.tyre_type, visit.visited_at]",
            "needs: [customer.emial, vehicle.tyre_type, visit.visited_at] #!",
        ),
    ),
    case(
        "unknown-field",
        "5-system.yaml",
        ("rows: [{field: customer.branch,", "rows: [{field: customer.brunch,"),
        ("value: espoo}]}", "value: espoo}]} #!"),
        name="unknown-row-field",
    ),
    case(
        "use-serves-no-goal",
        "2-use.yaml",
        ("    serves: [keep-customers]\n    kind: service_delivery", "    kind: service_delivery"),
        ("  - id: service\n", "  - id: service #!\n"),
    ),
    case(
        "goal-not-served",
        "1-goal.yaml",
        ("goals:\n", "goals:\n  - id: grow #!\n    statement: Grow.\n    owner: owner\n"),
    ),
    case(
        "field-without-purpose",
        "5-system.yaml",
        (
            "  access:",
            "    survey:\n      parent: customer\n      fields:\n"
            "        score: {type: integer, category: behavioural} #!\n  access:",
        ),
    ),
    case(
        "field-not-collected",
        "3-questions.yaml",
        (
            "needs: [customer.email, vehicle.tyre_type, visit.visited_at]",
            "needs: [customer.email, vehicle.tyre_type, visit.visited_at] #!",
        ),
        ("4-sources.yaml", "collects: [visit.*]", "collects: [visit.amount_eur]"),
    ),
    case(
        "field-outside-use",
        "3-questions.yaml",
        ("needs: [customer.email,", "needs: [customer.phone, customer.email,"),
        ("visit.visited_at]", "visit.visited_at] #!"),
    ),
    case(
        "field-outside-use",
        "5-system.yaml",
        ("masked: [customer.name]}", "masked: [customer.name, customer.phone]} #!"),
        name="grant-outside-use",
    ),
    case(
        "field-outside-use",
        "7-activation.yaml",
        (
            "op: before, value: 2026-11-01}]",
            "op: before, value: 2026-11-01}, {field: visit.amount_eur, op: gt, value: 100}] #!",
        ),
        name="activation-outside-use",
    ),
    case(
        "use-without-retention",
        "2-use.yaml",
        ("    retention: P3Y\n", ""),
        ("  - id: service\n", "  - id: service #!\n"),
    ),
    case(
        "dpia-required",
        "2-use.yaml",
        ("    dpia:\n      ref: DPIA-1\n      done_on: 2026-01-15\n", ""),
        ("      outcome: Low remaining risk;", "    # outcome: Low remaining risk;"),
        ("      review_by: 2099-12-31\n", ""),
        ("  - id: service\n", "  - id: service #!\n"),
        name="dpia-missing",
    ),
    case(
        "dpia-required",
        "2-use.yaml",
        ("      review_by: 2099-12-31\n", "      review_by: 2026-02-15 #!\n"),
        name="dpia-review-due",
    ),
    case(
        "cost-exceeds-value",
        "4-sources.yaml",
        ("cost_eur_per_record: 0.10", "cost_eur_per_record: 100 #!"),
    ),
    case(
        "law-missing",
        "2-use.yaml",
        (
            "    legal_basis: legal_obligation\n    law: Kirjanpitolaki 1336/1997 2:10\n",
            "    legal_basis: legal_obligation #!\n",
        ),
    ),
    case(
        "li-without-assessment",
        "2-use.yaml",
        ("legal_basis: contract", "legal_basis: legitimate_interests #!"),
    ),
    case(
        "consent-validity-missing",
        "2-use.yaml",
        ("    legal_basis: consent\n    consent_valid_for: P2Y\n", "    legal_basis: consent #!\n"),
    ),
    case(
        "consent-not-capturable",
        "2-use.yaml",
        ("legal_basis: consent", "legal_basis: consent #!"),
        ("4-sources.yaml", "consent_for: [reminders]", "consent_for: []"),
        ("4-sources.yaml", "consent_for: [reminders]   # the customer's", "consent_for: [] #"),
    ),
    case(
        "consent-not-withdrawable-online",
        "2-use.yaml",
        ("legal_basis: consent", "legal_basis: consent #!"),
        ("4-sources.yaml", "channel: privacy_center", "channel: web_form"),
    ),
    case(
        "consent-for-non-consent-use",
        "4-sources.yaml",
        ("consent_for: [reminders]", "consent_for: [reminders, service] #!"),
    ),
    case(
        "special-category-without-condition",
        "2-use.yaml",
        ("    special_category_condition: explicit_consent\n", ""),
        ("fields: [customer.*, vehicle.*, visit.*]", "fields: [customer.*, vehicle.*, visit.*] #!"),
    ),
    case(
        "activation-basis-invalid",
        "7-activation.yaml",
        ("use: reminders", "use: reminders #!"),
        ("2-use.yaml", "legal_basis: consent\n    consent_valid_for: P2Y", "legal_basis: contract"),
    ),
    case(
        "activation-basis-invalid",
        "7-activation.yaml",
        ("use: reminders", "use: reminders #!"),
        (
            "2-use.yaml",
            "legal_basis: consent\n    consent_valid_for: P2Y",
            "legal_basis: legitimate_interests\n    legitimate_interest_assessment: Balanced.",
        ),
        name="legitimate-interests-without-opt-out",
    ),
    case(
        "transfer-without-safeguard",
        "organisation.yaml",
        (", transfer_safeguard: standard_contractual_clauses}", "} #!"),
    ),
    case(
        "invalid-country",
        "organisation.yaml",
        ("country: IE,", "country: XX,"),
        ("dpa_signed: 2025-03-01}\n  - {id: texter", "dpa_signed: 2025-03-01} #!\n  - {id: texter"),
    ),
    case(
        "subject-entity",
        "5-system.yaml",
        ("  entities:\n", "  entities: #!\n"),
        ("    vehicle:\n      parent: customer", "    vehicle:\n      subject: true"),
    ),
    case(
        "entity-parent",
        "5-system.yaml",
        ("    visit:\n      parent: customer\n", "    visit: #!\n"),
    ),
    case(
        "unknown-entity",
        "5-system.yaml",
        ("    visit:\n      parent: customer\n", "    visit:\n      parent: klient #!\n"),
        name="unknown-parent",
    ),
    case(
        "identifier-not-field",
        "5-system.yaml",
        ("identifiers: [email, phone]", "identifiers: [email, mobile] #!"),
    ),
    case(
        "identifier-not-field",
        "5-system.yaml",
        ("match_on: [[email], [phone]]", "match_on: [[email], [plate]] #!"),
        name="match-key",
    ),
    case(
        "enum-values",
        "5-system.yaml",
        (
            "tyre_type: {type: enum, values: [summer, winter, all_season], category: descriptive}",
            "tyre_type: {type: enum, category: descriptive} #!",
        ),
    ),
    case(
        "operator-type-mismatch",
        "7-activation.yaml",
        ("tyre_type, op: eq, value: summer}", "tyre_type, op: before, value: summer}"),
        ("value: 2026-11-01}]", "value: 2026-11-01}] #!"),
    ),
    case(
        "condition-value-invalid",
        "7-activation.yaml",
        ("value: summer}", "value: winterish}"),
        ("value: 2026-11-01}]", "value: 2026-11-01}] #!"),
    ),
    case(
        "condition-value-invalid",
        "7-activation.yaml",
        ("op: before, value: 2026-11-01}]", "op: within, value: soon}] #!"),
        name="within-duration",
    ),
    case(
        "read-and-masked",
        "5-system.yaml",
        ("masked: [customer.name]}", "masked: [customer.email]} #!"),
    ),
    case(
        "identified-report-without-access",
        "6-reporting.yaml",
        ("audience: [owner]", "audience: [owner, clerk]"),
        ("chart: bar}", "chart: bar} #!"),
    ),
    case("audience-not-subject", "7-activation.yaml", ("entity: customer", "entity: vehicle #!")),
    case(
        "retention-override-unused",
        "5-system.yaml",
        ("      retention: P6Y", "      retention: P6Y #!"),
        ("2-use.yaml", "fields: [visit.amount_eur, customer.name]", "fields: [customer.name]"),
    ),
    # ── the loader's rules ───────────────────────────────────────────────────────────────────
    case("yaml-syntax", "1-goal.yaml", ("    owner: owner", "    owner: owner: x #!")),
    case(
        "yaml-duplicate-key",
        "1-goal.yaml",
        ("    owner: owner", "    owner: owner\n    owner: x #!"),
    ),
    case(
        "yaml-merge-key", "1-goal.yaml", ("    owner: owner", "    owner: owner\n    <<: {a: 1} #!")
    ),
    case("yaml-bad-key", "1-goal.yaml", ("    owner: owner", "    owner: owner\n    [a]: 1 #!")),
    case("unknown-key", "2-use.yaml", ("    legal_basis: contract", "    legal_bais: contract #!")),
    case(
        "missing-key",
        "2-use.yaml",
        ("    kind: legal_compliance\n", ""),
        ("  - id: bookkeeping", "  - id: bookkeeping #!"),
    ),
    case("invalid-value", "2-use.yaml", ("legal_basis: contract", "legal_basis: contrakt #!")),
    case(
        "invalid-value",
        "2-use.yaml",
        ("retention: P3Y", "retention: three years #!"),
        name="bad-duration",
    ),
    case(
        "invalid-value",
        "organisation.yaml",
        ("jurisdiction: FI,", "jurisdiction: no,"),
        ("language: en}", "language: en} #!"),
        name="norway-problem",
    ),
    case(
        "pseudonymise-without-domains",
        "organisation.yaml",
        ("duties: [requests, audit, reidentify]}", "duties: [audit, pseudonymise]} #!"),
    ),
    case(
        "pseudonymise-domains-without-duty",
        "organisation.yaml",
        ("location: espoo}", "location: espoo, pseudonymise_domains: [crm-sync]} #!"),
    ),
    case(
        "pseudonymise-received-domain",
        "organisation.yaml",
        (
            "duties: [requests, audit, reidentify]}",
            "duties: [pseudonymise], pseudonymise_domains: [crm-sync, masked-read]} #!",
        ),
        name="pseudonymise-masked-read",
    ),
    case(
        "pseudonymise-received-domain",
        "organisation.yaml",
        (
            "duties: [requests, audit, reidentify]}",
            "duties: [pseudonymise], pseudonymise_domains: [reporting]} #!",
        ),
        ("6-reporting.yaml", "identity: identified", "identity: pseudonymised"),
        name="pseudonymise-reporting",
    ),
    case("not-a-mapping", "6-reporting.yaml", ("reports:\n  - ", "#!\n- ")),
    case("duplicate-section", "3-questions.yaml", ("questions:", "goals: #!\n  []\nquestions:")),
]


def _apply(tmp_path: Path, c: Case) -> tuple[Path, int]:
    root = tmp_path / "strategy"
    shutil.copytree(MINIMAL, root)
    for edit in c.edits:
        file, old, new = edit if len(edit) == 3 else (c.file, *edit)
        path = root / file
        before = path.read_text(encoding="utf-8")
        assert old in before, f"fixture edit {old!r} does not apply to {file}"
        path.write_text(before.replace(old, new, 1), encoding="utf-8")
    text = (root / c.file).read_text(encoding="utf-8")
    lines = [i for i, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(lines) == 1, "a case marks exactly one line"
    return root, lines[0]


def test_the_minimal_strategy_validates_clean() -> None:
    """The fixture every case edits has no finding at all, so each finding comes from its edit."""
    result = validate(str(MINIMAL))
    assert result.ok
    assert result.findings == []


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_rule_fires_at_the_edited_line(tmp_path: Path, c: Case) -> None:
    """Breaking one rule yields that rule's finding at the file and line of the breakage."""
    root, line = _apply(tmp_path, c)
    result = validate(str(root))
    hits = [f for f in result.findings if f.rule == c.rule]
    assert hits, f"{c.rule} did not fire; got {[(f.rule, f.message) for f in result.findings]}"
    where = [(Path(f.file).name, f.line) for f in hits]
    assert (c.file, line) in where, f"{c.rule} fired at {where}, expected {c.file}:{line}"
    hit = next(f for f in hits if (Path(f.file).name, f.line) == (c.file, line))
    assert hit.severity == RULES[c.rule].severity
    assert hit.hint and hit.message
    assert result.ok is (
        hit.severity == "warning" and all(f.severity == "warning" for f in result.findings)
    )


def test_every_rule_has_a_case_or_a_dedicated_test() -> None:
    """A rule added without a fixture that makes it fire is caught here."""
    dedicated = {"file-missing", "file-unreadable", "file-too-large", "not-utf8", "yaml-alias-bomb"}
    covered = {c.rule for c in CASES} | dedicated
    assert set(RULES) - covered == set()


def test_findings_from_every_file_come_in_one_run(tmp_path: Path) -> None:
    """Mistakes in several files are all reported together, not one at a time."""
    root = tmp_path / "strategy"
    shutil.copytree(MINIMAL, root)
    for name, old, new in [
        ("1-goal.yaml", "owner: owner", "owner: boss"),
        ("3-questions.yaml", "for_uses: [reminders]", "for_uses: [remind]"),
        ("organisation.yaml", "country: IE,", "country: XX,"),
    ]:
        path = root / name
        path.write_text(path.read_text().replace(old, new, 1))
    rules = {f.rule for f in validate(str(root)).findings}
    assert {"unknown-role", "unknown-use", "invalid-country"} <= rules


def test_a_typo_in_a_key_suggests_the_right_one(tmp_path: Path) -> None:
    """An unknown key names the closest known key so the fix is obvious."""
    root, _ = _apply(
        tmp_path,
        case(
            "unknown-key",
            "2-use.yaml",
            ("    legal_basis: contract", "    legal_bais: contract #!"),
        ),
    )
    hit = next(f for f in validate(str(root)).findings if f.rule == "unknown-key")
    assert "legal_basis" in hit.hint


def test_every_pseudonymised_output_of_the_bundled_strategy_names_its_receivers() -> None:
    """Marketing receives all three output domains, the owner reporting and masked-read, the
    auditor masked-read; the names are the domains the outputs are made in."""
    assert [d.value for d in OutputDomain] == [REPORTING_DOMAIN, EXPORT_MASK_DOMAIN, MASK_DOMAIN]
    strategy = load_strategy(str(MINIMAL.parents[2] / "strategy")).strategy
    assert strategy is not None
    received = {role: set(domains) for role, domains in received_domains(strategy).items()}
    assert received == {
        "marketing": {"reporting", "activation-export", "masked-read"},
        "owner": {"reporting", "masked-read"},
        "auditor": {"masked-read"},
    }


# ── one typo, one finding ────────────────────────────────────────────────────────────────────

BUNDLED = MINIMAL.parents[2] / "strategy"

TYPOS = [
    # (file, as written, the typo, the reference removed instead)
    ("2-use.yaml", "      - visit.mileage_km\n", "      - visit.milage_km\n", ""),
    ("2-use.yaml", "      - vehicle.*\n", "      - vehicel.*\n", ""),
    (
        "5-system.yaml",
        "    - role: owner\n      for: [tyre-hotel]\n",
        "    - role: owner\n      for: [tyre-hotell]\n",
        "    - role: owner\n      for: []\n",
    ),
    (
        "4-sources.yaml",
        "      - tyre_storage.tread_depth_mm\n",
        "      - tyre_storage.tread_depth\n",
        "",
    ),
]


def _bundled_with(tmp_path: Path, name: str, file: str, old: str, new: str) -> Path:
    root = tmp_path / name
    shutil.copytree(BUNDLED, root)
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"fixture edit {old!r} does not apply once to {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("file", "old", "typo", "removed"),
    TYPOS,
    ids=["use-field", "use-entity", "grant-use", "source-collects"],
)
def test_a_typo_is_reported_once_and_counts_what_it_causes(
    tmp_path: Path, file: str, old: str, typo: str, removed: str
) -> None:
    """A dangling reference with a likely fix is the only finding; it says how many findings it
    explains: as many as leaving the reference out altogether produces."""
    assert validate(str(BUNDLED)).findings == []
    typoed = validate(str(_bundled_with(tmp_path, "typo", file, old, typo))).findings
    follow_ons = validate(str(_bundled_with(tmp_path, "gone", file, old, removed))).findings
    assert follow_ons, "leaving the reference out must break something, or the case shows nothing"
    (root,) = typoed
    assert root.rule.startswith("unknown-") and "did you mean" in root.message
    assert root.explains == len(follow_ons)
    assert root.message.endswith(
        f"(this also explains {len(follow_ons)} other findings, not shown: fix this first)"
    )


def test_the_typo_hides_only_what_it_explains(tmp_path: Path) -> None:
    """A field outside its use that the typo does not explain is still reported."""
    root = _bundled_with(
        tmp_path, "s", "2-use.yaml", "      - visit.mileage_km\n", "      - visit.milage_km\n"
    )
    system = root / "5-system.yaml"
    system.write_text(
        system.read_text().replace(
            "masked: [customer.postal_code]   #", "masked: [customer.postal_code, customer.email] #"
        )
    )
    findings = validate(str(root)).findings
    assert [f.rule for f in findings] == ["unknown-field", "field-outside-use"]
    assert "customer.email" in findings[1].message


def test_a_reference_without_a_likely_fix_hides_nothing(tmp_path: Path) -> None:
    """When nothing declared is close to a dangling reference, its consequences are all shown."""
    root = _bundled_with(
        tmp_path, "s", "2-use.yaml", "      - visit.mileage_km\n", "      - visit.zzz\n"
    )
    findings = validate(str(root)).findings
    assert findings[0].rule == "unknown-field" and findings[0].explains == 0
    assert {f.rule for f in findings[1:]} == {"field-without-purpose", "field-outside-use"}


def test_grant_findings_name_the_use_as_well_as_the_role(tmp_path: Path) -> None:
    """A grant reaching outside its use says which role's grant, for which use."""
    root, _ = _apply(
        tmp_path,
        case(
            "field-outside-use",
            "5-system.yaml",
            ("masked: [customer.name]}", "masked: [customer.name, customer.phone]} #!"),
        ),
    )
    (hit,) = [f for f in validate(str(root)).findings if f.rule == "field-outside-use"]
    assert hit.message == (
        "the masked grant of 'owner' for 'reminders' touches customer.phone, "
        "which use 'reminders' does not list in its fields"
    )


# ── the loader names list items by id, and lists allowed values ──────────────────────────────


def test_a_missing_key_names_the_item_by_its_id_and_lists_the_values(tmp_path: Path) -> None:
    """`legal_basis` left out of a use is reported at uses[<id>].legal_basis, and the hint
    lists every legal basis."""
    root, _ = _apply(
        tmp_path,
        case(
            "missing-key",
            "2-use.yaml",
            ("    legal_basis: consent\n", ""),
            ("  - id: reminders", "  - id: reminders #!"),
        ),
    )
    (hit,) = validate(str(root)).findings
    assert hit.message == "'legal_basis' is required at uses[reminders].legal_basis"
    assert all(basis.value in hit.hint for basis in LegalBasis)
    assert hit.path == ("uses", 0, "legal_basis")


def test_items_without_an_id_are_named_by_position(tmp_path: Path) -> None:
    """A grant (which has no id) is named system.access[1] in the message."""
    root, _ = _apply(
        tmp_path,
        case("unknown-key", "5-system.yaml", ("masked: [customer.name]}", "mask: [x]} #!")),
    )
    (hit,) = validate(str(root)).findings
    assert hit.message == "'mask' is not a known key at system.access[1].mask"


ENUM_KEYS = [
    ("2-use.yaml", "legal_basis: contract", "legal_basis: contrakt", LegalBasis),
    ("2-use.yaml", "kind: service_delivery", "kind: service", UseKind),
    (
        "2-use.yaml",
        "special_category_condition: explicit_consent",
        "special_category_condition: consent",
        Art9Condition,
    ),
    ("4-sources.yaml", "channel: web_form", "channel: webform", SourceChannel),
    ("7-activation.yaml", "channel: email", "channel: e-mail", ActivationChannel),
    ("5-system.yaml", "name: {type: string", "name: {type: str", FieldType),
    ("5-system.yaml", "category: identity", "category: identty", Category),
    ("5-system.yaml", "protect: encrypt", "protect: encrypted", Protect),
    ("6-reporting.yaml", "identity: identified", "identity: named", IdentityLevel),
    ("6-reporting.yaml", "chart: bar", "chart: bars", Chart),
    ("7-activation.yaml", "op: before", "op: earlier", Operator),
    ("organisation.yaml", "duties: [requests,", "duties: [request,", Duty),
    (
        "organisation.yaml",
        "transfer_safeguard: standard_contractual_clauses",
        "transfer_safeguard: scc",
        TransferSafeguard,
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "kind"), ENUM_KEYS, ids=[e[3].__name__ for e in ENUM_KEYS]
)
def test_a_wrong_enum_value_gets_every_allowed_value_in_its_hint(
    tmp_path: Path, file: str, old: str, new: str, kind: type[StrEnum]
) -> None:
    """Whatever enum-valued key is wrong, the hint lists all its values and the message
    suggests the closest."""
    root = tmp_path / "strategy"
    shutil.copytree(MINIMAL, root)
    path = root / file
    assert old in path.read_text(encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    (hit,) = validate(str(root)).findings
    assert hit.rule == "invalid-value"
    assert hit.hint == f"Write one of: {', '.join(v.value for v in kind)}."
    assert "is not one of the allowed values" in hit.message
