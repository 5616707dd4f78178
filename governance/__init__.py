"""The data protection officer's registers beside the record of processing (DESIGN §15):
the breach register (Art. 33 and 34) and the review of a strategy change.

The DPIA screening (Art. 35) needs only the declarations, so it lives in :mod:`schemas.dpia`,
where ``tietotie validate`` can use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.lazy import lazy_exports

if TYPE_CHECKING:
    from governance.breach import get_breach, list_breaches, notify, open_breach, update_breach
    from governance.breach_assessment import Scope, assess, exposure, parse_scopes
    from governance.breach_drafts import authority_draft, breach_json, subjects_draft
    from governance.breach_models import (
        Assessment,
        BreachKind,
        BreachRecord,
        Recipient,
        Risk,
        SupervisoryAuthority,
    )
    from governance.errors import BreachError, BreachNotFound, GovernanceError

# The breach register's public names (Art. 33 and 34); each is imported on first use.
_BREACH = {
    **dict.fromkeys(
        ["get_breach", "list_breaches", "notify", "open_breach", "update_breach"],
        "governance.breach",
    ),
    **dict.fromkeys(
        ["Scope", "assess", "exposure", "parse_scopes"], "governance.breach_assessment"
    ),
    **dict.fromkeys(
        ["authority_draft", "breach_json", "subjects_draft"], "governance.breach_drafts"
    ),
    **dict.fromkeys(
        ["Assessment", "BreachKind", "BreachRecord", "Recipient", "Risk", "SupervisoryAuthority"],
        "governance.breach_models",
    ),
    **dict.fromkeys(["BreachError", "BreachNotFound", "GovernanceError"], "governance.errors"),
}

__all__ = [
    "Assessment",
    "BreachError",
    "BreachKind",
    "BreachNotFound",
    "BreachRecord",
    "GovernanceError",
    "Recipient",
    "Risk",
    "Scope",
    "SupervisoryAuthority",
    "assess",
    "authority_draft",
    "breach_json",
    "exposure",
    "get_breach",
    "list_breaches",
    "notify",
    "open_breach",
    "parse_scopes",
    "subjects_draft",
    "update_breach",
]

__getattr__ = lazy_exports(__name__, _BREACH)
