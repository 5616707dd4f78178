"""Properties of any compiled policy: deny by default, and no read beyond the declared access."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from access_policy import Decision, Policy, compile_policy
from schemas import Strategy

from .conftest import MINIMAL, load

_BASE = load(MINIMAL)
ROLES = [r.id for r in _BASE.roles]
USES = [u.id for u in _BASE.uses]
FIELDS = list(_BASE.index.fields)
REFS = FIELDS + [f"{e}.*" for e in _BASE.index.entities]
ACTIONS = ["read", "write"]

grants = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from([*ROLES, "ghost"]),
            "for": st.lists(
                st.sampled_from([*USES, "unheard-of"]), min_size=1, max_size=3, unique=True
            ),
            "read": st.lists(st.sampled_from(REFS), max_size=5, unique=True),
            "masked": st.lists(st.sampled_from(REFS), max_size=3, unique=True),
            "write": st.lists(st.sampled_from(REFS), max_size=3, unique=True),
        }
    ),
    max_size=6,
)


def with_access(access: list[dict[str, Any]]) -> Strategy:
    """The minimal strategy with its access grants replaced."""
    data = _BASE.model_dump(by_alias=True, exclude_none=True)
    data["system"]["access"] = access
    return Strategy.model_validate(data)


def declared(strategy: Strategy, role: str, field: str, use: str, action: str) -> Decision:
    """What the grants say, computed the slow and obvious way."""
    idx = strategy.index
    if role not in ROLES or field not in idx.use_fields.get(use, frozenset()):
        return Decision.DENY
    lists: dict[str, set[str]] = {"read": set(), "masked": set(), "write": set()}
    for grant in strategy.system.access:
        if grant.role == role and use in grant.for_:
            lists["read"] |= set(idx.expand(grant.read))
            lists["masked"] |= set(idx.expand(grant.masked))
            lists["write"] |= set(idx.expand(grant.write))
    if action == "write":
        return Decision.ALLOW if field in lists["write"] else Decision.DENY
    if action != "read":
        return Decision.DENY
    if field in lists["read"]:
        return Decision.ALLOW
    return Decision.MASK if field in lists["masked"] else Decision.DENY


questions = st.lists(
    st.tuples(
        st.sampled_from([*ROLES, "ghost", "nobody"]),
        st.sampled_from([*FIELDS, "customer.shoe_size", "x.y"]),
        st.sampled_from([*USES, "unheard-of"]),
        st.sampled_from([*ACTIONS, "delete", ""]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(access=grants, asked=questions)
def test_every_decision_is_what_the_grants_declare_and_the_rest_is_denied(access, asked):
    """Deny by default: random questions, including unknown names, get exactly the grant."""
    strategy = with_access(access)
    policy = compile_policy(strategy)
    for role, field, use, action in asked:
        decision = policy.decide(role, field, use, action)
        assert decision is declared(strategy, role, field, use, action), (role, field, use)
        if role not in ROLES or use not in USES or action not in ACTIONS:
            assert decision is Decision.DENY


@settings(max_examples=100, deadline=None)
@given(access=grants)
def test_no_role_ever_reads_a_field_outside_its_declared_access(access):
    strategy = with_access(access)
    policy = compile_policy(strategy)
    idx = strategy.index
    for role in ROLES:
        for use in USES:
            granted = set()
            for grant in strategy.system.access:
                if grant.role == role and use in grant.for_:
                    granted |= set(idx.expand([*grant.read, *grant.masked]))
            for field in FIELDS:
                if policy.decide(role, field, use, "read") is not Decision.DENY:
                    assert field in granted, (role, field, use)
                    assert field in idx.use_fields[use], (role, field, use)


def test_the_bundled_policy_reads_nothing_beyond_its_grants(bundled_policy: Policy, bundled):
    """Exhaustively over the bundled strategy: every readable cell is named by a grant."""
    idx = bundled.index
    readable = 0
    for role in bundled_policy.roles:
        for use in bundled_policy.uses:
            named = set()
            for grant in bundled.system.access:
                if grant.role == role and use in grant.for_:
                    named |= set(idx.expand([*grant.read, *grant.masked]))
            for field in bundled_policy.fields:
                decision = bundled_policy.decide(role, field, use, "read")
                if decision is not Decision.DENY:
                    readable += 1
                    assert field in named and field in idx.use_fields[use], (role, field, use)
    assert readable > 100  # the bundled strategy grants plenty: the loop really ran
