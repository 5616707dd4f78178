"""The auditors' Gherkin step vocabulary (DESIGN §6) as pytest-bdd step definitions.

These steps always work, in a Scenario or a Scenario Outline with an Examples table::

    Given the role "marketing"
    When it reads "customer.email" for "seasonal-reminders"
    When it writes "visit.amount_eur" for "seasonal-reminders"
    Then access is allowed                     # allowed | masked | denied

and, beyond DESIGN §6::

    Then it holds the purpose "seasonal-reminders"
    Then it does not hold the purpose "bookkeeping"
    Then its rows for "service-history" are limited to "customer.branch" eq "espoo"
    Then its rows for "seasonal-reminders" are not limited

A role, field or use the strategy does not declare fails the scenario with a message naming
it. The steps need a fixture ``access_policy`` (a :class:`~access_policy.service.Policy`);
call :func:`define_access_steps` in a conftest or test module to make them available there.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_bdd import given, parsers, then, when

from access_policy.models import Action, Decision
from access_policy.service import Policy

__all__ = ["EXPECTED", "SAID", "AccessQuery", "CheckFailed", "define_access_steps"]

EXPECTED: dict[str, Decision] = {
    "allowed": Decision.ALLOW,
    "masked": Decision.MASK,
    "denied": Decision.DENY,
}
"""The words of ``Then access is …`` and the decisions they expect."""

SAID: dict[Decision, str] = {decision: word for word, decision in EXPECTED.items()}
"""How a decision is said in the auditors' language."""

_VERB = {Action.READ: "reads", Action.WRITE: "writes"}


class CheckFailed(AssertionError):
    """A scenario's expectation does not match the policy; the message says how.

    ``asked`` is what the scenario asked of the policy (``marketing reads customer.email for
    seasonal-reminders``), ``expected`` what the scenario expects and ``said`` what the policy
    answers, so reports can show each on its own line. A step worded outside the vocabulary
    carries only the message.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        asked: str | None = None,
        expected: str | None = None,
        said: str | None = None,
    ) -> None:
        self.asked, self.expected, self.said = asked, expected, said
        if message is None:
            message = f"{asked}: expected {expected}, policy says {said}"
        super().__init__(message)


@dataclass(frozen=True)
class AccessQuery:
    """What a ``When it reads|writes`` step asked, and what the policy answered."""

    role: str
    field: str
    use: str
    action: Action
    decision: Decision
    reason: str

    def __str__(self) -> str:
        return f"{self.role} {_VERB[self.action]} {self.field} for {self.use}"


def given_role(access_policy: Policy, role: str) -> str:
    """``Given the role "R"``: the role every later step speaks of."""
    access_policy.require_known(role=role)
    return role


def _ask(policy: Policy, role: str, field: str, use: str, action: Action) -> AccessQuery:
    policy.require_known(field=field, use=use)
    return AccessQuery(
        role=role,
        field=field,
        use=use,
        action=action,
        decision=policy.decide(role, field, use, action),
        reason=policy.explain(role, field, use, action),
    )


def when_reads(access_policy: Policy, access_role: str, field: str, use: str) -> AccessQuery:
    """``When it reads "entity.field" for "use"``."""
    return _ask(access_policy, access_role, field, use, Action.READ)


def when_writes(access_policy: Policy, access_role: str, field: str, use: str) -> AccessQuery:
    """``When it writes "entity.field" for "use"``."""
    return _ask(access_policy, access_role, field, use, Action.WRITE)


def then_access(access_query: AccessQuery, expected: str) -> None:
    """``Then access is allowed|masked|denied``."""
    want = EXPECTED.get(expected.strip())
    if want is None:
        raise CheckFailed(f"'Then access is {expected}': say allowed, masked or denied")
    if access_query.decision is not want:
        raise CheckFailed(
            asked=str(access_query),
            expected=expected.strip(),
            said=f"{SAID[access_query.decision]} ({access_query.reason})",
        )


def then_holds(access_policy: Policy, access_role: str, use: str) -> None:
    """``Then it holds the purpose "use"``."""
    access_policy.require_known(use=use)
    if not access_policy.holds(access_role, use):
        held = ", ".join(access_policy.held_uses(access_role)) or "none"
        raise CheckFailed(
            asked=f"{access_role} holds the purpose {use}",
            expected="yes",
            said=f"no (it holds: {held})",
        )


def then_does_not_hold(access_policy: Policy, access_role: str, use: str) -> None:
    """``Then it does not hold the purpose "use"``: such reads are refused, not widened."""
    access_policy.require_known(use=use)
    if access_policy.holds(access_role, use):
        raise CheckFailed(
            asked=f"{access_role} holds the purpose {use}",
            expected="no",
            said="yes (an access grant gives it that purpose)",
        )


def then_rows_limited(
    access_policy: Policy, access_role: str, use: str, field: str, op: str, value: str
) -> None:
    """``Then its rows for "use" are limited to "entity.field" OP "value"``."""
    access_policy.require_known(use=use, field=field)
    conditions = access_policy.row_filters(access_role, use)
    if not any(c.field == field and str(c.op) == op and _same(c.value, value) for c in conditions):
        said = "; ".join(f"{c.field} {c.op} {c.value}" for c in conditions) or "no row filter"
        raise CheckFailed(
            asked=f"rows of {access_role} for {use}", expected=f"{field} {op} {value}", said=said
        )


def then_rows_unlimited(access_policy: Policy, access_role: str, use: str) -> None:
    """``Then its rows for "use" are not limited``."""
    access_policy.require_known(use=use)
    conditions = access_policy.row_filters(access_role, use)
    if conditions:
        said = "; ".join(f"{c.field} {c.op} {c.value}" for c in conditions)
        raise CheckFailed(asked=f"rows of {access_role} for {use}", expected="no limit", said=said)


def _same(declared: object, written: str) -> bool:
    if isinstance(declared, list):
        return ", ".join(str(v) for v in declared) == written
    if isinstance(declared, bool):
        return str(declared).lower() == written.lower()
    return str(declared) == written


def define_access_steps(*, stacklevel: int = 1) -> None:
    """Make the auditors' steps available in the calling module (a conftest or test module).

    pytest-bdd finds step definitions as fixtures of the module they are defined in; this
    defines them in the module that calls it, so the CLI's generated test module and
    ``tests/features/conftest.py`` share one vocabulary.
    """
    level = stacklevel + 1
    q = '"{%s}"'
    given(parsers.parse(f"the role {q % 'role'}"), target_fixture="access_role", stacklevel=level)(
        given_role
    )
    for verb, func in (("reads", when_reads), ("writes", when_writes)):
        when(
            parsers.parse(f"it {verb} {q % 'field'} for {q % 'use'}"),
            target_fixture="access_query",
            stacklevel=level,
        )(func)
    then(parsers.parse("access is {expected}"), stacklevel=level)(then_access)
    then(parsers.parse(f"it holds the purpose {q % 'use'}"), stacklevel=level)(then_holds)
    then(parsers.parse(f"it does not hold the purpose {q % 'use'}"), stacklevel=level)(
        then_does_not_hold
    )
    then(
        parsers.parse(
            f"its rows for {q % 'use'} are limited to {q % 'field'} {{op}} {q % 'value'}"
        ),
        stacklevel=level,
    )(then_rows_limited)
    then(parsers.parse(f"its rows for {q % 'use'} are not limited"), stacklevel=level)(
        then_rows_unlimited
    )
