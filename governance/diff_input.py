"""The two sides of a strategy review: a directory or file, or a git revision of one.

A side is written as ``PATH`` (a strategy directory or single file on disk) or ``REV:PATH``
(the strategy at ``PATH`` in git revision ``REV``: ``HEAD~1:strategy``, ``main:strategy``,
``v1.2:strategy/``), the syntax of ``git show``: ``PATH`` is from the repository's root, or
from the current directory when it starts with ``./``. A name that exists on disk is always a
path. A revision is read with ``git ls-tree`` and ``git cat-file`` into a temporary directory,
which is removed afterwards; the working tree is never touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kernel.errors import TietotieError
from schemas.loader import MAX_FILE_BYTES

__all__ = ["DiffInputError", "SideSource", "open_side"]

_GIT_TIMEOUT_SECONDS: Final = 60
_SUFFIXES: Final = (".yaml", ".yml")


class DiffInputError(TietotieError):
    """A side of a strategy review cannot be read: no such path, revision or repository."""

    code = "diff_input"
    status = 400


@dataclass(frozen=True)
class SideSource:
    """One side, readable on disk at ``path`` for as long as its context is open."""

    side: str
    """OLD or NEW."""
    spec: str
    """What the user wrote."""
    path: Path
    commit: str | None = None
    """The commit a git side was read from (abbreviated), else ``None``."""

    @property
    def label(self) -> str:
        """How the review names this side: ``strategy`` or ``HEAD~1:strategy (3f2a1bc)``."""
        return f"{self.spec} ({self.commit})" if self.commit else self.spec

    def shown(self, text: str) -> str:
        """``text`` with the temporary directory of a git side replaced by what the user wrote."""
        if self.commit is None:
            return text
        base = self.spec.rstrip("/")
        joined = base if base.endswith(":") else base + "/"
        return text.replace(f"{self.path}/", joined).replace(str(self.path), base)


def _fail(side: str, spec: str, what: str) -> DiffInputError:
    return DiffInputError(f"{side} ({spec}): {what}", side=side, spec=spec)


def _git(args: list[str], *, cwd: Path, side: str, spec: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(  # noqa: S603 - fixed program, arguments are not a shell line
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=cwd,
            capture_output=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except FileNotFoundError:
        raise _fail(
            side, spec, "reading a git revision needs git, which is not installed or not on PATH"
        ) from None
    except NotADirectoryError:
        raise _fail(side, spec, f"--repo {cwd} is not a directory") from None
    except subprocess.TimeoutExpired:
        raise _fail(side, spec, f"git did not answer within {_GIT_TIMEOUT_SECONDS} s") from None


def _error_text(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def _read_revision(spec: str, *, side: str, repo: Path, into: Path) -> tuple[str, Path]:
    """Write the strategy files of ``REV:PATH`` into ``into``: the commit's short id, and the
    directory or single file to load."""
    rev, _, path = spec.partition(":")
    if not repo.is_dir():
        raise _fail(side, spec, f"--repo {repo} is not a directory; give the repository's path")
    inside = _git(["rev-parse", "--is-inside-work-tree"], cwd=repo, side=side, spec=spec)
    if inside.returncode != 0:
        raise _fail(
            side,
            spec,
            f"{spec!r} names a git revision, but {repo} is not inside a git repository; run "
            "the command in the repository or give --repo DIR (a path on disk is read as a "
            "directory only when it exists)",
        )
    if not rev:
        raise _fail(side, spec, "write the revision before the colon, e.g. HEAD~1:strategy")
    commit = _git(
        ["rev-parse", "--verify", "--quiet", "--short", f"{rev}^{{commit}}"],
        cwd=repo,
        side=side,
        spec=spec,
    )
    if commit.returncode != 0:
        raise _fail(
            side,
            spec,
            f"git knows no revision {rev!r} in {repo}; give a commit, branch or tag "
            "(`git log --oneline` lists them), e.g. HEAD~1:strategy",
        )
    short = commit.stdout.decode().strip()
    kind = _git(["cat-file", "-t", spec], cwd=repo, side=side, spec=spec)
    if kind.returncode != 0:
        raise _fail(
            side,
            spec,
            f"revision {rev} ({short}) has no {path or 'repository root'!r}; the path after "
            "the colon is from the repository's root (or from here when it starts with ./), "
            f"e.g. {rev}:strategy",
        )
    object_kind = kind.stdout.decode().strip()
    if object_kind == "blob":
        target = into / (Path(path).name or "strategy.yaml")
        _write_blob(spec, target, side=side, repo=repo)
        return short, target
    if object_kind != "tree":
        raise _fail(side, spec, f"{spec} is a git {object_kind}, not a directory or a file")
    listing = _git(["ls-tree", "-z", spec], cwd=repo, side=side, spec=spec)
    if listing.returncode != 0:
        raise _fail(side, spec, f"git could not list {spec}: {_error_text(listing)}")
    wrote = 0
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_name = entry.partition(b"\t")
        mode, object_type, sha = meta.decode().split(" ")
        name = raw_name.decode("utf-8", "replace")
        # Only what the loader reads: the regular .yaml files directly in the directory.
        if object_type != "blob" or mode == "120000" or not name.endswith(_SUFFIXES):
            continue
        if "/" in name or name in {".", ".."}:
            continue
        _write_blob(sha, into / name, side=side, repo=repo, shown=f"{spec.rstrip('/')}/{name}")
        wrote += 1
    if not wrote:
        raise _fail(side, spec, f"{spec} ({short}) holds no .yaml files: is it a strategy?")
    return short, into


def _write_blob(obj: str, target: Path, *, side: str, repo: Path, shown: str | None = None) -> None:
    size = _git(["cat-file", "-s", obj], cwd=repo, side=side, spec=shown or obj)
    if size.returncode == 0 and int(size.stdout.decode().strip() or 0) > MAX_FILE_BYTES:
        raise _fail(side, shown or obj, f"larger than {MAX_FILE_BYTES} bytes: not a strategy file")
    blob = _git(["cat-file", "blob", obj], cwd=repo, side=side, spec=shown or obj)
    if blob.returncode != 0:
        raise _fail(side, shown or obj, f"git could not read it: {_error_text(blob)}")
    target.write_bytes(blob.stdout)


@contextlib.contextmanager
def open_side(spec: str, *, side: str, repo: Path | None = None) -> Iterator[SideSource]:
    """The side ``spec`` readable on disk while the context is open.

    ``side`` (OLD or NEW) names the side in errors; ``repo`` is where git revisions are read
    (default: the current directory). Raises :class:`DiffInputError` saying what to do.
    """
    if not spec:
        raise _fail(side, spec, "empty; give a strategy directory, a file, or REV:PATH")
    here = Path(spec)
    if here.exists():
        if not (here.is_dir() or here.is_file()):
            raise _fail(side, spec, "neither a directory nor a file")
        yield SideSource(side=side, spec=spec, path=here)
        return
    if ":" not in spec:
        raise _fail(
            side,
            spec,
            "no such directory or file; give a strategy directory, a single strategy file, or "
            "a git revision of one as REV:PATH (e.g. HEAD~1:strategy)",
        )
    with tempfile.TemporaryDirectory(prefix=f"tietotie-{side.lower()}-") as tmp:
        root = Path(tmp) / "strategy"
        root.mkdir()
        commit, path = _read_revision(spec, side=side, repo=repo or Path.cwd(), into=root)
        yield SideSource(side=side, spec=spec, path=path, commit=commit)
