"""Findings of `tietotie validate`: what is wrong, where, and what to do about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Finding", "Position", "Severity"]


class Severity(StrEnum):
    """Errors make `validate` exit 1; warnings are shown but do not fail."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a value stands in a YAML file: 1-based line and column."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in the strategy."""

    rule: str
    severity: Severity
    message: str
    hint: str
    position: Position
    step: str = "organisation"
    path: tuple[str | int, ...] = field(default=())
    explains: int = 0
    """How many other findings this one causes; they are not reported (fix this one first)."""

    @property
    def file(self) -> str:
        """The file the finding points at."""
        return self.position.file

    @property
    def line(self) -> int:
        """The 1-based line the finding points at."""
        return self.position.line

    @property
    def column(self) -> int:
        """The 1-based column the finding points at."""
        return self.position.column

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the `--format json` shape)."""
        out = asdict(self)
        out.pop("position")
        out["severity"] = str(self.severity)
        out["path"] = ".".join(str(p) for p in self.path)
        out.update(file=self.file, line=self.line, column=self.column)
        return out
