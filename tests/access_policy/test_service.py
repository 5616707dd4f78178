"""Compiling the system step's access into a policy, and asking it questions."""

from __future__ import annotations

import pytest

from access_policy import (
    Action,
    Decision,
    DecisionEvent,
    Policy,
    check_purpose,
    compile_policy,
    policy_for,
    view_record,
)
from kernel.errors import AccessDenied, PolicyError, UnknownReference
from schemas import Strategy


def test_read_grants_allow_masked_grants_mask_and_the_rest_is_denied(minimal_policy: Policy):
    p = minimal_policy
    assert p.decide("owner", "customer.email", "reminders", "read") is Decision.ALLOW
    assert p.decide("owner", "customer.name", "reminders", "read") is Decision.MASK
    assert p.decide("owner", "customer.phone", "reminders", "read") is Decision.DENY
    assert p.decide("owner", "customer.email", "reminders", "write") is Decision.DENY


def test_entity_star_grants_every_field_of_the_entity(minimal_policy: Policy):
    p = minimal_policy
    for ref in ("vehicle.plate", "vehicle.tyre_type", "visit.visited_at", "visit.amount_eur"):
        assert p.decide("clerk", ref, "service", "read") is Decision.ALLOW, ref
    for ref in ("visit.visited_at", "visit.amount_eur"):
        assert p.decide("clerk", ref, "service", "write") is Decision.ALLOW, ref
    assert p.decide("clerk", "vehicle.plate", "service", "write") is Decision.DENY


def test_actions_as_enum_members_and_as_plain_strings_decide_alike(minimal_policy: Policy):
    p = minimal_policy
    assert p.decide("clerk", "visit.amount_eur", "service", Action.WRITE) is Decision.ALLOW
    assert p.decide("clerk", "visit.amount_eur", "service", "write") is Decision.ALLOW


def test_unknown_names_and_actions_are_denied_not_raised(minimal_policy: Policy):
    p = minimal_policy
    assert p.decide("intruder", "customer.email", "reminders", "read") is Decision.DENY
    assert p.decide("owner", "customer.shoe_size", "reminders", "read") is Decision.DENY
    assert p.decide("owner", "customer.email", "spam", "read") is Decision.DENY
    assert p.decide("owner", "customer.email", "reminders", "delete") is Decision.DENY


def test_a_grant_outside_the_uses_fields_is_denied_by_purpose_limitation(variant):
    """Whatever a grant says, a field the use does not need is denied for that use."""
    s = variant(
        "5-system.yaml",
        "read: [customer.email, vehicle.tyre_type, visit.visited_at]",
        "read: [customer.email, customer.phone, vehicle.tyre_type, visit.visited_at]",
    )
    p = compile_policy(s)
    assert p.decide("owner", "customer.phone", "reminders", "read") is Decision.DENY
    assert "purpose limitation" in p.explain("owner", "customer.phone", "reminders", "read")


def test_a_field_read_in_one_grant_and_masked_in_another_is_read_in_clear(variant):
    s = variant(
        "5-system.yaml",
        "  access:\n",
        "  access:\n    - {role: owner, for: [reminders], read: [customer.name]}\n",
    )
    p = compile_policy(s)
    assert p.decide("owner", "customer.name", "reminders", "read") is Decision.ALLOW


def test_row_filters_of_all_grants_for_a_use_must_all_hold(variant):
    s = variant(
        "5-system.yaml",
        "  access:\n",
        "  access:\n    - {role: clerk, for: [service], read: [customer.branch], "
        "rows: [{field: customer.branch, op: ne, value: vantaa}]}\n",
    )
    p = compile_policy(s)
    said = [(c.field, str(c.op), c.value) for c in p.row_filters("clerk", "service")]
    assert said == [("customer.branch", "ne", "vantaa"), ("customer.branch", "eq", "espoo")]


def test_grants_for_undeclared_roles_or_uses_grant_nothing(variant):
    s = variant("5-system.yaml", "{role: owner, for: [reminders]", "{role: boss, for: [reminders]")
    p = compile_policy(s)
    assert p.decide("boss", "customer.email", "reminders", "read") is Decision.DENY
    assert not p.holds("owner", "reminders")
    assert p.roles_for("reminders") == frozenset()


def test_holds_roles_for_readable_and_writable_answer_per_use(minimal_policy: Policy):
    p = minimal_policy
    assert p.holds("clerk", "service") and not p.holds("clerk", "reminders")
    assert p.roles_for("service") == {"clerk"}
    assert p.readable("owner", "reminders") == {
        "customer.email",
        "customer.name",
        "vehicle.tyre_type",
        "visit.visited_at",
    }
    assert p.visible("owner", "reminders")["customer.name"] is Decision.MASK
    assert p.writable("clerk", "service") == {"visit.visited_at", "visit.amount_eur"}
    assert p.held_uses("owner") == ("reminders",)
    assert [str(c.op) for c in p.row_filters("clerk", "service")] == ["eq"]
    assert p.row_filters("owner", "reminders") == []


def test_check_purpose_refuses_a_purpose_the_role_does_not_hold(minimal_policy: Policy):
    with pytest.raises(PolicyError, match="'clerk' does not hold the purpose 'reminders'") as e:
        check_purpose(minimal_policy, role="clerk", use="reminders")
    assert "it holds: service" in str(e.value)
    assert e.value.context["article"] == "Art. 5(1)(b)"
    check_purpose(minimal_policy, role="clerk", use="service")  # held: no error


def test_unknown_names_are_refused_with_the_closest_declared_name(minimal_policy: Policy):
    with pytest.raises(UnknownReference, match="unknown role 'clerc'; did you mean 'clerk'"):
        minimal_policy.require_known(role="clerc")
    with pytest.raises(UnknownReference, match=r"unknown field 'customer\.mail'"):
        minimal_policy.require_known(field="customer.mail")
    with pytest.raises(UnknownReference, match="unknown use 'reminder'; did you mean"):
        minimal_policy.check_purpose("owner", "reminder")


def test_require_raises_access_denied_and_returns_mask_or_allow(minimal_policy: Policy):
    p = minimal_policy
    assert p.require("owner", "customer.name", "reminders", "read") is Decision.MASK
    with pytest.raises(AccessDenied, match=r"owner may not write customer\.email for reminders"):
        p.require("owner", "customer.email", "reminders", "write")
    with pytest.raises(PolicyError, match="does not hold the purpose"):
        p.require("owner", "customer.email", "service", "read")


def test_only_denials_and_masks_reach_the_audit_sink(minimal_policy: Policy):
    events: list[DecisionEvent] = []
    p = minimal_policy
    assert (
        p.decide_audited("owner", "customer.email", "reminders", "read", sink=events.append)
        is Decision.ALLOW
    )
    assert (
        p.decide_audited(
            "owner", "customer.name", "reminders", "read", sink=events.append, subject_id="s-1"
        )
        is Decision.MASK
    )
    assert (
        p.decide_audited("owner", "customer.phone", "reminders", "read", sink=events.append)
        is Decision.DENY
    )
    assert [(e.field, e.decision) for e in events] == [
        ("customer.name", Decision.MASK),
        ("customer.phone", Decision.DENY),
    ]
    assert events[0].subject_id == "s-1"
    assert "listed" in events[0].reason or "lists" in events[0].reason
    assert set(events[1].model_dump()) == {
        "role",
        "field",
        "use",
        "action",
        "decision",
        "reason",
        "subject_id",
        "at",
    }


def test_explanations_name_the_grant_or_its_absence(minimal_policy: Policy):
    p = minimal_policy
    assert p.explain("owner", "customer.name", "reminders", "read") == (
        "the grant of owner for reminders lists customer.name under masked"
    )
    assert p.explain("clerk", "customer.email", "reminders", "read").startswith(
        "clerk does not hold the use reminders"
    )
    assert p.explain("clerk", "customer.email", "service", "read") == (
        "no grant of clerk for service lists customer.email under read or masked"
    )
    assert "not declared" in p.explain("ghost", "customer.email", "service", "read")


def test_matrix_rows_cover_every_held_use_and_its_fields(minimal_policy: Policy):
    rows = minimal_policy.matrix_rows()
    assert {(r.role, r.use) for r in rows} == {("clerk", "service"), ("owner", "reminders")}
    owner = {r.field: (r.read, r.write) for r in rows if r.role == "owner"}
    assert owner == {
        "customer.email": (Decision.ALLOW, Decision.DENY),
        "customer.name": (Decision.MASK, Decision.DENY),
        "vehicle.tyre_type": (Decision.ALLOW, Decision.DENY),
        "visit.visited_at": (Decision.ALLOW, Decision.DENY),
    }
    clerk = [r.field for r in rows if r.role == "clerk"]
    assert clerk[:2] == ["customer.email", "customer.name"]  # declaration order
    assert len(clerk) == 9


def test_policy_for_compiles_once_per_strategy_object(minimal: Strategy):
    assert policy_for(minimal) is policy_for(minimal)


def test_view_record_shows_allowed_masks_masked_and_drops_denied(
    minimal_policy: Policy, minimal: Strategy
):
    events: list[DecisionEvent] = []
    record = {
        "id": "c1",
        "email": "anna@example.fi",
        "name": "Anna Aalto",
        "phone": "+358401234567",
    }
    seen = view_record(
        minimal_policy,
        record,
        role="owner",
        use="reminders",
        entity="customer",
        specs=minimal.index.fields,
        sink=events.append,
    )
    assert seen == {
        "id": "c1",
        "email": "anna@example.fi",
        "name": {"masked": True, "value": "A. A."},
    }
    assert {e.field for e in events} == {"customer.name", "customer.phone"}


def test_view_record_refuses_a_purpose_not_held(minimal_policy: Policy, minimal: Strategy):
    with pytest.raises(PolicyError, match="does not hold the purpose 'service'"):
        view_record(
            minimal_policy,
            {"email": "a@b.fi"},
            role="owner",
            use="service",
            entity="customer",
            specs=minimal.index.fields,
        )


def test_the_bundled_auditor_sees_kept_invoices_without_names(bundled_policy: Policy):
    p = bundled_policy
    assert p.decide("auditor", "visit.amount_eur", "bookkeeping", "read") is Decision.ALLOW
    assert p.decide("auditor", "customer.name", "bookkeeping", "read") is Decision.MASK
    assert p.decide("auditor", "customer.street_address", "bookkeeping", "read") is Decision.DENY


def test_policy_repr_says_its_size(minimal_policy: Policy):
    assert repr(minimal_policy).startswith("Policy(2 roles, 3 uses, 9 fields")
