"""The access policy compiled from the system step's ``access``: decide, explain, enforce.

The strategy grants, per role and per use, fields to ``read``, ``write`` or see ``masked``.
:func:`compile_policy` turns that into a decision table keyed by (role, field, use, action)
that holds only what is granted; everything else is :attr:`Decision.DENY` (Art. 25(2)). A
field must also be among the ``fields`` of the use (purpose limitation, Art. 5(1)(b)) for
anything but deny, whatever a grant says. Grants are additive: where two grants of a role
for a use disagree, read in clear beats masked. Row filters of all the grants of a role for
a use must all hold (the narrower reading, when grants disagree).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from access_policy.masking import TokenFunction, mask_value, masked
from access_policy.models import Action, Decision, DecisionEvent, DecisionSink, MatrixRow
from kernel.errors import AccessDenied, PolicyError, UnknownReference
from schemas.models import Condition, FieldSpec, Strategy

__all__ = [
    "Grant",
    "Policy",
    "check_purpose",
    "compile_policy",
    "policy_for",
    "view_record",
]

_intern = sys.intern
_READ = _intern(Action.READ.value)
_WRITE = _intern(Action.WRITE.value)
_DENY = Decision.DENY


@dataclass(frozen=True)
class Grant:
    """What one role may do with the fields of one use, with ``entity.*`` expanded."""

    read: frozenset[str] = frozenset()
    masked: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    rows: tuple[Condition, ...] = field(default_factory=tuple)


class Policy:
    """A decision table role × field × use × action → allow | mask | deny; deny by default.

    Build one with :func:`compile_policy`. :meth:`decide` costs one dictionary lookup.
    """

    __slots__ = ("_fields", "_grants", "_holders", "_roles", "_table", "_use_fields", "_uses")

    def __init__(
        self,
        *,
        roles: Sequence[str],
        use_fields: Mapping[str, Iterable[str]],
        fields: Sequence[str],
        grants: Mapping[tuple[str, str], Grant],
    ) -> None:
        """Precompute the table from expanded grants; prefer :func:`compile_policy`."""
        self._roles: tuple[str, ...] = tuple(_intern(r) for r in roles)
        self._fields: tuple[str, ...] = tuple(_intern(f) for f in fields)
        order = {f: i for i, f in enumerate(self._fields)}
        self._use_fields: dict[str, tuple[str, ...]] = {
            _intern(use): tuple(
                sorted({_intern(f) for f in refs if f in order}, key=order.__getitem__)
            )
            for use, refs in use_fields.items()
        }
        self._uses: tuple[str, ...] = tuple(self._use_fields)
        known_roles = set(self._roles)
        self._grants: dict[tuple[str, str], Grant] = {
            (role, use): grant
            for (role, use), grant in grants.items()
            if role in known_roles and use in self._use_fields
        }
        holders: dict[str, set[str]] = {use: set() for use in self._uses}
        table: dict[tuple[str, str, str, str], Decision] = {}
        for (role, use), grant in self._grants.items():
            holders[use].add(role)
            role_i, use_i = _intern(role), _intern(use)
            allowed = set(self._use_fields[use])
            for ref in grant.masked & allowed:
                table[(role_i, _intern(ref), use_i, _READ)] = Decision.MASK
            for ref in grant.read & allowed:
                table[(role_i, _intern(ref), use_i, _READ)] = Decision.ALLOW
            for ref in grant.write & allowed:
                table[(role_i, _intern(ref), use_i, _WRITE)] = Decision.ALLOW
        self._holders: dict[str, frozenset[str]] = {u: frozenset(r) for u, r in holders.items()}
        self._table = table

    # ── the hot path ─────────────────────────────────────────────────────────────────────────

    def decide(self, role: str, field: str, use: str, action: str) -> Decision:
        """allow | mask | deny for ``role`` doing ``action`` (read, write) to ``field`` for ``use``.

        Unknown roles, fields, uses and actions are denied, like anything not granted.
        """
        return self._table.get((role, field, use, action), _DENY)

    def decide_audited(
        self,
        role: str,
        field: str,
        use: str,
        action: str,
        *,
        sink: DecisionSink,
        subject_id: str | None = None,
    ) -> Decision:
        """:meth:`decide`, and hand every deny or mask to ``sink`` as a :class:`DecisionEvent`."""
        decision = self._table.get((role, field, use, action), _DENY)
        if decision is not Decision.ALLOW:
            sink(self.event(role, field, use, action, decision=decision, subject_id=subject_id))
        return decision

    def event(
        self,
        role: str,
        field: str,
        use: str,
        action: str,
        *,
        decision: Decision,
        subject_id: str | None = None,
    ) -> DecisionEvent:
        """The audit event of one decision: ids and the reason, never a value."""
        return DecisionEvent(
            role=role,
            field=field,
            use=use,
            action=str(action),
            decision=decision,
            reason=self.explain(role, field, use, action),
            subject_id=subject_id,
        )

    # ── what the strategy declares ───────────────────────────────────────────────────────────

    @property
    def roles(self) -> tuple[str, ...]:
        """Role ids of organisation.yaml, in declaration order."""
        return self._roles

    @property
    def uses(self) -> tuple[str, ...]:
        """Use ids of the use step, in declaration order."""
        return self._uses

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field reference of the system step, in declaration order."""
        return self._fields

    def use_fields(self, use: str) -> tuple[str, ...]:
        """The fields a use needs (its purpose limitation), in declaration order."""
        return self._use_fields.get(use, ())

    def holds(self, role: str, use: str) -> bool:
        """Whether any access grant gives ``role`` the purpose ``use`` at all."""
        return role in self._holders.get(use, ())

    def held_uses(self, role: str) -> tuple[str, ...]:
        """The uses ``role`` holds, in declaration order."""
        return tuple(u for u in self._uses if role in self._holders[u])

    def roles_for(self, use: str) -> frozenset[str]:
        """The roles that hold ``use``."""
        return self._holders.get(use, frozenset())

    def readable(self, role: str, use: str) -> frozenset[str]:
        """Fields ``role`` may read for ``use``, in clear or masked."""
        return frozenset(
            f for f in self.use_fields(use) if self.decide(role, f, use, _READ) is not _DENY
        )

    def visible(self, role: str, use: str) -> dict[str, Decision]:
        """Field → allow | mask for every field ``role`` may read for ``use`` (denied left out)."""
        out: dict[str, Decision] = {}
        for f in self.use_fields(use):
            decision = self.decide(role, f, use, _READ)
            if decision is not _DENY:
                out[f] = decision
        return out

    def writable(self, role: str, use: str) -> frozenset[str]:
        """Fields ``role`` may write for ``use``."""
        return frozenset(
            f for f in self.use_fields(use) if self.decide(role, f, use, _WRITE) is not _DENY
        )

    def granted_fields(self, role: str) -> frozenset[str]:
        """Every field ``role`` may read, see masked or write for some use."""
        return frozenset(f for (r, f, _u, _a) in self._table if r == role)

    def row_filters(self, role: str, use: str) -> list[Condition]:
        """Conditions every row ``role`` sees for ``use`` must meet (all must hold)."""
        grant = self._grants.get((role, use))
        return list(grant.rows) if grant else []

    def grant(self, role: str, use: str) -> Grant | None:
        """The (merged, expanded) grant of ``role`` for ``use``, if it holds the use."""
        return self._grants.get((role, use))

    def matrix_rows(self) -> list[MatrixRow]:
        """Every role × held use × field of that use, with the read and write decision."""
        return [
            row
            for role in self._roles
            for use in self.held_uses(role)
            for row in self.matrix_rows_for(role, use)
        ]

    def matrix_rows_for(self, role: str, use: str) -> list[MatrixRow]:
        """The matrix rows of one role and use: every field of the use (none if not held)."""
        if not self.holds(role, use):
            return []
        return [
            MatrixRow(
                role, use, f, self.decide(role, f, use, _READ), self.decide(role, f, use, _WRITE)
            )
            for f in self._use_fields[use]
        ]

    # ── questions with reasons, and enforcement ──────────────────────────────────────────────

    def require_known(
        self,
        *,
        role: str | None = None,
        field: str | None = None,
        use: str | None = None,
    ) -> None:
        """Raise :class:`UnknownReference` naming any role, field or use the strategy lacks."""
        for kind, value, known in (
            ("role", role, self._roles),
            ("field", field, self._fields),
            ("use", use, self._uses),
        ):
            if value is not None and value not in known:
                raise UnknownReference(_unknown_message(kind, value, known), **{kind: value})

    def explain(self, role: str, field: str, use: str, action: str) -> str:
        """Why the policy decides as it does, in one sentence an auditor can check."""
        for kind, value, known in (
            ("role", role, self._roles),
            ("field", field, self._fields),
            ("use", use, self._uses),
        ):
            if value not in known:
                return f"denied by default: {kind} {value!r} is not declared in the strategy"
        if action not in (_READ, _WRITE):
            return f"denied by default: {action!r} is neither read nor write"
        grant = self._grants.get((role, use))
        if grant is None:
            return f"{role} does not hold the use {use}: no access grant gives it that purpose"
        if field not in self._use_fields[use]:
            return f"{field} is not among the fields of {use} (purpose limitation, Art. 5(1)(b))"
        if action == _WRITE:
            if field in grant.write:
                return f"the grant of {role} for {use} lists {field} under write"
            return f"no grant of {role} for {use} lists {field} under write"
        if field in grant.read:
            return f"the grant of {role} for {use} lists {field} under read"
        if field in grant.masked:
            return f"the grant of {role} for {use} lists {field} under masked"
        return f"no grant of {role} for {use} lists {field} under read or masked"

    def check_purpose(self, role: str, use: str) -> None:
        """Refuse a purpose the role does not hold, rather than widen it (Art. 5(1)(b))."""
        self.require_known(role=role, use=use)
        if not self.holds(role, use):
            held = ", ".join(self.held_uses(role)) or "none"
            raise PolicyError(
                f"role {role!r} does not hold the purpose {use!r}; it holds: {held}. "
                "State a purpose the role is granted in 5-system.yaml access",
                role=role,
                use=use,
                article="Art. 5(1)(b)",
            )

    def require(
        self,
        role: str,
        field: str,
        use: str,
        action: str,
        *,
        sink: DecisionSink | None = None,
        subject_id: str | None = None,
    ) -> Decision:
        """Allow or mask, or raise: unknown names, a purpose not held, or a denial.

        Raises :class:`UnknownReference`, :class:`PolicyError` (purpose not held) or
        :class:`AccessDenied`; a denial or mask goes to ``sink`` first when one is given.
        """
        self.require_known(role=role, field=field, use=use)
        self.check_purpose(role, use)
        decision = self.decide(role, field, use, action)
        if sink is not None and decision is not Decision.ALLOW:
            sink(self.event(role, field, use, action, decision=decision, subject_id=subject_id))
        if decision is _DENY:
            raise AccessDenied(
                f"{role} may not {action} {field} for {use}: "
                f"{self.explain(role, field, use, action)}",
                role=role,
                field=field,
                use=use,
                action=action,
            )
        return decision

    def __repr__(self) -> str:
        return (
            f"Policy({len(self._roles)} roles, {len(self._uses)} uses, "
            f"{len(self._fields)} fields, {len(self._table)} grants of access)"
        )


def _unknown_message(kind: str, value: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
    return f"unknown {kind} {value!r}{hint} The strategy declares: {listed}"


def compile_policy(strategy: Strategy) -> Policy:
    """Compile the system step's ``access`` into a :class:`Policy` (deny by default)."""
    idx = strategy.index
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for grant in strategy.system.access:
        read = frozenset(idx.expand(grant.read))
        masked = frozenset(idx.expand(grant.masked))
        write = frozenset(idx.expand(grant.write))
        for use in grant.for_:
            slot = merged.setdefault(
                (grant.role, use), {"read": set(), "masked": set(), "write": set(), "rows": []}
            )
            slot["read"] |= read
            slot["masked"] |= masked
            slot["write"] |= write
            slot["rows"].extend(grant.rows)
    grants = {
        key: Grant(
            read=frozenset(s["read"]),
            masked=frozenset(s["masked"] - s["read"]),
            write=frozenset(s["write"]),
            rows=tuple(s["rows"]),
        )
        for key, s in merged.items()
    }
    return Policy(
        roles=[r.id for r in strategy.roles],
        use_fields={u: idx.use_fields[u] for u in idx.uses},
        fields=list(idx.fields),
        grants=grants,
    )


_POLICIES: dict[int, tuple[Strategy, Policy]] = {}
_POLICY_CACHE_SIZE = 8


def policy_for(strategy: Strategy) -> Policy:
    """The compiled policy of a loaded strategy, compiled once per strategy object."""
    hit = _POLICIES.get(id(strategy))
    if hit is not None and hit[0] is strategy:
        return hit[1]
    policy = compile_policy(strategy)
    if len(_POLICIES) >= _POLICY_CACHE_SIZE:
        _POLICIES.pop(next(iter(_POLICIES)))
    _POLICIES[id(strategy)] = (strategy, policy)
    return policy


def check_purpose(policy: Policy, *, role: str, use: str) -> None:
    """Raise :class:`PolicyError` when ``role`` does not hold ``use``: refused, never widened."""
    policy.check_purpose(role, use)


def view_record(
    policy: Policy,
    record: Mapping[str, Any],
    *,
    role: str,
    use: str,
    entity: str,
    specs: Mapping[str, FieldSpec],
    token: TokenFunction | None = None,
    sink: DecisionSink | None = None,
    subject_id: str | None = None,
) -> dict[str, Any]:
    """What ``role`` sees of one ``entity`` record for ``use``: the policy applied to every field.

    ``record`` maps field names to values (keys that are not fields of the entity, such as
    ``id``, pass through). Fields allowed in clear keep their value, masked fields become
    ``{"masked": true, "value": …}``, denied fields are left out. A purpose the role does not
    hold raises :class:`PolicyError`. Each mask or denial goes to ``sink`` (no values).
    """
    policy.check_purpose(role, use)
    out: dict[str, Any] = {}
    for name, value in record.items():
        ref = f"{entity}.{name}"
        spec = specs.get(ref)
        if spec is None:
            out[name] = value
            continue
        decision = (
            policy.decide_audited(role, ref, use, _READ, sink=sink, subject_id=subject_id)
            if sink is not None
            else policy.decide(role, ref, use, _READ)
        )
        if decision is Decision.ALLOW:
            out[name] = value
        elif decision is Decision.MASK:
            out[name] = masked(mask_value(spec, value, token=token))
    return out
