"""The master key and the keyring of versioned data keys it wraps (DESIGN §7).

Key hierarchy::

    master key (32 bytes: TIETOTIE_MASTER_KEY, or a key file only its owner can read)
    └── keyring KEK = HKDF(master, "tietotie/v1/keyring-kek")
        └── data key v1, v2, … (random 32 bytes each, AES-256-GCM-wrapped in keyring.json)
            ├── HKDF(data key, "tietotie/v1/hmac/<domain>")  hmac token key of a domain
            ├── HKDF(data key, "tietotie/v1/siv/<domain>")   AES-SIV key of a domain
            ├── HKDF(data key, "tietotie/v1/tag/<domain>")   the domain tag in tokens
            └── HKDF(data key, "tietotie/v1/subject-kek")    wraps per-subject keys

Keyring file (JSON, mode 0600, replaced atomically, ``keys rotate`` holds a lock)::

    {"format": "tietotie-keyring/1", "master_check": "<16 hex>", "current": 2,
     "versions": [{"version": 1, "created_at": "2026-01-01T00:00:00Z",
                   "wrapped_key": "<base64: nonce(12) || AES-GCM(data key) || tag(16)>"}, …]}

Each wrapped key is bound to its version number as associated data, so versions cannot be
swapped in the file. ``master_check`` is a key check value (an HKDF output, not the key): it tells
"this keyring belongs to another master key" apart from a damaged file. Raw key bytes never leave
this module: other modules get HKDF-derived subkeys through :meth:`Keyring.derive`, and no
``repr``, log line or error message holds key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel.errors import KeyConfigError
from kernel.files import PRIVATE_FILE_MODE, atomic_path, describe_os_error, private_directory

if sys.platform != "win32":
    import fcntl

__all__ = [
    "KEY_BYTES",
    "KeyVersion",
    "Keyring",
    "MasterKey",
    "generate_master_key",
    "load_master_key",
    "write_master_key_file",
]

_log = logging.getLogger(__name__)

KEY_BYTES = 32
"""Length of the master key and of every data key: AES-256."""

_KEYRING_FORMAT = "tietotie-keyring/1"
_INFO_PREFIX = b"tietotie/v1/"
_WRAP_AD_PREFIX = b"tietotie/keyring/v1/data-key/"
_NONCE_BYTES = 12
_RELOAD_INTERVAL = 1.0  # seconds; tokens naming unknown versions must not make us re-read per token

# Values people leave in config files instead of a key. Compared case-insensitively.
_PLACEHOLDER_WORDS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "changeit",
        "replace-me",
        "replaceme",
        "placeholder",
        "secret",
        "password",
        "default",
        "example",
        "dummy",
        "test",
        "todo",
        "none",
        "null",
    }
)
# One character repeated ("xxxx", "0000"), a template slot ("<key>", "${KEY}"), or an ellipsis.
_PLACEHOLDER_PATTERN = re.compile(r"(.)\1*|<.*>|\$\{.*\}|\.\.\.", re.DOTALL)
# Words that give a made-up value away, searched in a value that is not a key anyway (and in
# the text a base64 value decodes to), only to say why it is refused.
_PLACEHOLDER_HINT = re.compile(
    r"change.?(me|it)|replace.?me|placeholder|example|dummy|secret|passw(or)?d|insecure|"
    r"your.?key|master.?key|todo|fixme|sample|test",
    re.IGNORECASE,
)
# Words of eight or more letters searched inside a base64 value that does decode to 32 bytes:
# "TIETOTIEmasterKEYchangeME..." decodes to bytes that look random, but was typed by a person.
# A random key holds one of these by chance less than once in 10^9 (about 3 * 10^-10).
_TYPED_WORDS = re.compile(
    r"change.?(me|it)|replace.?me|placeholder|password|insecure|master.?key|secret.?key|tietotie",
    re.IGNORECASE,
)
_HEX_KEY = re.compile(r"(0x)?[0-9a-f]{64}", re.IGNORECASE)
# Bytes a typed phrase is made of: printable ASCII, tab, newline, carriage return, NUL padding.
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x00, 0x09, 0x0A, 0x0D}
_MAKE_A_KEY = (
    "make a real key: `tietotie keys init --generate-master-key` writes a key file, "
    "`tietotie keys generate` prints one for the variable"
)


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(key)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode_key(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; ``binascii.Error`` if it is neither."""
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned, validate=True)


def _is_development(environment: str) -> bool:
    return str(environment).strip().lower() == "development"


def _placeholder_reason(text: str) -> str | None:
    """Why ``text`` is not a real master key, or ``None`` if it is 32 bytes that look random.

    A master key is 32 bytes from a cryptographic random generator, in base64. Refused:

    - an empty value, a placeholder word (``change-me``, ``secret``…), one character repeated,
      a template slot (``<key>``, ``${KEY}``) or ``...``;
    - a value that is not base64 (a hex key is named as such), or decodes to other than 32 bytes;
    - a value that decodes to text: at least 30 of its bytes printable ASCII, whitespace or NUL
      (the base64 of a phrase such as "this is a placeholder key…"; a random key is that
      text-like about once in 10^10);
    - low-entropy bytes: fewer than 16 distinct byte values, a repeating block, or fewer than
      16 distinct steps between neighbouring bytes (counting ``00 01 02…``); each happens to a
      random key less than once in 10^15;
    - base64 text a person typed: fewer than 18 distinct symbols in it (random keys use about
      31; fewer than 18 happens about once in 10^10) or a long placeholder word inside it
      (``…changeme…``, ``…masterkey…``; about once in 10^9).

    Together they refuse a generated key less than once in 10^9, and
    :func:`generate_master_key` draws again in that case, so its keys always pass. The reason
    never quotes the value.
    """
    stripped = text.strip()
    if not stripped:
        return "it is empty"
    if stripped.lower() in _PLACEHOLDER_WORDS or _PLACEHOLDER_PATTERN.fullmatch(stripped):
        return "it is a placeholder, not a key"
    if _HEX_KEY.fullmatch(stripped):
        return "it is hex; a master key is 32 random bytes in base64, not hex"
    try:
        raw = _b64decode_key(stripped)
    except (binascii.Error, ValueError):
        if _PLACEHOLDER_HINT.search(stripped):
            return "it is a placeholder phrase, not a key"
        return "it is not base64"
    # A phrase: at least 15 of every 16 bytes are text (30 of 32).
    phrase = bool(raw) and 16 * sum(byte in _TEXT_BYTES for byte in raw) >= 15 * len(raw)
    if phrase and _PLACEHOLDER_HINT.search(raw.decode("latin-1")):
        return "it is the base64 of a placeholder phrase, not a key"
    if len(raw) != KEY_BYTES:
        what = f"{len(raw)} bytes of text" if phrase else f"{len(raw)} bytes"
        return f"it decodes to {what}; a master key is {KEY_BYTES} random bytes"
    return _weakness(raw, "".join(stripped.split()).rstrip("="), phrase=phrase)


def _weakness(raw: bytes, encoded: str, *, phrase: bool) -> str | None:
    """Why 32 decoded bytes (and the base64 they came from) were not drawn at random, if so."""
    steps = {(b - a) % 256 for a, b in itertools.pairwise(raw)}
    if len(set(raw)) < 16 or len(steps) < 16:
        return "its bytes are not random (too few distinct values, or a counting pattern)"
    if any(raw == (raw[:period] * KEY_BYTES)[:KEY_BYTES] for period in range(1, 17)):
        return "its bytes are not random (a block repeated)"
    if phrase:
        return "it decodes to text (a phrase), not to random bytes"
    if len(set(encoded)) < 18 or _TYPED_WORDS.search(encoded):
        return "it is typed text that happens to be base64, not random bytes"
    return None


@final
class MasterKey:
    """The 32-byte root key. Its bytes stay private: ``repr`` shows only source and check value."""

    __slots__ = ("_key", "source")

    def __init__(self, key: bytes, *, source: str) -> None:
        if len(key) != KEY_BYTES:
            raise KeyConfigError(
                f"a master key is {KEY_BYTES} bytes, not {len(key)}", source=source
            )
        self._key = bytes(key)
        self.source = source
        """Where the key came from (an environment variable's name or a file path)."""

    @property
    def check_value(self) -> str:
        """A key check value: 16 hex digits of a one-way derivation, safe to show and log."""
        return _hkdf(self._key, _INFO_PREFIX + b"master-check", 8).hex()

    def _derive(self, purpose: bytes, length: int = KEY_BYTES) -> bytes:
        return _hkdf(self._key, _INFO_PREFIX + purpose, length)

    def __repr__(self) -> str:
        return f"MasterKey(source={self.source!r}, check={self.check_value})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a master key cannot be pickled or copied out of the process")


def generate_master_key() -> str:
    """A fresh random master key, base64-encoded, for ``TIETOTIE_MASTER_KEY`` or a key file.

    It always passes the weak-key rules of :func:`load_master_key`: the rare draw they would
    refuse (less than once in 10^9) is drawn again.
    """
    while True:
        encoded = _b64encode(secrets.token_bytes(KEY_BYTES))
        if _placeholder_reason(encoded) is None:
            return encoded


def write_master_key_file(path: Path) -> MasterKey:
    """Create ``path`` holding a fresh master key, mode 0600; refuse to overwrite a file."""
    path = Path(path)
    _private_parent(path)
    encoded = generate_master_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        raise KeyConfigError(
            f"master key file {path} already exists; refusing to overwrite it",
            file=str(path),
        ) from None
    try:
        if os.name == "posix":
            os.fchmod(fd, PRIVATE_FILE_MODE)  # exactly 0600, whatever the umask
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(encoded + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return MasterKey(_b64decode_key(encoded), source=str(path))


def _private_parent(path: Path) -> None:
    """Create the missing directories above a key file or keyring, mode 0700."""
    try:
        private_directory(path.parent, tighten=False)
    except OSError as exc:
        raise KeyConfigError(
            f"cannot create the directory of {path}: {describe_os_error(exc)}", file=str(path)
        ) from None


def _check_key_file_mode(path: Path) -> None:
    if os.name != "posix":
        return  # Windows has ACLs, not mode bits; its default keeps user files private.
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyConfigError(
            f"master key file {path} can be read by others (mode {mode & 0o777:o}); "
            f"run `chmod 600 {path}` so that only its owner can read it",
            file=str(path),
        )


def _read_key_file(path: Path, *, development: bool) -> MasterKey:
    if not path.is_file():
        raise KeyConfigError(f"master key file {path} is not a regular file", file=str(path))
    _check_key_file_mode(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(
            f"cannot read master key file {path}: {type(exc).__name__}", file=str(path)
        ) from None
    reason = _placeholder_reason(text)
    if reason is not None:
        hint = (
            "delete it to have a development key created"
            if development
            else f"{_MAKE_A_KEY} (move this file away first)"
        )
        raise KeyConfigError(
            f"master key file {path} does not hold a usable key: {reason}; {hint}",
            file=str(path),
        )
    return MasterKey(_b64decode_key(text), source=str(path))


def load_master_key(
    *,
    value: str | None,
    key_file: Path | None,
    environment: str,
    value_name: str = "TIETOTIE_MASTER_KEY",
    create: bool = True,
) -> MasterKey:
    """The master key from an explicit base64 ``value`` or else from ``key_file``.

    Outside development (``environment != "development"``) a missing, placeholder or weak key
    (``change-me``, the base64 of a phrase, all-zero or patterned bytes, too short…; the rules
    are :func:`_placeholder_reason`'s) raises :class:`KeyConfigError` naming the variable or the
    file and how to make a real key; it is never replaced by a new key file. In development a
    placeholder value is ignored with a warning and the key file is used instead, created with
    a fresh key, mode 0600, when missing (unless ``create=False``); a placeholder *key file*
    is refused there too. A key file that group or others can read is refused everywhere, with
    the ``chmod`` that fixes it.
    """
    development = _is_development(environment)
    ignored: str | None = None
    if value is not None and value.strip():
        reason = _placeholder_reason(value)
        if reason is None:
            return MasterKey(_b64decode_key(value), source=value_name)
        if not development:
            raise KeyConfigError(
                f"{value_name} is not a usable master key: {reason}. A master key is 32 "
                f"random bytes in base64; {_MAKE_A_KEY}",
                setting=value_name,
                environment=str(environment),
            )
        ignored = f"{value_name} is ignored in development ({reason})"
        _log.warning(
            "%s is not a usable master key (%s); development: using the key file %s instead",
            value_name,
            reason,
            key_file,
        )
    if key_file is None:
        raise KeyConfigError(
            f"no master key: set {value_name} or configure a key file",
            environment=str(environment),
        )
    key_file = Path(key_file)
    if key_file.exists():
        return _read_key_file(key_file, development=development)
    if not development or not create:
        unset = ignored if ignored is not None else f"{value_name} is not set"
        raise KeyConfigError(
            f"no master key: {unset} and {key_file} does not exist; {_MAKE_A_KEY}",
            file=str(key_file),
            environment=str(environment),
        )
    _log.warning("development: creating a new master key file %s", key_file)
    return write_master_key_file(key_file)


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """One data key version as shown to people: never the key itself."""

    version: int
    created_at: datetime
    current: bool


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the keyring between processes (POSIX advisory lock)."""
    if sys.platform == "win32":
        yield
        return
    _private_parent(path)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@final
class Keyring:
    """Versioned data keys, wrapped by the master key; the newest version is current.

    Build one with :meth:`create`, :meth:`load` (files) or :meth:`from_keys` / :meth:`ephemeral`
    (in memory, for tests and benchmarks). Old versions stay forever so that tokens and
    subject keys made under them keep working.
    """

    __slots__ = ("_created", "_current", "_keys", "_last_reload", "_master", "_path")

    def __init__(
        self,
        master: MasterKey,
        keys: Mapping[int, bytes],
        *,
        created: Mapping[int, datetime] | None = None,
        current: int | None = None,
        path: Path | None = None,
    ) -> None:
        if not keys:
            raise KeyConfigError("a keyring needs at least one data key version")
        for version, key in keys.items():
            if version < 1 or len(key) != KEY_BYTES:
                raise KeyConfigError(
                    f"data key version {version} is invalid: versions start at 1 and "
                    f"keys are {KEY_BYTES} bytes"
                )
        self._master = master
        self._keys: dict[int, bytes] = dict(keys)
        now = datetime.now(UTC)
        self._created: dict[int, datetime] = {v: (created or {}).get(v, now) for v in keys}
        self._current = max(keys) if current is None else current
        if self._current not in self._keys:
            raise KeyConfigError(f"current version {self._current} is not in the keyring")
        self._path = path
        self._last_reload = 0.0

    # construction -----------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, master: MasterKey) -> Keyring:
        """Create the keyring file at ``path`` with data key version 1; refuse if it exists."""
        path = Path(path)
        with _locked(path):
            if path.exists():
                raise KeyConfigError(
                    f"keyring {path} already exists; use `tietotie keys rotate` to add a version",
                    file=str(path),
                )
            keyring = cls(master, {1: secrets.token_bytes(KEY_BYTES)}, path=path)
            keyring._save()
        return keyring

    @classmethod
    def load(cls, path: Path, master: MasterKey) -> Keyring:
        """Read and unwrap the keyring at ``path`` with ``master``."""
        path = Path(path)
        keys, created, current = _read_keyring(path, master)
        return cls(master, keys, created=created, current=current, path=path)

    @classmethod
    def from_keys(
        cls, master: MasterKey, keys: Mapping[int, bytes], *, current: int | None = None
    ) -> Keyring:
        """An in-memory keyring from known data keys (known-answer tests, migrations)."""
        return cls(master, keys, current=current)

    @classmethod
    def ephemeral(cls) -> Keyring:
        """A throwaway in-memory keyring with random keys: tests and benchmarks only."""
        master = MasterKey(secrets.token_bytes(KEY_BYTES), source="ephemeral")
        return cls(master, {1: secrets.token_bytes(KEY_BYTES)})

    # state ------------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The keyring file, or ``None`` for an in-memory keyring."""
        return self._path

    @property
    def master(self) -> MasterKey:
        """The master key wrapping this keyring (its ``repr`` shows no key material)."""
        return self._master

    @property
    def current_version(self) -> int:
        """The version new tokens and new subject keys are made under."""
        return self._current

    @property
    def versions(self) -> tuple[KeyVersion, ...]:
        """Every version, oldest first, without key material."""
        return tuple(
            KeyVersion(version=v, created_at=self._created[v], current=v == self._current)
            for v in sorted(self._keys)
        )

    def has_version(self, version: int) -> bool:
        """Whether ``version`` can be used, re-reading the keyring file once if it is unknown."""
        if version in self._keys:
            return True
        if (
            self._path is not None
            and version > self._current
            and time.monotonic() - self._last_reload >= _RELOAD_INTERVAL
        ):
            self.reload()  # another process may have rotated since we loaded
        return version in self._keys

    def derive(self, purpose: str, *, version: int | None = None, length: int = KEY_BYTES) -> bytes:
        """An HKDF-SHA-256 subkey of data key ``version`` (default current) for ``purpose``.

        ``purpose`` names what the subkey is for, as ``area/detail`` (``consent-receipt/ed25519``);
        ``hmac/…``, ``siv/…``, ``tag/…`` and ``subject-kek`` are taken by :mod:`kernel.crypto`
        and :mod:`kernel.keystore`.
        """
        chosen = self._current if version is None else version
        if not self.has_version(chosen):
            raise KeyConfigError(f"data key version {chosen} is not in the keyring")
        return _hkdf(self._keys[chosen], _INFO_PREFIX + purpose.encode("utf-8"), length)

    # changes ----------------------------------------------------------------------------

    def rotate(self) -> int:
        """Add a new random data key version, make it current, save; return its number."""
        if self._path is None:
            return self._add_version()
        with _locked(self._path):
            # Re-read under the lock so a concurrent rotation is never lost.
            self._adopt(_read_keyring(self._path, self._master))
            version = self._add_version()
            self._save()
        return version

    def reload(self) -> None:
        """Re-read the keyring file (after another process rotated)."""
        if self._path is not None:
            self._last_reload = time.monotonic()
            self._adopt(_read_keyring(self._path, self._master))

    def _add_version(self) -> int:
        version = max(self._keys) + 1
        self._keys[version] = secrets.token_bytes(KEY_BYTES)
        self._created[version] = datetime.now(UTC)
        self._current = version
        return version

    def _adopt(self, state: tuple[dict[int, bytes], dict[int, datetime], int]) -> None:
        self._keys, self._created, self._current = state

    def _save(self) -> None:
        assert self._path is not None
        kek = AESGCM(self._master._derive(b"keyring-kek"))
        versions = []
        for version in sorted(self._keys):
            nonce = secrets.token_bytes(_NONCE_BYTES)
            wrapped = nonce + kek.encrypt(nonce, self._keys[version], _wrap_ad(version))
            versions.append(
                {
                    "version": version,
                    "created_at": self._created[version].isoformat().replace("+00:00", "Z"),
                    "wrapped_key": _b64encode(wrapped),
                }
            )
        document = {
            "format": _KEYRING_FORMAT,
            "master_check": self._master.check_value,
            "current": self._current,
            "versions": versions,
        }
        with atomic_path(self._path, mode=0o600) as tmp:
            tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    def __repr__(self) -> str:
        where = str(self._path) if self._path is not None else "in memory"
        return f"Keyring({where}, versions={sorted(self._keys)}, current={self._current})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a keyring cannot be pickled or copied out of the process")


def _wrap_ad(version: int) -> bytes:
    return _WRAP_AD_PREFIX + str(version).encode("ascii")


def _broken(path: Path, why: str) -> KeyConfigError:
    return KeyConfigError(f"keyring {path} is damaged: {why}", file=str(path))


def _read_keyring(
    path: Path, master: MasterKey
) -> tuple[dict[int, bytes], dict[int, datetime], int]:
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyConfigError(
            f"no keyring at {path}; run `tietotie keys init` first", file=str(path)
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _broken(path, type(exc).__name__) from None
    if not isinstance(document, dict) or document.get("format") != _KEYRING_FORMAT:
        raise _broken(path, f"it is not a {_KEYRING_FORMAT} document")
    if document.get("master_check") != master.check_value:
        raise KeyConfigError(
            f"keyring {path} was made under a different master key (check value "
            f"{document.get('master_check')!s}, this key has {master.check_value})",
            file=str(path),
        )
    kek = AESGCM(master._derive(b"keyring-kek"))
    keys: dict[int, bytes] = {}
    created: dict[int, datetime] = {}
    try:
        for entry in document["versions"]:
            version = int(entry["version"])
            wrapped = base64.b64decode(entry["wrapped_key"], validate=True)
            nonce, body = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
            keys[version] = kek.decrypt(nonce, body, _wrap_ad(version))
            created[version] = datetime.fromisoformat(entry["created_at"])
        current = int(document["current"])
    except InvalidTag:
        raise _broken(path, "a wrapped data key does not authenticate") from None
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _broken(path, f"{type(exc).__name__} in its versions") from None
    if current not in keys:
        raise _broken(path, f"current version {current} has no key")
    return keys, created, current
