"""Every rule `tietotie validate` applies: stable id, severity, title and what to do.

The validation-rules guide (docs/guides/validation-rules.md) has one section per rule, generated
from this table and the examples of :mod:`schemas.rule_examples`; the CLI links to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.findings import Severity

if TYPE_CHECKING:  # the examples are for the docs and tests; validate does not load them
    from schemas.rule_examples import Example

__all__ = ["RULES", "Rule"]

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True, slots=True)
class Rule:
    """A validation rule."""

    id: str
    severity: Severity
    title: str
    hint: str
    article: str = ""

    @property
    def example(self) -> Example:
        """A mistake that breaks the rule, and its fix."""
        from schemas.rule_examples import EXAMPLES

        return EXAMPLES[self.id]


_RULES = [
    # ── reading the files ────────────────────────────────────────────────────────────────────
    Rule(
        "file-missing",
        E,
        "The strategy path does not exist or holds no YAML",
        "Point --strategy at a directory with organisation.yaml and 1-goal.yaml … "
        "7-activation.yaml, or at one YAML file with the same top-level keys.",
    ),
    Rule(
        "file-unreadable",
        E,
        "A file cannot be read",
        "Check the file's permissions and that it is a regular file.",
    ),
    Rule(
        "file-too-large",
        E,
        "A file is larger than a strategy file should be",
        "Split the declarations or remove generated content; the limit guards against "
        "runaway files.",
    ),
    Rule(
        "not-utf8",
        E,
        "A file is not UTF-8 text",
        "Save the file as UTF-8 (most editors: 'Save with encoding').",
    ),
    Rule(
        "yaml-syntax",
        E,
        "The YAML cannot be parsed",
        "Fix the syntax at the position shown: check indentation, colons and quotes.",
    ),
    Rule(
        "yaml-duplicate-key",
        E,
        "A key appears twice in the same mapping",
        "YAML would silently keep only the last one; remove or rename one of them.",
    ),
    Rule(
        "yaml-alias-bomb",
        E,
        "Anchors and aliases expand into too many values",
        "Write the values out or use fewer nested aliases.",
    ),
    Rule(
        "yaml-merge-key",
        E,
        "A '<<' merge key is used",
        "Write the keys out in full: merged keys hide what a declaration really says.",
    ),
    Rule(
        "yaml-bad-key",
        E,
        "A mapping key is not a plain string",
        "Use plain text keys; quote keys that look like numbers, dates or booleans.",
    ),
    Rule(
        "not-a-mapping",
        E,
        "A file's top level is not a mapping",
        "Start the file with its top-level key, e.g. 'goals:' in 1-goal.yaml.",
    ),
    Rule(
        "duplicate-section",
        E,
        "The same top-level key is declared in two files",
        "Keep each top-level key (goals, uses, …) in one file only.",
    ),
    Rule(
        "unknown-key",
        E,
        "A key is not part of the strategy format",
        "Check the spelling against the format; unknown keys are refused so typos never "
        "pass silently.",
    ),
    Rule("missing-key", E, "A required key is missing", "Add the key shown."),
    Rule(
        "invalid-value",
        E,
        "A value does not fit its key",
        "Use a value of the kind shown; see the strategy format in the process owners' guide.",
    ),
    # ── identities and references ────────────────────────────────────────────────────────────
    Rule(
        "duplicate-id",
        E,
        "Two declarations of the same kind share an id",
        "Ids must be unique within their kind; rename one of them.",
    ),
    Rule(
        "unknown-role",
        E,
        "A role that organisation.yaml does not declare",
        "Declare the role under 'roles:' in organisation.yaml, or fix the id.",
    ),
    Rule(
        "unknown-processor",
        E,
        "A recipient that organisation.yaml does not declare",
        "Declare the processor under 'processors:' in organisation.yaml, or fix the id.",
    ),
    Rule(
        "unknown-goal",
        E,
        "A goal that 1-goal.yaml does not declare",
        "Declare the goal in 1-goal.yaml, or fix the id.",
    ),
    Rule(
        "unknown-use",
        E,
        "A use that 2-use.yaml does not declare",
        "Declare the use in 2-use.yaml, or fix the id.",
    ),
    Rule(
        "unknown-question",
        E,
        "A question that 3-questions.yaml does not declare",
        "Declare the question in 3-questions.yaml, or fix the id.",
    ),
    Rule(
        "unknown-entity",
        E,
        "An entity that the system step does not declare",
        "Declare the entity under system.entities in 5-system.yaml, or fix the name.",
    ),
    Rule(
        "unknown-field",
        E,
        "A field reference that the system step does not declare",
        "Declare the field under its entity in 5-system.yaml, or fix the reference "
        "('entity.field').",
    ),
    # ── purpose and minimisation ─────────────────────────────────────────────────────────────
    Rule(
        "use-serves-no-goal",
        E,
        "A use serves no goal",
        "Add the goal it serves under 'serves:'; only legal obligations, which cite their "
        "'law', may stand alone.",
        "Art. 5(1)(b)",
    ),
    Rule(
        "goal-not-served",
        E,
        "No use serves a goal",
        "Add the goal to the 'serves:' of the uses that pursue it, or remove the goal.",
    ),
    Rule(
        "field-without-purpose",
        E,
        "A field is held for no use",
        "Add the field to the 'fields:' of the use that needs it, or stop holding it "
        "(data minimisation).",
        "Art. 5(1)(c)",
    ),
    Rule(
        "field-not-collected",
        E,
        "A field is needed but no source collects it",
        "Add the field to the 'collects:' of the source that gathers it in 4-sources.yaml.",
    ),
    Rule(
        "field-outside-use",
        E,
        "A field is touched outside the purpose it serves",
        "Add the field to the use's 'fields:' (and justify it), or stop using it here.",
        "Art. 5(1)(b)",
    ),
    Rule(
        "use-without-retention",
        E,
        "A use has no retention period",
        "Add 'retention:' as an ISO 8601 duration, e.g. P2Y.",
        "Art. 5(1)(e)",
    ),
    Rule(
        "cost-exceeds-value",
        W,
        "Collecting costs more than the answers are worth",
        "Check the source's cost and volume against the value of the questions it serves; "
        "collect less, or more cheaply.",
    ),
    # ── legal bases ──────────────────────────────────────────────────────────────────────────
    Rule(
        "law-missing",
        E,
        "A legal obligation does not cite its law",
        "Add 'law:' naming the provision that imposes the obligation.",
        "Art. 6(3)",
    ),
    Rule(
        "li-without-assessment",
        E,
        "Legitimate interests without a balancing test",
        "Add 'legitimate_interest_assessment:' saying why the interest outweighs the "
        "subject's rights.",
        "Art. 6(1)(f)",
    ),
    Rule(
        "consent-validity-missing",
        W,
        "A consent-based use does not say how long consent lasts",
        "Add 'consent_valid_for:' (e.g. P2Y) so old consents expire and are asked again.",
        "Art. 7(1)",
    ),
    Rule(
        "consent-not-capturable",
        E,
        "No source can capture consent for a consent-based use",
        "Add the use to the 'consent_for:' of a source that shows the notice.",
        "Art. 7(1)",
    ),
    Rule(
        "consent-not-withdrawable-online",
        W,
        "Customers cannot give or withdraw consent themselves",
        "Add a source with 'channel: privacy_center' whose 'consent_for:' lists the use, so the "
        "privacy center's consent pages record choices through it.",
        "Art. 7(3)",
    ),
    Rule(
        "consent-for-non-consent-use",
        E,
        "A source captures consent for a use not based on it",
        "Remove the use from 'consent_for:' or change the use's legal basis to consent.",
    ),
    Rule(
        "special-category-without-condition",
        E,
        "A special-category field is used without an Art. 9(2) condition",
        "Add 'special_category_condition:' to the use, or take the field out of it.",
        "Art. 9(2)",
    ),
    Rule(
        "activation-basis-invalid",
        E,
        "An activation's use has no valid basis for marketing",
        "Direct marketing rests on consent, or on legitimate interests with an 'opt_out:' "
        "route on the activation.",
        "Art. 21(2)",
    ),
    Rule(
        "transfer-without-safeguard",
        E,
        "A processor outside the EEA has no transfer safeguard",
        "Add 'transfer_safeguard:' (adequacy_decision, standard_contractual_clauses, "
        "binding_corporate_rules or derogation).",
        "Art. 44-49",
    ),
    Rule(
        "invalid-country",
        E,
        "A country is not an ISO 3166-1 alpha-2 code",
        "Write the two-letter code, e.g. FI, SE, US; quote NO for Norway.",
    ),
    # ── impact assessment ────────────────────────────────────────────────────────────────────
    Rule(
        "dpia-required",
        W,
        "A use that needs a DPIA declares none, or its review is overdue",
        "Carry out the data protection impact assessment and declare it on the use as "
        "'dpia: {ref, done_on, outcome, review_by}'; once review_by has passed, review it and "
        "move both dates on. `tietotie dpia` shows which criteria each use meets; "
        "`tietotie validate --strict` fails on this warning.",
        "Art. 35",
    ),
    # ── who may do what beyond reading data ──────────────────────────────────────────────────
    Rule(
        "pseudonymise-without-domains",
        E,
        "A role has the pseudonymise duty but names no domain",
        "List the domains it may compute tokens of under 'pseudonymise_domains:' (e.g. "
        "[analytics-extract]), or remove the duty: the duty alone opens no domain.",
        "Art. 4(5)",
    ),
    Rule(
        "pseudonymise-domains-without-duty",
        E,
        "A role names pseudonymise domains without the pseudonymise duty",
        "Add 'pseudonymise' to the role's 'duties:', or remove 'pseudonymise_domains:': "
        "without the duty the list grants nothing.",
    ),
    Rule(
        "pseudonymise-received-domain",
        E,
        "A role may compute tokens of a domain whose pseudonymised output it receives",
        "Remove the domain from the role's 'pseudonymise_domains:', or take the role out of "
        "what brings it that output (a pseudonymised report's 'audience:', a 'masked:' grant, "
        "an activation's use with masked fields): tokens computed from clear values would "
        "re-identify the output's rows.",
        "Art. 4(5), 32(1)(a)",
    ),
    # ── the system of record ─────────────────────────────────────────────────────────────────
    Rule(
        "subject-entity",
        E,
        "Not exactly one entity is the data-subject root",
        "Mark exactly one entity with 'subject: true'.",
    ),
    Rule(
        "entity-parent",
        E,
        "An entity's parent chain does not reach the subject root",
        "Give every entity but the subject a 'parent:' that leads to the subject entity.",
    ),
    Rule(
        "identifier-not-field",
        E,
        "An identifier or match key is not a field of the subject",
        "List only fields of the subject entity under 'identifiers:' and 'match_on:'.",
    ),
    Rule(
        "enum-values",
        E,
        "An enum field without values, or values on a non-enum field",
        "Give enum fields 'values:'; remove 'values:' from other types.",
    ),
    Rule(
        "operator-type-mismatch",
        E,
        "A condition's operator does not fit the field's type",
        "Use before/after/within on dates, lt/le/gt/ge on numbers and dates, "
        "in/not_in with a list.",
    ),
    Rule(
        "condition-value-invalid",
        E,
        "A condition's value does not fit the field",
        "Give a value of the field's type (an enum's declared value, a date, a duration for "
        "within).",
    ),
    Rule(
        "read-and-masked",
        W,
        "A grant both reads and masks the same field",
        "Keep the field under 'read:' or under 'masked:', not both; read wins.",
    ),
    Rule(
        "identified-report-without-access",
        E,
        "An identified report goes to a role that may not read its fields",
        "Grant the role read access for the report's use, or make the report pseudonymised "
        "or aggregated.",
    ),
    Rule(
        "retention-override-unused",
        W,
        "An entity's own retention applies to none of its fields",
        "An entity's 'retention:' keeps a field longer only where a legal-obligation use lists "
        "it (bookkeeping, with its 'law:'); list the fields there, or remove the entity's "
        "'retention:': fields are kept as long as the longest use that lists them.",
        "Art. 5(1)(e)",
    ),
    Rule(
        "audience-not-subject",
        E,
        "An activation's audience is not the subject entity",
        "Set 'audience.entity' to the entity marked 'subject: true'.",
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
