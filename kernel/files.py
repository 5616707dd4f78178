"""Files tietotie writes: all at once or not at all, and readable by their owner only.

``atomic_path`` writes through a temp file beside the target and ``os.replace``.
``private_directory``, ``private_file`` and ``private_sqlite_file`` give local state (``var/``,
the SQLite database and its ``-wal``/``-shm``/``-journal`` siblings, the keystore) modes 0700
and 0600 whatever the process umask: what tietotie creates is made private from the start, and
what already exists with group or other bits is tightened with a warning. Where the mode cannot
be changed (a file of another user, a shared sticky directory such as ``/tmp``) they raise
``PermissionError`` naming the path, and the caller turns it into its own error. Windows has
ACLs, not mode bits: there these only create what is missing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "SQLITE_SIDECARS",
    "atomic_path",
    "describe_os_error",
    "private_directory",
    "private_file",
    "private_sqlite_file",
]

_log = logging.getLogger(__name__)

PRIVATE_DIR_MODE: Final = 0o700
"""Mode of the directories tietotie keeps state in: only the owner may list or enter them."""

PRIVATE_FILE_MODE: Final = 0o600
"""Mode of the files holding personal data or keys: only the owner may read or write them."""

SQLITE_SIDECARS: Final = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database; they hold its data too. SQLite gives new ones the
database file's own mode (checked on SQLite 3.40), so a private database keeps them private."""

_POSIX: Final = os.name == "posix"
_OTHERS: Final = 0o077


@contextlib.contextmanager
def atomic_path(target: Path, *, mode: int = 0o600) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The caller writes the temporary file however it likes (text, binary, a library's own
    writer) and closes it. When the block ends without an exception the file is fsynced, given
    ``mode`` and renamed over ``target``, so readers see either the old file or the whole new
    one, never half of it. When the block raises, the temporary file is removed and ``target``
    is left as it was. The file is created with mode 0600 from the start, so it is never
    readable by others even for a moment.
    """
    target = Path(target)
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb") as written:
            os.fsync(written.fileno())
        tmp.chmod(mode)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; not every platform can open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _refuse(why: str) -> PermissionError:
    return PermissionError(errno.EPERM, why)


def describe_os_error(exc: OSError) -> str:
    """An ``OSError`` as one sentence: its reason and, when it has one, the path."""
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename else reason


def _tighten(path: Path, info: os.stat_result, private: int, what: str) -> bool:
    """Give an existing ``path`` mode ``private`` if group or others have bits; True if it did."""
    mode = stat.S_IMODE(info.st_mode)
    if not _POSIX or not mode & _OTHERS:
        return False
    if info.st_uid != os.geteuid():
        raise _refuse(
            f"{what} {path} can be read by others (mode {mode:o}) and belongs to another user; "
            f"as its owner run `chmod {private:o} {path}`",
        )
    path.chmod(private)
    _log.warning(
        "%s %s could be read by others (mode %o); it is now %o (owner only)",
        what,
        path,
        mode,
        private,
    )
    return True


def private_directory(path: Path, *, tighten: bool = True) -> Path:
    """Make ``path`` a directory only its owner can enter, creating it (and parents) if missing.

    Every directory this creates gets exactly mode 0700, whatever the umask. An existing
    ``path`` whose group or others have any bit is changed to 0700 with a warning when
    ``tighten`` is true (state directories tietotie owns, such as ``var/``), and left as it is
    otherwise (a directory someone chose to put one file in). A shared sticky directory such
    as ``/tmp`` is never changed: it raises ``PermissionError``, as does one of another user.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it first; it is checked below like any other
        if _POSIX:
            directory.chmod(PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    if tighten:
        if _POSIX and info.st_mode & stat.S_ISVTX and info.st_mode & _OTHERS:
            raise _refuse(
                f"{path} is a shared directory (sticky bit, mode "
                f"{stat.S_IMODE(info.st_mode):o}); keep tietotie's state in a directory of "
                "its own",
            )
        _tighten(path, info, PRIVATE_DIR_MODE, "directory")
    return path


def private_file(path: Path) -> bool:
    """Create ``path`` empty with exactly mode 0600, or tighten an existing one; True if created.

    The file is created with ``O_EXCL`` and mode 0600 in one call, so no other user can open it
    even for a moment; ``fchmod`` then undoes any umask. An existing regular file that group or
    others can read is changed to 0600 with a warning. The directory must exist.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        info = path.stat()
        if stat.S_ISREG(info.st_mode):
            _tighten(path, info, PRIVATE_FILE_MODE, "file")
        return False
    try:
        if _POSIX:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return True


def private_sqlite_file(path: Path) -> bool:
    """Prepare a SQLite database file readable by its owner only; True if it was created.

    Missing parent directories are created 0700; an existing parent is left as it is (it may
    be shared: the file's own mode is what protects it). The database file is created empty
    with mode 0600 before SQLite opens it (SQLite would create it 0644 under the usual umask;
    an empty file is a valid empty database), and the file and any ``-wal``, ``-shm`` or
    ``-journal`` sibling that exist with group or other bits are tightened to 0600.
    """
    path = Path(path)
    private_directory(path.parent, tighten=False)
    created = private_file(path)
    for suffix in SQLITE_SIDECARS:
        sidecar = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            info = sidecar.stat()
            if stat.S_ISREG(info.st_mode):
                _tighten(sidecar, info, PRIVATE_FILE_MODE, "file")
    return created
