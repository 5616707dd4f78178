"""Access policies compiled from the strategy: decide, mask, filter rows; auditors' checks.

Importing this package imports neither pytest nor pytest-bdd: the auditors' steps
(:mod:`access_policy.steps`) and runner (:mod:`access_policy.runner`) load them only when used.
Nor SQLAlchemy: the row filters as SQL (:mod:`access_policy.rows`) load when first asked for,
so `tietotie policy matrix` does not spend 0.2 s importing a database toolkit it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from access_policy.masking import MASKED_TEXT, TokenFunction, bucket, mask_value, masked
from access_policy.matrix import MatrixFormat, export_matrix, matrix_document, write_matrix
from access_policy.models import (
    Action,
    DecideRequest,
    DecideResponse,
    Decision,
    DecisionEvent,
    DecisionSink,
    MaskedValue,
    MatrixRow,
)
from access_policy.service import (
    Grant,
    Policy,
    check_purpose,
    compile_policy,
    policy_for,
    view_record,
)

if TYPE_CHECKING:
    from access_policy.rows import ColumnResolver, condition_sql, row_filter_sql
    from access_policy.runner import CheckReport, ScenarioResult, run_checks

__all__ = [
    "MASKED_TEXT",
    "Action",
    "CheckReport",
    "ColumnResolver",
    "DecideRequest",
    "DecideResponse",
    "Decision",
    "DecisionEvent",
    "DecisionSink",
    "Grant",
    "MaskedValue",
    "MatrixFormat",
    "MatrixRow",
    "Policy",
    "ScenarioResult",
    "TokenFunction",
    "bucket",
    "check_purpose",
    "compile_policy",
    "condition_sql",
    "export_matrix",
    "mask_value",
    "masked",
    "matrix_document",
    "policy_for",
    "row_filter_sql",
    "run_checks",
    "view_record",
    "write_matrix",
]

_LAZY = {
    "CheckReport": "runner",
    "ScenarioResult": "runner",
    "run_checks": "runner",
    "ColumnResolver": "rows",
    "condition_sql": "rows",
    "row_filter_sql": "rows",
}


def __getattr__(name: str) -> Any:
    """Load the pytest-based runner, or the SQLAlchemy-based row filters, only when one of
    their names is asked for."""
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(f"access_policy.{module}"), name)
    raise AttributeError(f"module 'access_policy' has no attribute {name!r}")
