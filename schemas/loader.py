"""Load a strategy safely from YAML, keeping the file, line and column of every value.

Every problem becomes a :class:`~schemas.findings.Finding` with a position; nothing raises
for bad input. The loader refuses what YAML would otherwise accept silently: duplicate keys,
merge keys, alias expansion bombs, non-UTF-8 bytes and oversized files.
"""

from __future__ import annotations

import difflib
import enum
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from schemas.findings import Finding, Position
from schemas.models import Strategy
from schemas.rules import RULES

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "STEP_FILES",
    "LoadResult",
    "SourceMap",
    "finding",
    "load_strategy",
]

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A strategy file larger than this is refused (a real one is a few hundred KiB at most)."""
MAX_VALUES = 1_000_000
"""Values constructed across all files before alias expansion counts as a bomb."""

STEP_FILES: dict[str, tuple[str, str]] = {
    "controller": ("organisation", "organisation.yaml"),
    "roles": ("organisation", "organisation.yaml"),
    "processors": ("organisation", "organisation.yaml"),
    "goals": ("goal", "1-goal.yaml"),
    "uses": ("use", "2-use.yaml"),
    "questions": ("questions", "3-questions.yaml"),
    "sources": ("sources", "4-sources.yaml"),
    "system": ("system", "5-system.yaml"),
    "reports": ("reporting", "6-reporting.yaml"),
    "activations": ("activation", "7-activation.yaml"),
}
"""Top-level key → (step name, the file it lives in by convention)."""

try:  # libyaml when the wheel has it: composing is several times faster
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover - pure-Python PyYAML
    _Loader = yaml.SafeLoader

Path_ = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where every value of the merged document came from."""

    positions: dict[Path_, Position] = field(default_factory=dict)
    key_positions: dict[Path_, Position] = field(default_factory=dict)
    section_files: dict[str, str] = field(default_factory=dict)
    fallback: str = "strategy"

    def at(self, path: Path_) -> Position:
        """The position of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            pos = self.positions.get(path[:end])
            if pos is not None:
                return pos
        if path and isinstance(path[0], str) and path[0] in self.section_files:
            return Position(self.section_files[path[0]])
        return Position(self.fallback)

    def key_at(self, path: Path_) -> Position:
        """The position of the key that holds ``path`` (for unknown or duplicate keys)."""
        return self.key_positions.get(path) or self.at(path)


@dataclass
class LoadResult:
    """What loading produced: the strategy when its shape is right, and every finding."""

    strategy: Strategy | None
    findings: list[Finding]
    source_map: SourceMap
    files: list[str]

    @property
    def ok(self) -> bool:
        """Whether no finding is an error."""
        return self.strategy is not None and not any(f.severity == "error" for f in self.findings)


def finding(rule_id: str, message: str, position: Position, path: Path_ = (), **kw: Any) -> Finding:
    """Build a finding of a registered rule, with its severity and hint."""
    rule = RULES[rule_id]
    step = STEP_FILES.get(str(path[0]), ("organisation", ""))[0] if path else "organisation"
    return Finding(
        rule=rule.id,
        severity=kw.get("severity", rule.severity),
        message=message,
        hint=kw.get("hint") or rule.hint,
        position=position,
        step=step,
        path=path,
    )


class _AliasBomb(Exception):
    pass


class _Builder:
    """Turns a composed YAML node tree into plain values, recording positions and problems."""

    def __init__(self, loader: yaml.SafeLoader, display: str, budget: list[int]) -> None:
        self.loader = loader
        self.display = display
        self.budget = budget
        self.positions: dict[Path_, Position] = {}
        self.key_positions: dict[Path_, Position] = {}
        self.findings: list[Finding] = []

    def pos(self, node: yaml.Node) -> Position:
        mark = node.start_mark
        return Position(self.display, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise _AliasBomb
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            out = []
            for i, item in enumerate(node.value):
                self.positions[(*path, i)] = self.pos(item)
                out.append(self.build(item, (*path, i)))
            return out
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.findings.append(
                    finding(
                        "yaml-merge-key",
                        "'<<' merge keys are not accepted",
                        self.pos(key_node),
                        path,
                    )
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "":
                self.findings.append(
                    finding("yaml-bad-key", "this key is not plain text", self.pos(key_node), path)
                )
                continue
            key = key_node.value  # the text as written: `no:` stays "no", not False
            if key in out:
                first = self.key_positions[(*path, key)]
                self.findings.append(
                    finding(
                        "yaml-duplicate-key",
                        f"key '{key}' appears again here (first at line {first.line})",
                        self.pos(key_node),
                        (*path, key),
                    )
                )
                continue
            here = (*path, key)
            self.key_positions[here] = self.pos(key_node)
            # a scalar is pointed at where it is written; a block at its key
            scalar = isinstance(value_node, yaml.ScalarNode)
            self.positions[here] = self.pos(value_node if scalar else key_node)
            out[key] = self.build(value_node, (*path, key))
        return out


def _read_text(path: Path, display: str) -> tuple[str | None, list[Finding]]:
    here = Position(display)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [
                finding("file-too-large", f"{size:,} bytes; the limit is {MAX_FILE_BYTES:,}", here)
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [finding("file-unreadable", f"cannot read the file: {exc.strerror}", here)]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [
            finding(
                "not-utf8",
                f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                Position(display, line, column),
            )
        ]


def _parse_file(
    path: Path, display: str, budget: list[int]
) -> tuple[Any, SourceMap, list[Finding]]:
    smap = SourceMap(fallback=display)
    text, problems = _read_text(path, display)
    if text is None:
        return None, smap, problems
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, smap, []
        builder = _Builder(loader, display, budget)
        data = builder.build(node, ())
    except _AliasBomb:
        return (
            None,
            smap,
            [
                finding(
                    "yaml-alias-bomb",
                    f"the document expands into more than {MAX_VALUES:,} values",
                    Position(display),
                )
            ],
        )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(display, mark.line + 1, mark.column + 1) if mark else Position(display)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, smap, [finding("yaml-syntax", problem or "invalid YAML", pos)]
    except yaml.YAMLError as exc:
        return None, smap, [finding("yaml-syntax", str(exc), Position(display))]
    finally:
        loader.dispose()
    smap.positions = builder.positions
    smap.key_positions = builder.key_positions
    return data, smap, builder.findings


def _strategy_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    return []


def load_strategy(path: str | Path) -> LoadResult:
    """Load and validate the shape of a strategy directory or single file.

    Cross-step checks are :func:`schemas.checks.check_strategy`'s job; ``validate`` runs both.
    """
    root = Path(path)
    files = _strategy_files(root)
    smap = SourceMap(fallback=str(root))
    if not files:
        what = "does not exist" if not root.exists() else "holds no .yaml files"
        return LoadResult(
            None, [finding("file-missing", f"{root} {what}", Position(str(root)))], smap, []
        )
    findings: list[Finding] = []
    merged: dict[str, Any] = {}
    budget = [MAX_VALUES]
    for file in files:
        display = str(file)
        data, fmap, problems = _parse_file(file, display, budget)
        findings.extend(problems)
        if data is None or data == {}:
            continue
        if not isinstance(data, dict):
            findings.append(
                finding(
                    "not-a-mapping", f"the top level is a {type(data).__name__}", Position(display)
                )
            )
            continue
        for key, value in data.items():
            if key in merged:
                findings.append(
                    finding(
                        "duplicate-section",
                        f"'{key}' is already declared in {smap.section_files[key]}",
                        fmap.key_positions[(key,)],
                        (key,),
                    )
                )
                continue
            merged[key] = value
            smap.section_files[key] = display
        smap.positions.update(fmap.positions)
        smap.key_positions.update(fmap.key_positions)
    if any(f.severity == "error" for f in findings):
        return LoadResult(None, findings, smap, [str(f) for f in files])
    try:
        strategy = Strategy.model_validate(merged)
    except ValidationError as exc:
        findings.extend(_shape_findings(exc, smap, merged, root))
        return LoadResult(None, findings, smap, [str(f) for f in files])
    return LoadResult(strategy, findings, smap, [str(f) for f in files])


# ── pydantic errors → findings ───────────────────────────────────────────────────────────────


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose keys are found at ``loc`` in the document."""
    cls: type[BaseModel] | None = Strategy
    dict_key_next = False
    for part in loc:
        if cls is None:
            return None
        if isinstance(part, int):
            continue
        if dict_key_next:
            dict_key_next = False
            continue
        fields = {f.alias or name: f for name, f in cls.model_fields.items()}
        info = fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        dict_key_next = typing.get_origin(annotation) is dict
        cls = next(_models_in(annotation), None)
    return cls


def _where(loc: Path_, data: Any) -> str:
    """``loc`` as a reader finds it: list items by their id where they have one
    (``uses[seasonal-reminders].legal_basis``), else by position (``system.access[2].for``)."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            ident = item.get("id") if isinstance(item, dict) else None
            out += f"[{ident}]" if isinstance(ident, str) and ident else f"[{part}]"
            node = item
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out or "the document"


def _key_at(loc: Path_) -> tuple[type[BaseModel] | None, str | None]:
    """The model and the key a location (or a list item under the key) belongs to."""
    end = len(loc)
    while end and isinstance(loc[end - 1], int):
        end -= 1
    if not end:
        return None, None
    return _model_at(loc[: end - 1]), str(loc[end - 1])


def _enum_in(annotation: Any) -> type[enum.Enum] | None:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    for arg in typing.get_args(annotation):
        found = _enum_in(arg)
        if found is not None:
            return found
    return None


def _key_facts(loc: Path_) -> tuple[str, list[str]]:
    """The description of the key at ``loc`` and, for an enum-valued key, its allowed values."""
    model, key = _key_at(loc)
    if model is None or key is None:
        return "", []
    info = next((f for n, f in model.model_fields.items() if (f.alias or n) == key), None)
    if info is None:
        return "", []
    kind = _enum_in(info.annotation)
    return info.description or "", [str(m.value) for m in kind] if kind else []


def _values_hint(values: list[str]) -> str | None:
    return f"Write one of: {', '.join(values)}." if values else None


def _missing_hint(key: str, loc: Path_) -> str:
    description, values = _key_facts(loc)
    hint = f"Add '{key}:'" + (f" ({description.rstrip('.')})" if description else "")
    return hint + (f", one of: {', '.join(values)}." if values else ".")


def _shape_findings(exc: ValidationError, smap: SourceMap, data: Any, root: Path) -> list[Finding]:
    out: list[Finding] = []
    for error in exc.errors():
        loc: Path_ = tuple(p for p in error["loc"] if isinstance(p, int | str))
        kind = error["type"]
        where = _where(loc, data)
        if kind == "extra_forbidden":
            parent = _model_at(loc[:-1])
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"Did you mean '{close[0]}'? " if close else ""
            hint += f"Allowed here: {', '.join(allowed)}." if allowed else RULES["unknown-key"].hint
            out.append(
                finding(
                    "unknown-key",
                    f"'{loc[-1]}' is not a known key at {where}",
                    smap.key_at(loc),
                    loc,
                    hint=hint,
                )
            )
        elif kind == "missing":
            pos = smap.at(loc[:-1])
            if len(loc) == 1:
                expected = STEP_FILES.get(str(loc[0]), ("", "the strategy"))[1]
                pos = Position(str(root / expected) if root.is_dir() else str(root))
            out.append(
                finding(
                    "missing-key",
                    f"'{loc[-1]}' is required at {where}",
                    pos,
                    loc,
                    hint=_missing_hint(str(loc[-1]), loc),
                )
            )
        elif kind == "enum" and not isinstance(error.get("input"), bool):
            values = _key_facts(loc)[1]
            value = error.get("input")
            close = difflib.get_close_matches(str(value), values, n=1)
            tip = f"; did you mean '{close[0]}'?" if close else ""
            out.append(
                finding(
                    "invalid-value",
                    f"{where}: {value!r} is not one of the allowed values{tip}",
                    smap.at(loc),
                    loc,
                    hint=_values_hint(values),
                )
            )
        else:
            message = f"{where}: {error['msg']}"
            value = error.get("input")
            if isinstance(value, bool) and kind in {"string_type", "enum"}:
                message += (
                    f" (YAML read the value as {str(value).lower()}: "
                    "quote words like no, yes, on and off)"
                )
            elif not isinstance(value, dict | list) and value is not None:
                message += f" (got {value!r})"
            values = _key_facts(loc)[1] if kind == "enum" else []
            out.append(
                finding("invalid-value", message, smap.at(loc), loc, hint=_values_hint(values))
            )
    return out
