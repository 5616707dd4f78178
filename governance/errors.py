"""The errors of the governance registers, a family under the project's root error.

    TietotieError                      kernel.errors: the root
    └── GovernanceError                governance: a register cannot do what was asked
        ├── BreachError                the breach register: bad input (scope, period, time)
        └── BreachNotFound             no breach with that id in the register (404)

Each carries the parameter it is about in ``context`` (``field="scope"``), so the CLI and the
HTTP error body name it.
"""

from __future__ import annotations

from kernel.errors import TietotieError

__all__ = ["BreachError", "BreachNotFound", "GovernanceError"]


class GovernanceError(TietotieError):
    """A governance register cannot do what was asked."""

    code = "governance_error"
    status = 422


class BreachError(GovernanceError):
    """A breach cannot be recorded or changed as asked: the message says what to give."""

    code = "breach_refused"
    status = 422


class BreachNotFound(GovernanceError):
    """No breach with that id in the register."""

    code = "not_found"
    status = 404
