"""The strategy's declarations: models, loader, cross-step checks and compiled schemas."""

from schemas.checks import check_strategy, validate
from schemas.findings import Finding, Position, Severity
from schemas.loader import LoadResult, load_strategy
from schemas.models import Strategy, StrategyIndex
from schemas.rules import RULES, Rule

__all__ = [
    "RULES",
    "Finding",
    "LoadResult",
    "Position",
    "Rule",
    "Severity",
    "Strategy",
    "StrategyIndex",
    "check_strategy",
    "load_strategy",
    "validate",
]
