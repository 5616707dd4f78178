"""Reviewing a strategy change: what `tietotie diff` tells a data protection officer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from governance.diff import Change, Section, StrategyDiff, compare
from governance.diff_input import DiffInputError, open_side
from governance.diff_report import to_json, to_markdown
from schemas import load_strategy
from tests.governance.diff_support import (
    B2B,
    BUNDLED,
    declarations,
    drop_field,
    git,
    grant,
    item,
    strategy,
    valid,
    write_strategy,
)


def _review(new: dict, old: dict | None = None) -> StrategyDiff:
    return compare(strategy(old or declarations()), valid(new))


def _find(diff: StrategyDiff, change_id: str) -> Change:
    found = [c for c in diff.changes if c.id == change_id]
    assert found, f"{change_id} not in {[c.id for c in diff.changes]}"
    return found[0]


def _ids(diff: StrategyDiff, section: Section | None = None) -> list[str]:
    return [c.id for c in diff.changes if section is None or c.section is section]


# ── nothing changed ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("path", [BUNDLED, B2B], ids=["bundled", "b2b"])
def test_a_strategy_compared_with_itself_changes_nothing(path: Path) -> None:
    """No change, nothing to sign off, and no migration step, for either example company."""
    diff = compare(strategy(declarations(path)), strategy(declarations(path)))
    assert diff.changes == []
    assert diff.needs_sign_off == []


# ── fields ───────────────────────────────────────────────────────────────────────────────────


def test_a_field_newly_held_needs_sign_off_and_a_dropped_one_does_not() -> None:
    """A new personal field collected for a use needs the DPO; dropping one is reported only."""
    new = drop_field(declarations(), "vehicle.model_year")
    new["system"]["entities"]["customer"]["fields"]["birth_date"] = {
        "type": "date",
        "category": "identity",
    }
    item(new, "sources", "service-desk")["collects"].append("customer.birth_date")
    item(new, "uses", "service-history")["fields"].append("customer.birth_date")
    diff = _review(new)
    added = _find(diff, "fields:customer.birth_date:added")
    assert added.sign_off is not None and "Art. 5(1)(c)" in added.sign_off
    assert "collected by service-desk, for service-history" in added.summary
    dropped = _find(diff, "fields:vehicle.model_year:removed")
    assert dropped.sign_off is None
    assert _find(diff, "uses:service-history:fields-changed").sign_off is not None
    # A dropped field is denied to every role; said once under Fields, not once per grant.
    assert not [c for c in diff.section(Section.ACCESS) if "model_year" in c.summary]


def test_a_special_category_field_says_so() -> None:
    """A new health field names Art. 9 and the DPIA in its reason."""
    new = declarations()
    new["system"]["entities"]["customer"]["fields"]["allergy"] = {
        "type": "text",
        "category": "health",
    }
    item(new, "sources", "booking-form")["collects"].append("customer.allergy")
    item(new, "uses", "accessibility-service")["fields"].append("customer.allergy")
    why = _find(_review(new), "fields:customer.allergy:added").sign_off
    assert why is not None and "Art. 9" in why and "DPIA" in why


def test_collection_that_starts_needs_sign_off_and_collection_that_stops_does_not() -> None:
    """An existing field no source collected before, once collected, needs the DPO."""
    before = declarations()
    for source in before["sources"]:
        if "customer.city" in source["collects"]:
            source["collects"].remove("customer.city")
    diff = compare(strategy(before), strategy(declarations()))
    started = _find(diff, "fields:customer.city:newly-collected")
    assert started.sign_off is not None and "service-desk" in started.summary
    stopped = _find(
        compare(strategy(declarations()), strategy(before)),
        "fields:customer.city:no-longer-collected",
    )
    assert stopped.sign_off is None


def test_weaker_protection_of_a_field_needs_sign_off() -> None:
    """protect: encrypt → none is weaker pseudonymisation (Art. 32)."""
    new = declarations()
    new["system"]["entities"]["vehicle"]["fields"]["plate"]["protect"] = "none"
    changed = _find(_review(new), "fields:vehicle.plate:changed")
    assert "protect encrypt → none" in changed.summary
    assert changed.sign_off is not None and "Art. 25(1), 32(1)(a)" in changed.sign_off


# ── uses and consent ─────────────────────────────────────────────────────────────────────────


def test_a_changed_purpose_of_a_consent_based_use_needs_new_consent() -> None:
    """Consent covers what people were told: a new description means asking again."""
    new = declarations()
    item(new, "uses", "seasonal-reminders")["description"] = (
        "Kausimuistutukset sekä yhteistyökumppaneiden tarjoukset sähköpostilla."
    )
    diff = _review(new)
    consent = _find(diff, "consent:seasonal-reminders:new-consent")
    assert "its purpose as told to people changed" in consent.summary
    assert consent.sign_off is not None and "Art. 4(11), 7(1)" in consent.sign_off
    assert "booking-form" in consent.sign_off  # where consent can be asked again
    assert _find(diff, "uses:seasonal-reminders:purpose-changed").sign_off is not None
    assert consent in diff.needs_sign_off


def test_a_consent_based_use_that_only_gives_up_data_keeps_its_consents() -> None:
    """Fewer fields are within what people agreed to: no new consent, no sign-off."""
    new = declarations()
    item(new, "uses", "seasonal-reminders")["fields"].remove("tyre_storage.season")
    for given in new["system"]["access"]:
        if "seasonal-reminders" in given["for"] and "tyre_storage.season" in given["read"]:
            given["read"].remove("tyre_storage.season")
    diff = _review(new)
    assert not diff.section(Section.CONSENT)
    assert _find(diff, "uses:seasonal-reminders:fields-changed").sign_off is None


def test_a_consent_based_use_that_needs_more_data_needs_new_consent() -> None:
    """A consent-based use taking a field it did not before is a new ask."""
    new = declarations()
    item(new, "uses", "seasonal-reminders")["fields"].append("vehicle.model")
    consent = _find(_review(new), "consent:seasonal-reminders:new-consent")
    assert "it now also uses vehicle.model" in consent.summary


def test_a_use_moved_onto_consent_has_nobody_s_consent() -> None:
    """A use that rested on legitimate interests and now on consent starts with no consents."""
    new = declarations()
    use = item(new, "uses", "customer-feedback")
    use["legal_basis"] = "consent"
    use.pop("legitimate_interest_assessment", None)
    use["consent_valid_for"] = "P1Y"
    diff = compare(strategy(declarations()), strategy(new))
    assert "nobody has consented" in _find(diff, "consent:customer-feedback:new-consent").summary
    basis = _find(diff, "uses:customer-feedback:legal-basis-changed")
    assert basis.sign_off is not None and "EDPB Guidelines 05/2020" in basis.sign_off


def test_a_new_use_needs_sign_off_and_a_removed_one_does_not() -> None:
    """A new purpose is reviewed; a removed one is reported with the fields no use holds."""
    new = declarations()
    new["uses"].append(
        {
            "id": "tyre-offers",
            "description": "Rengastarjoukset tekstiviestillä.",
            "serves": ["keep-customers"],
            "kind": "direct_marketing",
            "legal_basis": "consent",
            "consent_valid_for": "P1Y",
            "data_subjects": ["customer"],
            "fields": ["customer.phone", "vehicle.tyre_size"],
            "retention": "P1Y",
        }
    )
    item(new, "sources", "booking-form")["consent_for"].append("tyre-offers")
    diff = _review(new)
    added = _find(diff, "uses:tyre-offers:added")
    assert added.sign_off is not None and "Art. 6(4)" in added.sign_off
    assert "consent" in added.sign_off
    assert "booking-form" in _find(diff, "consent:tyre-offers:consent-needed").summary
    removed = _find(compare(strategy(new), strategy(declarations())), "uses:tyre-offers:removed")
    assert removed.sign_off is None
    assert "consents recorded for it no longer allow anything" in removed.summary


# ── recipients and transfers ─────────────────────────────────────────────────────────────────


def test_a_new_recipient_outside_the_eea_is_a_transfer_that_needs_sign_off() -> None:
    """Data going to a US processor names Chapter V and its safeguard, and asks for consent
    again where the use rests on consent."""
    new = declarations()
    new["processors"].append(
        {
            "id": "ad-platform",
            "name": "AdCorp Inc",
            "country": "US",
            "dpa_signed": "2026-01-10",
            "transfer_safeguard": "standard_contractual_clauses",
        }
    )
    item(new, "uses", "seasonal-reminders")["recipients"].append("ad-platform")
    diff = _review(new)
    transfer = _find(diff, "recipients:ad-platform:new-transfer")
    assert "outside the EEA" in transfer.summary and "seasonal-reminders" in transfer.summary
    assert transfer.sign_off is not None
    assert "Art. 44-49" in transfer.sign_off and "standard contractual clauses" in transfer.sign_off
    assert "Art. 28(3)" in transfer.sign_off
    consent = _find(diff, "consent:seasonal-reminders:new-consent")
    assert "ad-platform (US)" in consent.summary


def test_a_new_recipient_inside_the_eea_is_no_transfer() -> None:
    """A Swedish processor needs a processing agreement, not a transfer safeguard."""
    new = declarations()
    new["processors"].append(
        {"id": "print-house", "name": "Tryck AB", "country": "SE", "dpa_signed": "2026-02-01"}
    )
    item(new, "uses", "service-history")["recipients"].append("print-house")
    recipient = _find(_review(new), "recipients:print-house:new-recipient")
    assert recipient.sign_off is not None and "Art. 28(3)" in recipient.sign_off
    assert "outside the EEA" not in recipient.sign_off


def test_a_processor_moving_out_of_the_eea_needs_sign_off() -> None:
    """The mailer moving from Ireland to the US takes its recipients' data out of the EEA."""
    new = declarations()
    mailer = item(new, "processors", "mailer")
    mailer["country"] = "US"
    mailer["transfer_safeguard"] = "standard_contractual_clauses"
    changed = _find(_review(new), "recipients:mailer:changed")
    assert changed.sign_off is not None and "now leaves the EEA" in changed.sign_off


# ── retention ────────────────────────────────────────────────────────────────────────────────


def test_longer_retention_needs_sign_off_and_shorter_does_not() -> None:
    """Keeping data longer is the DPO's call (Art. 5(1)(e)); keeping it shorter is not."""
    new = declarations()
    item(new, "uses", "service-history")["retention"] = "P5Y"
    item(new, "uses", "tyre-hotel")["retention"] = "P6M"
    diff = _review(new)
    longer = _find(diff, "retention:service-history:longer")
    assert longer.old == "P3Y" and longer.new == "P5Y"
    assert longer.sign_off is not None and "Art. 5(1)(e)" in longer.sign_off
    shorter = _find(diff, "retention:tyre-hotel:shorter")
    assert shorter.sign_off is None and "retention run" in shorter.summary
    kept = [c for c in diff.section(Section.RETENTION) if c.kind == "fields-kept"]
    assert any("customer.email" in c.summary and c.new == "P5Y" for c in kept)


# ── access ───────────────────────────────────────────────────────────────────────────────────


def test_a_row_filter_removed_widens_access() -> None:
    """Mechanics of Espoo seeing every branch's customers needs the DPO."""
    new = declarations()
    grant(new, "mechanic", "service-history").pop("rows")
    widened = _find(_review(new), "access:mechanic/service-history:widened")
    assert "sees every row" in widened.summary and "customer.branch" in widened.summary
    assert widened.sign_off is not None and "Art. 5(1)(c), 25(2)" in widened.sign_off


def test_masked_to_clear_widens_and_a_field_taken_away_narrows() -> None:
    """Reading a name in clear that was masked widens; losing a field only narrows."""
    new = declarations()
    reminders = grant(new, "marketing", "seasonal-reminders")
    reminders["masked"].remove("customer.name")
    reminders["read"].append("customer.name")
    feedback = grant(new, "marketing", "customer-feedback")
    feedback["read"].remove("visit.feedback_text")
    feedback["write"].remove("visit.feedback_text")
    diff = _review(new)
    widened = _find(diff, "access:marketing/seasonal-reminders:widened")
    assert "read (was seen masked): customer.name" in widened.summary
    narrowed = _find(diff, "access:marketing/customer-feedback:narrowed")
    assert narrowed.sign_off is None
    assert "denied (was read): visit.feedback_text" in narrowed.summary


def test_a_new_duty_widens_what_a_role_may_do() -> None:
    """Giving marketing the reidentify duty needs the DPO."""
    new = declarations()
    item(new, "roles", "marketing")["duties"] = ["reidentify"]
    duty = _find(_review(new), "access:marketing:duties-widened")
    assert duty.sign_off is not None and "reidentify" in duty.summary


# ── the privacy notice ───────────────────────────────────────────────────────────────────────


def test_a_notice_that_must_change_but_keeps_its_id_is_a_finding() -> None:
    """A longer retention changes what the notice says; the sources still show the old id."""
    new = declarations()
    item(new, "uses", "service-history")["retention"] = "P5Y"
    stale = _find(_review(new), "notice:privacy-notice-2026-01:must-change")
    assert "the retention of service-history" in stale.summary
    assert "booking-form" in stale.summary and "service-desk" in stale.summary
    assert stale.sign_off is not None and "Art. 12(1), 13, 14" in stale.sign_off
    assert stale.old == {"the retention of service-history": "P3Y"}


def test_a_new_notice_id_on_every_source_settles_the_notice() -> None:
    """With the notice version bumped everywhere, the notice is reported without sign-off."""
    new = declarations()
    item(new, "uses", "service-history")["retention"] = "P5Y"
    for source in new["sources"]:
        source["notice"] = "privacy-notice-2026-06"
    notice = _review(new).section(Section.NOTICE)
    assert [c.id for c in notice] == ["notice:privacy-notice-2026-06:new-version"]
    assert notice[0].sign_off is None


def test_a_change_the_notice_does_not_tell_keeps_the_notice() -> None:
    """Access grants are not in the notice: no notice finding for them."""
    new = declarations()
    grant(new, "mechanic", "service-history").pop("rows")
    assert _review(new).section(Section.NOTICE) == []


# ── RoPA, migration, DPIA ────────────────────────────────────────────────────────────────────


def test_the_ropa_rows_that_change_are_named_with_their_columns() -> None:
    """A retention change shows up in the RoPA row of its use, old and new value."""
    new = declarations()
    item(new, "uses", "service-history")["retention"] = "P5Y"
    row = _find(_review(new), "ropa:service-history:row-changed")
    assert row.old["retention"] == "P3Y" and row.new["retention"] == "P5Y"


def test_a_migration_with_a_destructive_step_needs_sign_off() -> None:
    """Dropping a field drops a column (destructive); adding one adds a column (not)."""
    new = drop_field(declarations(), "vehicle.model_year")
    new["system"]["entities"]["vehicle"]["fields"]["colour"] = {
        "type": "string",
        "category": "descriptive",
    }
    item(new, "uses", "service-history")["fields"].append("vehicle.colour")
    item(new, "sources", "service-desk")["collects"].append("vehicle.colour")
    diff = _review(new)
    dropped = _find(diff, "migration:vehicle.model_year:drop-column")
    assert dropped.sign_off is not None and "--allow-destructive" in dropped.sign_off
    assert _find(diff, "migration:vehicle.colour:add-column").sign_off is None


def test_a_type_change_that_may_lose_values_is_destructive() -> None:
    """Work notes from text to an integer would refuse or lose values: destructive."""
    new = declarations()
    new["system"]["entities"]["visit"]["fields"]["work_notes"]["type"] = "integer"
    steps = _review(new).section(Section.MIGRATION)
    assert [s.kind for s in steps] == ["alter-column"]
    assert steps[0].sign_off is not None


def test_a_use_that_newly_needs_a_dpia_needs_sign_off() -> None:
    """Profiling with automated decisions meets two WP248 criteria: a DPIA is now required."""
    new = declarations()
    use = item(new, "uses", "service-quality-analytics")
    use["kind"] = "profiling"
    use["automated_decision_making"] = True
    dpia = _find(
        compare(strategy(declarations()), strategy(new)),
        "dpia:service-quality-analytics:now-required",
    )
    assert "evaluation_scoring" in dpia.summary and "automated_decision" in dpia.summary
    assert dpia.sign_off is not None and "Art. 35(1)" in dpia.sign_off


# ── the written review ───────────────────────────────────────────────────────────────────────


def test_the_markdown_lists_what_needs_sign_off_first_then_every_section() -> None:
    """A pull request reader sees the sign-offs numbered, then each section, "No change."
    where nothing changed."""
    new = declarations()
    item(new, "uses", "service-history")["retention"] = "P5Y"
    text = to_markdown(_review(new))
    assert text.startswith("# Strategy review: `OLD` → `NEW`\n")
    assert "**2 findings need the data protection officer's sign-off.**" in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Needs the DPO's sign-off",
        "## Fields held and collected",
        "## Uses and purposes",
        "## Consent",
        "## Recipients and transfers",
        "## Retention",
        "## Access",
        "## Privacy notice",
        "## Record of processing (RoPA)",
        "## Database migration",
        "## DPIA screening",
    ]
    assert "1. **Retention, service-history**" in text
    assert "(`retention:service-history:longer`)" in text
    assert "- **sign-off 2** what the privacy notice must say changed" in text
    assert text.count("No change.") == 7


def test_the_json_names_the_findings_that_need_sign_off() -> None:
    """Tools read the ids of what needs sign-off and every change with its reason."""
    new = declarations()
    grant(new, "mechanic", "service-history").pop("rows")
    document = json.loads(to_json(_review(new)))
    assert document["needs_sign_off"] is True
    assert document["sign_off"] == ["access:mechanic/service-history:widened"]
    change = document["changes"][0]
    assert change["section"] == "access" and change["needs_sign_off"] is True
    assert change["old"]["holds"] is True


def test_a_review_with_nothing_to_sign_says_so() -> None:
    """Only narrowing: the review says nobody needs to sign."""
    new = declarations()
    item(new, "uses", "tyre-hotel")["retention"] = "P6M"
    for source in new["sources"]:
        source["notice"] = "privacy-notice-2026-06"
    diff = _review(new)
    assert diff.needs_sign_off == []
    assert "**Nothing here needs the data protection officer's sign-off.**" in to_markdown(diff)


# ── reading the sides ────────────────────────────────────────────────────────────────────────


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose history holds the bundled strategy, then a change of the
    reminders' purpose in the working tree's last commit."""
    root = tmp_path / "repo"
    write_strategy(declarations(), root / "strategy")
    git(root.parent, "init", "--quiet", str(root))
    git(root, "add", "strategy")
    git(root, "commit", "--quiet", "-m", "the strategy as it is")
    changed = declarations()
    item(changed, "uses", "seasonal-reminders")["description"] = (
        "Muistutukset ja kumppanien tarjoukset."
    )
    write_strategy(changed, root / "strategy")
    git(root, "commit", "--quiet", "-am", "reminders carry partners' offers")
    return root


def test_a_git_revision_is_read_into_a_temporary_directory(repo: Path) -> None:
    """HEAD~1:strategy is the strategy before the last commit; it is gone after the review."""
    commit = git(repo, "rev-parse", "--short", "HEAD~1").strip()
    with open_side("HEAD~1:strategy", side="OLD", repo=repo) as old:
        assert old.label == f"HEAD~1:strategy ({commit})"
        assert old.path != repo / "strategy"
        before = load_strategy(old.path).strategy
        kept = old.path
    assert not kept.exists()
    assert before is not None
    after = load_strategy(repo / "strategy").strategy
    assert after is not None
    diff = compare(before, after)
    assert "consent:seasonal-reminders:new-consent" in _ids(diff)


def test_a_single_strategy_file_in_a_revision_is_read_too(repo: Path) -> None:
    """REV:PATH may name one file."""
    with open_side("HEAD:strategy/strategy.yaml", side="NEW", repo=repo) as new:
        assert new.path.name == "strategy.yaml"
        assert load_strategy(new.path).strategy is not None


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no-such-rev:strategy", "git knows no revision 'no-such-rev'"),
        ("HEAD:no-such-dir", "has no 'no-such-dir'; the path after the colon is from the"),
        ("no-such-dir", "no such directory or file; give a strategy directory"),
        (":strategy", "write the revision before the colon"),
    ],
)
def test_a_side_that_cannot_be_read_says_which_and_what_to_do(
    repo: Path, spec: str, says: str
) -> None:
    """Errors name the side and what to write instead."""
    with pytest.raises(DiffInputError) as caught, open_side(spec, side="OLD", repo=repo):
        pass
    assert caught.value.message.startswith(f"OLD ({spec}): ")
    assert says in caught.value.message
    assert caught.value.context == {"side": "OLD", "spec": spec}


def test_a_revision_outside_a_repository_asks_for_one(tmp_path: Path) -> None:
    """A REV:PATH with no repository around says to run in one or give --repo."""
    with (
        pytest.raises(DiffInputError, match=r"not inside a git repository.*--repo DIR"),
        open_side("HEAD:strategy", side="NEW", repo=tmp_path),
    ):
        pass
